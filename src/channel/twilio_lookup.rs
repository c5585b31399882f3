//! Looking for what an earlier try may have created, before trying again: Twilio takes no
//! idempotency key and its Message and Call resources do not return the `StatusCallback` (which
//! holds the key), so a match is on what they do return: the addresses, the body of a message,
//! the direction, and a creation time not before the action's. docs/channels.md ("twilio") says
//! what this can and cannot rule out.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use super::super::transport::Attempt;
use super::{TwilioTransport, classify};
use crate::runtime::{Action, ActionKind};

/// The most recent page is enough: the list is newest first and only this contact's are asked.
const PAGE_SIZE: &str = "50";
/// How much earlier than the action's time Twilio's clock may date what this try created.
const CLOCK_SKEW_SECONDS: i64 = 60;

/// One page of `GET …/Messages.json` or `…/Calls.json`.
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    #[serde(default)]
    pub messages: Vec<Resource>,
    #[serde(default)]
    pub calls: Vec<Resource>,
}

/// The fields of a Message or Call resource the match reads.
#[derive(Debug, Default, Deserialize)]
pub struct Resource {
    pub sid: String,
    pub to: Option<String>,
    pub from: Option<String>,
    pub body: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub direction: Option<String>,
    /// RFC 2822, as Twilio writes dates: `Fri, 13 Aug 2010 01:16:24 +0000`.
    pub date_created: Option<String>,
}

impl TwilioTransport {
    /// The sid of what an earlier try of `action` created, if the list shows one. An error is
    /// the attempt to report instead of sending (the look itself failed).
    pub(super) async fn find(&self, action: &Action) -> Result<Option<String>, Attempt> {
        let resource = if action.kind == ActionKind::Call { "Calls.json" } else { "Messages.json" };
        let mut query = vec![("To", self.address(&action.to)), ("PageSize", PAGE_SIZE.to_string())];
        if let Some(from) = self.sender(action) {
            query.push(("From", from));
        }
        let request = self
            .client
            .get(self.url(resource))
            .basic_auth(self.account_sid.expose(), Some(self.auth_token.expose()))
            .query(&query);
        let looked = |reason: String| format!("could not look for an earlier try that may have been sent: {reason}");
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Err(still_maybe_sent(looked(super::super::http::describe(&error)))),
        };
        let status = response.status().as_u16();
        let wait = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = match super::super::http::body_start(response, 1 << 20).await {
            Ok(body) => body,
            Err(error) => return Err(still_maybe_sent(looked(super::super::http::describe(&error)))),
        };
        if !(200..300).contains(&status) {
            return Err(match classify(status, wait.as_deref(), &body) {
                Attempt::Transient { reason, retry_after, .. } => {
                    Attempt::Transient { reason: looked(reason), retry_after, maybe_sent: true }
                }
                Attempt::Refused { reason, .. } => Attempt::refused(looked(reason)),
                Attempt::Accepted { .. } => still_maybe_sent(looked(format!("HTTP {status}"))),
            });
        }
        let page: Page = serde_json::from_str(&body)
            .map_err(|_| still_maybe_sent(looked(format!("HTTP {status} with no list in JSON"))))?;
        let found = page.messages.iter().chain(&page.calls).find(|r| self.is_match(action, r));
        Ok(found.map(|r| r.sid.clone()))
    }

    /// Whether `resource` is what a try of `action` would have created.
    pub fn is_match(&self, action: &Action, resource: &Resource) -> bool {
        let outbound = resource.direction.as_deref().is_none_or(|d| d.starts_with("outbound"));
        let to = same_number(resource.to.as_deref(), &self.address(&action.to));
        let from = match (self.sender(action), &self.messaging_service_sid) {
            (Some(from), _) => same_number(resource.from.as_deref(), &from),
            (None, Some(service)) => resource.messaging_service_sid.as_deref() == Some(service.as_str()),
            (None, None) => false,
        };
        // A trial account's messages start with Twilio's own words before the body.
        let body = action.kind == ActionKind::Call
            || resource.body.as_deref().is_some_and(|b| !action.text.is_empty() && b.ends_with(action.text.as_str()));
        let after = resource
            .date_created
            .as_deref()
            .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
            .is_some_and(|d| d.with_timezone(&Utc) >= action.at - TimeDelta::seconds(CLOCK_SKEW_SECONDS));
        outbound && to && from && body && after
    }
}

/// The look failed: the next try must look again.
fn still_maybe_sent(reason: String) -> Attempt {
    Attempt::Transient { reason, retry_after: None, maybe_sent: true }
}

/// The same address, however it is punctuated: the same channel prefix and the same digits.
fn same_number(got: Option<&str>, want: &str) -> bool {
    let Some(got) = got else { return false };
    let split = |s: &str| match s.strip_prefix("whatsapp:") {
        Some(rest) => (true, digits(rest)),
        None => (false, digits(s)),
    };
    let (got, want) = (split(got), split(want));
    !want.1.is_empty() && got == want
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}
