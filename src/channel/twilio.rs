//! The `twilio` kind: Programmable Messaging (SMS, WhatsApp) and Voice. Not built yet.

use super::transport::{Attempt, Try};
use crate::config::{ChannelConfig, Server, Twilio};
use crate::runtime::Action;

pub struct TwilioTransport {
    name: String,
}

impl TwilioTransport {
    pub fn new(config: &ChannelConfig, _twilio: &Twilio, _server: Option<&Server>) -> Result<TwilioTransport, String> {
        Ok(TwilioTransport { name: config.name.clone() })
    }

    pub async fn attempt(&self, _action: &Action, _t: Try) -> Attempt {
        Attempt::refused(format!("channel `{}`: the twilio kind is not built yet", self.name))
    }

    pub async fn check(&self) -> Result<String, String> {
        Err("the twilio kind is not built yet".into())
    }
}
