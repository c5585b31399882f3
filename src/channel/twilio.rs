//! The `twilio` kind: Programmable Messaging (SMS, WhatsApp) and Voice over Twilio's 2010-04-01
//! REST API, one form-encoded `POST` per try with HTTP Basic auth. Twilio has no idempotency key
//! for creates, so a try that follows one whose answer was lost looks first (`twilio_lookup.rs`);
//! docs/channels.md ("twilio") says what that can and cannot rule out.

#[path = "twilio_lookup.rs"]
mod lookup;

use serde::Deserialize;

use super::transport::{Attempt, Try, excerpt, retry_after};
use crate::config::{ChannelConfig, Secret, Server, Twilio};
use crate::runtime::{Action, ActionKind};

/// Twilio's error for a recipient who replied STOP: the contact has opted out.
const UNSUBSCRIBED: u64 = 21610;
/// Twilio's "Too Many Requests": worth another try later.
const TOO_MANY_REQUESTS: u64 = 20429;

pub struct TwilioTransport {
    client: reqwest::Client,
    account_sid: Secret,
    auth_token: Secret,
    base_url: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    whatsapp: bool,
    status_callback: Option<String>,
    voice_url: Option<String>,
    twiml: Option<String>,
}

/// Twilio's error body: `{code, message, more_info, status}`.
#[derive(Debug, Default, Deserialize)]
struct ApiError {
    code: Option<u64>,
    message: Option<String>,
}

impl TwilioTransport {
    pub fn new(config: &ChannelConfig, twilio: &Twilio, server: Option<&Server>) -> Result<TwilioTransport, String> {
        let client = super::http::client(config)?;
        let status_callback = twilio.status_callback.clone().or_else(|| {
            server.and_then(|s| s.public_url.as_deref()).map(|u| format!("{}/twilio/status", u.trim_end_matches('/')))
        });
        Ok(TwilioTransport {
            client,
            account_sid: twilio.account_sid.clone(),
            auth_token: twilio.auth_token.clone(),
            base_url: twilio.base_url.trim_end_matches('/').to_string(),
            from: twilio.from.clone(),
            messaging_service_sid: twilio.messaging_service_sid.clone(),
            whatsapp: twilio.whatsapp,
            status_callback,
            voice_url: twilio.voice_url.clone(),
            twiml: twilio.twiml.clone(),
        })
    }

    /// `{base_url}/2010-04-01/Accounts/{sid}/{resource}`.
    fn url(&self, resource: &str) -> String {
        format!("{}/2010-04-01/Accounts/{}/{resource}", self.base_url, self.account_sid.expose())
    }

    /// A WhatsApp channel's addresses carry the `whatsapp:` prefix.
    fn address(&self, number: &str) -> String {
        if self.whatsapp && !number.starts_with("whatsapp:") {
            format!("whatsapp:{number}")
        } else {
            number.to_string()
        }
    }

    /// The sender: the step's `from`, else the channel's.
    fn sender(&self, action: &Action) -> Option<String> {
        action.from.as_deref().or(self.from.as_deref()).map(|f| self.address(f))
    }

    /// The status callback URL with the idempotency key in its query, so that Twilio's reports
    /// come back to the right lead.
    pub fn callback(&self, key: &str) -> Option<String> {
        let base = self.status_callback.as_deref()?;
        let join = if base.contains('?') { '&' } else { '?' };
        Some(format!("{base}{join}key={}", percent_encode(key)))
    }

