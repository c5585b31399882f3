//! herald.yaml: which kind of channel each channel name of the campaigns is, with its settings,
//! the live server's settings, and the policy across campaigns. docs/channels.md and
//! docs/policy.md are the user's reference.
//!
//! Read with the campaign file's YAML reader, so every problem is reported at its line, all at
//! once; secrets come only from `${ENV_VAR}` and stay inside `Secret`.

pub mod frequency;
mod load;
pub mod policy;
pub mod secret;

use std::path::PathBuf;
use std::time::Duration;

pub use frequency::{Cap, Frequency};
pub use load::{check_channels, load};
pub use policy::{Policy, QuietHours};
pub use secret::Secret;

use crate::source::Span;

/// The whole configuration. With no herald.yaml, every channel is `log` (`Config::default`).
#[derive(Debug, Default)]
pub struct Config {
    pub channels: Vec<ChannelConfig>,
    /// The `channels:` key, where a campaign channel missing from it is reported.
    pub channels_span: Span,
    pub server: Option<Server>,
    /// `policy:`: what holds across every campaign (docs/policy.md).
    pub policy: Policy,
}

impl Config {
    pub fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.name == name)
    }
}

/// One named channel.
#[derive(Debug)]
pub struct ChannelConfig {
    pub name: String,
    /// Where its entry is in herald.yaml.
    pub span: Span,
    pub kind: Kind,
    /// The provider's limit, across every campaign: at most `rate.count` per `rate.per`.
    pub rate: Option<Rate>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long one request may take before it counts as timed out (and is tried again).
    pub timeout: Duration,
    /// How long transient failures are retried before the action fails.
    pub retry_for: Duration,
    /// The wait after the first transient failure; each later wait doubles (with jitter).
    pub backoff: Duration,
}

#[derive(Debug)]
pub enum Kind {
    Log { outbox: Option<PathBuf> },
    Webhook(Webhook),
    Twilio(Twilio),
    Smtp(Smtp),
}

impl Kind {
    pub fn word(&self) -> &'static str {
        match self {
            Kind::Log { .. } => "log",
            Kind::Webhook(_) => "webhook",
            Kind::Twilio(_) => "twilio",
            Kind::Smtp(_) => "smtp",
        }
    }
}

pub const KINDS: &[&str] = &["log", "webhook", "twilio", "smtp"];

#[derive(Debug)]
pub struct Webhook {
    pub url: Secret,
    /// Standard Webhooks signing secret (`whsec_…` or base64); none sends unsigned.
    pub secret: Option<Secret>,
    /// Extra request headers (an API key a relay wants), values may hold `${VAR}`.
    pub headers: Vec<(String, Secret)>,
}

#[derive(Debug)]
pub struct Twilio {
    pub account_sid: Secret,
    pub auth_token: Secret,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub whatsapp: bool,
    /// `https://api.twilio.com` unless set (tests point it at a local server).
    pub base_url: String,
    /// Where Twilio posts status callbacks; defaults to `server.public_url` + `/twilio/status`.
    pub status_callback: Option<String>,
    /// Voice: the TwiML document a call fetches (`Url`), or inline TwiML (`Twiml`).
    pub voice_url: Option<String>,
    pub twiml: Option<String>,
}

#[derive(Debug)]
pub struct Smtp {
    /// `smtp://` (STARTTLS), `smtps://` (implicit TLS), user and password in it; `?tls=none`
    /// only for loopback.
    pub url: Secret,
    pub from: String,
    pub reply_to: Option<String>,
    /// Base URL of the one-click unsubscribe endpoint; each contact gets its own token.
    pub unsubscribe: Option<String>,
    /// A PEM file of root certificates to trust besides the system's (a private CA).
    pub ca_file: Option<std::path::PathBuf>,
}

#[derive(Debug)]
pub struct Server {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub secret: Option<Secret>,
    /// What Vapi sends as `x-vapi-secret` (its server URL secret).
    pub vapi_secret: Option<Secret>,
    /// Retell signs its webhooks with the account's API key.
    pub retell_api_key: Option<Secret>,
    /// Bland's webhook signing secret.
    pub bland_secret: Option<Secret>,
}

/// `N/s`, `N/m` or `N/h`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    pub fn parse(text: &str) -> Option<Rate> {
        let (count, unit) = text.trim().split_once('/')?;
        let count: u32 = count.trim().parse().ok().filter(|n| *n > 0)?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return None,
        };
        Some(Rate { count, per })
    }

    /// The time between two requests at this rate.
    pub fn interval(self) -> Duration {
        self.per / self.count
    }
}

#[cfg(test)]
mod tests;
