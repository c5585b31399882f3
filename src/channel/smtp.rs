//! The `smtp` kind: email over lettre. Not built yet.

use super::transport::{Attempt, Try};
use crate::config::{ChannelConfig, Smtp};
use crate::runtime::Action;

pub struct SmtpTransport {
    name: String,
}

impl SmtpTransport {
    pub fn new(config: &ChannelConfig, _smtp: &Smtp) -> Result<SmtpTransport, String> {
        Ok(SmtpTransport { name: config.name.clone() })
    }

    pub async fn attempt(&self, _action: &Action, _t: Try) -> Attempt {
        Attempt::refused(format!("channel `{}`: the smtp kind is not built yet", self.name))
    }

    pub async fn check(&self) -> Result<String, String> {
        Err("the smtp kind is not built yet".into())
    }
}