    /// The form of `POST …/Messages.json`.
    pub fn message_form(&self, action: &Action) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", self.address(&action.to))];
        if let Some(from) = self.sender(action) {
            form.push(("From", from));
        }
        if let Some(service) = &self.messaging_service_sid {
            form.push(("MessagingServiceSid", service.clone()));
        }
        form.push(("Body", action.text.to_string()));
        if let Some(url) = self.callback(&action.key) {
            form.push(("StatusCallback", url));
        }
        form
    }

    /// The form of `POST …/Calls.json`; the reason when the channel cannot place this call.
    pub fn call_form(&self, action: &Action) -> Result<Vec<(&'static str, String)>, String> {
        let from = self.sender(action).ok_or("a call needs a `from` number (the step's or the channel's)")?;
        let mut form = vec![("To", self.address(&action.to)), ("From", from)];
        match (&self.voice_url, &self.twiml) {
            (Some(url), _) => form.push(("Url", url.clone())),
            (None, Some(twiml)) => form.push(("Twiml", twiml.clone())),
            (None, None) => return Err("the channel has neither `voice_url` nor `twiml` for calls".into()),
        }
        if let Some(url) = self.callback(&action.key) {
            form.push(("StatusCallback", url));
            form.push(("StatusCallbackEvent", "completed".into()));
        }
        if action.voicemail.is_some() {
            form.push(("MachineDetection", "Enable".into()));
        }
        if let Some(seconds) = action.max_duration {
            form.push(("TimeLimit", seconds.max(1).to_string()));
        }
        Ok(form)
    }

    pub async fn attempt(&self, action: &Action, t: Try) -> Attempt {
        if t.maybe_sent {
            match self.find(action).await {
                Ok(Some(sid)) => return Attempt::Accepted { id: Some(sid) },
                Ok(None) => {}
                Err(attempt) => return attempt,
            }
        }
        let (resource, form) = match action.kind {
            ActionKind::Send => ("Messages.json", self.message_form(action)),
            ActionKind::Call => match self.call_form(action) {
                Ok(form) => ("Calls.json", form),
                Err(reason) => return Attempt::refused(reason),
            },
        };
        let request = self
            .client
            .post(self.url(resource))
            .basic_auth(self.account_sid.expose(), Some(self.auth_token.expose()))
            .form(&form);
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return super::http::failed(&error),
        };
        let status = response.status().as_u16();
        let wait = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        match super::http::body_start(response, super::http::ANSWER_LIMIT).await {
            Ok(body) => classify(status, wait.as_deref(), &body),
            // The status line came back: Twilio answered, only the body was cut.
            Err(_) if (200..300).contains(&status) => Attempt::Accepted { id: None },
            Err(error) => super::http::failed(&error),
        }
    }

    /// Fetches the account (`GET /2010-04-01/Accounts/{sid}.json`): sends nothing.
    pub async fn check(&self) -> Result<String, String> {
        let url = format!("{}/2010-04-01/Accounts/{}.json", self.base_url, self.account_sid.expose());
        let request = self.client.get(url).basic_auth(self.account_sid.expose(), Some(self.auth_token.expose()));
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return Err(format!(
                    "Twilio at {} cannot be reached: {}",
                    self.base_url,
                    super::http::describe(&error)
                ));
            }
        };
        let status = response.status().as_u16();
        let body = super::http::body_start(response, super::http::ANSWER_LIMIT).await.unwrap_or_default();
        if status == 401 {
            return Err("Twilio refused the credentials (HTTP 401): the account_sid or auth_token is wrong".into());
        }
        if !(200..300).contains(&status) {
            return Err(format!("Twilio answered the account fetch with {}", refusal(status, &body)));
        }
        #[derive(Deserialize)]
        struct Account {
            friendly_name: Option<String>,
            status: Option<String>,
        }
        let account: Account = serde_json::from_str(&body)
            .map_err(|_| format!("Twilio answered the account fetch with HTTP {status} but no account in JSON"))?;
        let name = account.friendly_name.unwrap_or_else(|| "(no name)".into());
        let state = account.status.unwrap_or_else(|| "unknown".into());
        if state == "active" {
            Ok(format!("account {name} ({state})"))
        } else {
            Err(format!("account {name} ({state}): Twilio sends only from an active account"))
        }
    }
}

/// What an answer to a create means, as Twilio documents its status codes and error codes.
pub fn classify(status: u16, retry_after_header: Option<&str>, body: &str) -> Attempt {
    if (200..300).contains(&status) {
        return Attempt::Accepted { id: sid(body) };
    }
    let error: ApiError = serde_json::from_str(body).unwrap_or_default();
    let reason = refusal(status, body);
    match error.code {
        Some(UNSUBSCRIBED) => return Attempt::Refused { reason, opt_out: true },
        Some(TOO_MANY_REQUESTS) => return too_many(reason, retry_after_header),
        _ => {}
    }
    match status {
        429 => too_many(reason, retry_after_header),
        // A gateway error may come after Twilio created the message: look before the next try.
        408 | 500..=599 => {
            Attempt::Transient { reason, retry_after: retry_after(retry_after_header), maybe_sent: true }
        }
        _ => Attempt::refused(reason),
    }
}

/// Rate limited: nothing was created.
fn too_many(reason: String, retry_after_header: Option<&str>) -> Attempt {
    Attempt::Transient { reason, retry_after: retry_after(retry_after_header), maybe_sent: false }
}

/// `Twilio <code>: <message>`, or the status and the start of a body that is not Twilio's JSON.
fn refusal(status: u16, body: &str) -> String {
    match serde_json::from_str::<ApiError>(body) {
        Ok(ApiError { code: Some(code), message }) => {
            format!("Twilio {code}: {}", excerpt(message.as_deref().unwrap_or("(no message)")))
        }
        Ok(ApiError { code: None, message: Some(message) }) => format!("HTTP {status}: {}", excerpt(&message)),
        _ => format!("HTTP {status}: {}", excerpt(body)),
    }
}

/// The `sid` of a created message or call.
fn sid(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value.get("sid")?.as_str().map(str::to_string)
}

/// Percent-encoding for a query value: everything but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[path = "twilio_tests.rs"]
mod tests;
