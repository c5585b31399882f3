//! Channels: where actions go. The engine hands a channel a batch of recorded actions, each with
//! its idempotency key; the channel answers later (a delivery report, a call's outcome) through
//! `answers`, or at once for what it knows the moment it takes an action (`answer_at_once`).
//! docs/architecture.md ("Channels") says how an asynchronous channel implements this.

pub mod file;
pub mod log;
pub mod memory;

use crate::runtime::{Action, Input};

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("channel `{channel}` could not take action {key}: {reason}")]
    Failed { channel: String, key: String, reason: String },
    /// Making what was delivered durable failed: no one action is at fault.
    #[error("channel `{channel}` could not make the actions it took durable: {reason}")]
    Flush { channel: String, reason: String },
}

/// An outcome for an action handed over earlier: the engine gives `input` to the action's lead.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The action's idempotency key (`campaign/contact/step/attempt`).
    pub key: String,
    pub campaign: String,
    pub contact: String,
    /// `Input::Delivery` for a message, `Input::Call` for a call (status, duration, data).
    pub input: Input,
    /// When the outcome happened (the lead reads it at that time, or at once when later).
    pub at: chrono::DateTime<chrono::Utc>,
}

/// A destination for actions. Handing the same key twice must be harmless: after a crash the
/// engine re-offers actions that were recorded and not marked done, with the same key.
pub trait Channel {
    fn name(&self) -> &str;

    /// Takes a batch of actions, already recorded in the outbox. On `Ok` the channel owns them
    /// (durably: the engine marks their keys done next and never offers them again); their
    /// outcomes come later through `answers`.
    fn hand_over(&mut self, actions: &[Action]) -> Result<(), ChannelError>;

    /// The outcome the channel gives an action the moment it takes it, known before hand-over:
    /// the lead moves on in the same pass that made the action. None: wait for `answers`.
    fn answer_at_once(&self, _action: &Action) -> Option<Input> {
        None
    }

    /// Outcomes that arrived since the last call. The engine stores them (with the leads they
    /// move) in one durable transaction before it asks again.
    fn answers(&mut self) -> Vec<Answer> {
        Vec::new()
    }
}
