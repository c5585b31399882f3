//! Channels: where actions go. The engine hands a channel a batch of recorded actions, each with
//! its idempotency key; the channel answers later (a delivery report, a call's outcome) through
//! `answers`, or at once for what it knows the moment it takes an action (`answer_at_once`).
//! docs/architecture.md ("Channels") says how an asynchronous channel implements this.

pub mod check;
pub mod dispatch;
pub mod file;
mod http;
pub mod log;
pub mod mail;
pub mod memory;
pub mod sign;
pub mod smtp;
pub mod tls;
pub mod transport;
pub mod twilio;
pub mod webhook;
pub mod worker;

use crate::runtime::{Action, Input};

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("channel `{channel}` could not take action {key}: {reason}")]
    Failed { channel: String, key: String, reason: String },
    /// Making what was delivered durable failed: no one action is at fault.
    #[error("channel `{channel}` could not make the actions it took durable: {reason}")]
    Flush { channel: String, reason: String },
    /// A channel of herald.yaml that cannot be used (a bad secret, an outbox that cannot open).
    #[error("channel `{channel}` cannot be used: {reason}")]
    Setup { channel: String, reason: String },
}

/// Who owns a batch once `hand_over` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handed {
    /// The channel took every action durably: the engine marks their keys done now.
    Owned,
    /// The channel is still sending: each action's key settles through an `Answer` with
    /// `settles` set, which the engine stores with the key marked done.
    Later,
}

/// An outcome for an action handed over earlier: the engine gives `input` to the action's lead.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The action's idempotency key (`campaign/contact/step/attempt`).
    pub key: String,
    pub campaign: String,
    pub contact: String,
    /// `Input::Delivery` for a message, `Input::Call` for a call (status, duration, data),
    /// `Input::OptOut` when the provider says the recipient opted out; none when the lead has
    /// nothing to learn (a call the provider took: its outcome comes later).
    pub input: Option<Input>,
    /// When the outcome happened (the lead reads it at that time, or at once when later).
    pub at: chrono::DateTime<chrono::Utc>,
    /// The hand-over of `key` is finished (taken or refused for good): the engine marks it done
    /// in the transaction that stores this answer, and never offers it again.
    pub settles: bool,
    /// Kept in the lead's history: why the channel refused the action.
    pub note: Option<String>,
}

impl Answer {
    /// The answer that ends a hand-over, as of now.
    pub fn settling(action: &Action, input: Option<Input>, note: Option<String>) -> Answer {
        Answer {
            key: action.key.to_string(),
            campaign: action.campaign.to_string(),
            contact: action.contact.to_string(),
            input,
            at: chrono::Utc::now(),
            settles: true,
            note,
        }
    }
}

/// A destination for actions. Handing the same key twice must be harmless: after a crash the
/// engine re-offers actions that were recorded and not marked done, with the same key.
pub trait Channel {
    fn name(&self) -> &str;

    /// Takes a batch of actions, already recorded in the outbox. On `Ok(Handed::Owned)` the
    /// channel owns them (durably: the engine marks their keys done next and never offers them
    /// again); on `Ok(Handed::Later)` each settles later through `answers`. Outcomes come later
    /// through `answers`.
    fn hand_over(&mut self, actions: &[Action]) -> Result<Handed, ChannelError>;

    /// How many more actions `channel` should take now, and how long a lead held back for it
    /// waits; None when it takes any number (it keeps up, or has no rate to pace it).
    fn room(&self, _channel: &str) -> Option<(usize, std::time::Duration)> {
        None
    }

    /// Whether actions on `channel` can be handed over here (herald.yaml defines it).
    fn routes(&self, _channel: &str) -> bool {
        true
    }

    /// Actions recorded before a stop or a crash and not marked done: the channel may have
    /// sent them already, with these keys.
    fn reoffer(&mut self, actions: &[Action]) -> Result<Handed, ChannelError> {
        self.hand_over(actions)
    }

    /// The outcome the channel gives an action the moment it takes it, known before hand-over:
    /// the lead moves on in the same pass that made the action. None: wait for `answers`.
    fn answer_at_once(&self, _action: &Action) -> Option<Input> {
        None
    }

    /// Actions handed over earlier with these keys, not settled yet, must not go out: their
    /// contact opted out meanwhile. Each not tried yet (queued, or waiting to retry) ends unsent
    /// with its settling answer, a failure; one in the middle of a try goes on.
    fn withdraw(&mut self, _keys: &[String]) {}

    /// Outcomes that arrived since the last call. The engine stores them (with the leads they
    /// move) in one durable transaction before it asks again.
    fn answers(&mut self) -> Vec<Answer> {
        Vec::new()
    }
}
