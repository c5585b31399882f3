//! What one try of handing an action to a provider can end in, and the kinds that make tries.
//! The worker (`worker.rs`) owns retries, rate and concurrency; a transport makes one request.

use std::time::Duration;

use super::{smtp, twilio, webhook};
use crate::config::{ChannelConfig, Kind, Server};
use crate::runtime::Action;

/// How one try ended.
#[derive(Debug, PartialEq)]
pub enum Attempt {
    /// The provider took it (`id`: its own id for it, a message SID or a call id).
    Accepted { id: Option<String> },
    /// Worth trying again with the same key: 408/429/5xx, a timeout, a dropped connection, an
    /// SMTP 4xx. `maybe_sent`: the request may have reached the provider (its answer was lost).
    Transient { reason: String, retry_after: Option<Duration>, maybe_sent: bool },
    /// Refused for good: the action fails with `reason` (the provider's code and message).
    /// `opt_out`: the provider says the recipient opted out (Twilio 21610).
    Refused { reason: String, opt_out: bool },
}

impl Attempt {
    pub fn transient(reason: impl Into<String>) -> Attempt {
        Attempt::Transient { reason: reason.into(), retry_after: None, maybe_sent: false }
    }

    pub fn refused(reason: impl Into<String>) -> Attempt {
        Attempt::Refused { reason: reason.into(), opt_out: false }
    }
}

/// What a transport knows about the try it is making.
#[derive(Clone, Copy, Debug, Default)]
pub struct Try {
    /// 1 for the first try of this process.
    pub number: u32,
    /// An earlier try (of this process, or of one killed before it knew) may have reached the
    /// provider: a transport without idempotency keys looks before sending again.
    pub maybe_sent: bool,
}

/// The kinds that make requests; `log` is written in place by the dispatcher.
pub enum Transport {
    Webhook(webhook::WebhookTransport),
    Twilio(twilio::TwilioTransport),
    Smtp(smtp::SmtpTransport),
}

impl Transport {
    /// `None` for `log`. The error says, in words, why the channel cannot be used.
    pub fn build(config: &ChannelConfig, server: Option<&Server>) -> Result<Option<Transport>, String> {
        Ok(Some(match &config.kind {
            Kind::Log { .. } => return Ok(None),
            Kind::Webhook(c) => Transport::Webhook(webhook::WebhookTransport::new(config, c, server)?),
            Kind::Twilio(c) => Transport::Twilio(twilio::TwilioTransport::new(config, c, server)?),
            Kind::Smtp(c) => Transport::Smtp(smtp::SmtpTransport::new(config, c, server)?),
        }))
    }

    pub async fn attempt(&self, action: &Action, t: Try) -> Attempt {
        match self {
            Transport::Webhook(w) => w.attempt(action, t).await,
            Transport::Twilio(tw) => tw.attempt(action, t).await,
            Transport::Smtp(s) => s.attempt(action, t).await,
        }
    }

    /// Reaches the endpoint without sending anything (`herald channels check`); Ok says what
    /// answered.
    pub async fn check(&self) -> Result<String, String> {
        match self {
            Transport::Webhook(w) => w.check().await,
            Transport::Twilio(tw) => tw.check().await,
            Transport::Smtp(s) => s.check().await,
        }
    }
}

/// `Retry-After` as seconds or an HTTP date, capped so a provider cannot park a channel for a day.
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    let value = value?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or_default()
        }
    };
    Some(wait.min(Duration::from_secs(600)))
}

/// The start of a response body for a reason: one line, at most 200 characters, no controls.
pub fn excerpt(body: &str) -> String {
    let line: String = body.chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect();
    line.trim().to_string()
}
