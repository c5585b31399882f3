//! Channels: where actions go. A channel takes an action with its idempotency key and says
//! whether it took it; outcomes (deliveries, call results) may come back later as events.

pub mod file;
pub mod log;

use crate::runtime::Action;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("channel `{channel}` could not take action {key}: {reason}")]
    Failed { channel: String, key: String, reason: String },
    /// Making what was delivered durable failed: no one action is at fault.
    #[error("channel `{channel}` could not make the actions it took durable: {reason}")]
    Flush { channel: String, reason: String },
}

/// A destination for actions. Handing the same key twice must be harmless: after a crash the
/// driver re-offers actions that were recorded and not marked done, with the same key.
pub trait Channel {
    fn name(&self) -> &str;
    fn deliver(&mut self, action: &Action) -> Result<(), ChannelError>;
    /// Make what was delivered durable (the driver marks actions done only after this).
    fn flush(&mut self) -> Result<(), ChannelError>;
}
