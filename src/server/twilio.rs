//! What Twilio posts back (docs/server.md, "Twilio"): inbound messages (`POST /twilio/messages`)
//! and the status callbacks of the messages and calls herald created (`POST /twilio/status`),
//! checked with `X-Twilio-Signature` and read into the engine's arrivals. Pure functions: the
//! HTTP handlers call them with the decoded form.
//!
//! Twilio signs JSON-bodied webhooks differently (a `bodySHA256` query parameter holding the
//! body's hash, and no form parameters in the signature); both endpoints here take forms only.

use chrono::{DateTime, Utc};

use crate::channel::sign::{constant_time_eq, twilio_signature};
use crate::driver::arrival::{Arrival, Item, split_key};
use crate::driver::events::{Inbound, MAX_ID_BYTES, MAX_TEXT_CHARS};
use crate::runtime::Input;
use crate::vocab::{CallOutcome, MessageOutcome};

/// The TwiML answer to an inbound message: nothing to send back (herald replies through its
/// campaigns, not in TwiML).
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// Twilio's error for a recipient who replied STOP to the provider.
const UNSUBSCRIBED: &str = "21610";

/// Whether `signature` (the `X-Twilio-Signature` header) signs this request for one of
/// `auth_tokens` (twilio channels may use different accounts). `url` is `server.public_url` +
/// the request's path and query exactly as Twilio requested them; `params` the decoded form
/// fields (not the query's).
///
/// As Twilio's own SDKs check it: the URL is tried as given, without its port and with the
/// scheme's default port (Twilio has signed both forms), and a repeated name/value pair counts
/// once. An empty token is never tried: anyone could sign with it.
pub fn verify(auth_tokens: &[&str], url: &str, params: &[(String, String)], signature: &str) -> bool {
    let signature = signature.trim();
    if signature.is_empty() {
        return false;
    }
    let mut params = params.to_vec();
    params.sort();
    params.dedup();
    let urls = url_forms(url);
    let mut valid = false;
    for token in auth_tokens.iter().filter(|t| !t.is_empty()) {
        for url in &urls {
            // No early return: the time taken does not say which token or form came close.
            valid |= constant_time_eq(twilio_signature(token, url, &params).as_bytes(), signature.as_bytes());
        }
    }
    valid
}

/// `url` as given, and without or with its port (the scheme's default one when it has none).
fn url_forms(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else { return forms };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    let port = host_port
        .rsplit_once(':')
        .filter(|(host, port)| !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .filter(|(host, _)| !host.starts_with('[') || host.ends_with(']'));
    let other = match port {
        Some((host, _)) => format!("{scheme}://{userinfo}{host}{tail}"),
        None => match scheme.to_ascii_lowercase().as_str() {
            "https" => format!("{scheme}://{userinfo}{host_port}:443{tail}"),
            "http" => format!("{scheme}://{userinfo}{host_port}:80{tail}"),
            _ => return forms,
        },
    };
    forms.push(other);
    forms
}

/// An inbound message: a `reply` event (contact = `From` without `whatsapp:`, text = `Body`,
/// channel `whatsapp` or `sms`) and `twilio:<MessageSid>` as the id it is applied once under.
/// A body that is an opt-out word stays a reply: the engine opts the contact out and keeps the
/// reply in the history. A message Twilio's Advanced Opt-Out took as an opt-out keyword
/// (`OptOutType=STOP`, e.g. a keyword configured in another language) is an opt-out itself:
/// Twilio already blocks sending to that number.
pub fn inbound(params: &[(String, String)]) -> Result<Item, String> {
    let form = Form(params);
    let sid = form.sid("MessageSid")?;
    let from = form.required("From")?;
    let (contact, channel) = match from.strip_prefix("whatsapp:") {
        Some(number) => (number.trim(), "whatsapp"),
        None => (from, "sms"),
    };
    if contact.is_empty() {
        return Err("`From` has no number after `whatsapp:`".into());
    }
    // A message of media alone has an empty body; it is still a reply.
    let body = form.get("Body").unwrap_or_default();
    if body.chars().nth(MAX_TEXT_CHARS).is_some() {
        return Err(format!("`Body` is longer than {MAX_TEXT_CHARS} characters (the limit)"));
    }
    let keyword_stop = form.get("OptOutType").is_some_and(|t| t.eq_ignore_ascii_case("STOP"));
    let input = if keyword_stop && !crate::runtime::is_opt_out(body) {
        Input::OptOut
    } else {
        Input::Reply { text: Some(body.to_string()), intent: None, channel: Some(channel.to_string()) }
    };
    let event = Inbound { campaign: None, contact: contact.to_string(), at: None, id: None, input };
    Ok(Item { arrival: Arrival::Event(event), id: Some(format!("twilio:{sid}")) })
}

/// A status callback of a message (`MessageSid`, `MessageStatus`) or a call (`CallSid`,
/// `CallStatus`) herald created: `Ok(None)` for a status that decides nothing yet (`queued`,
/// `ringing`, …); for a final one, the outcome of the action under the `key` of the callback
/// URL's query (`query`: the raw query string), with the id `twilio:<Sid>:<status>` so that a
/// callback Twilio sends again applies once. `at` is Twilio's `Timestamp` (calls) or `now`.
///
/// Messages: `sent`, `delivered` and `failed` as they are; `read` is `opened`; `undelivered`
/// (the carrier's receipt says it did not arrive) is `failed`, whatever its `ErrorCode`: the
/// codes (30003 handset off, 30005 unknown number, 30006 landline, 30007 filtered, …) mix
/// passing and lasting causes, and `sms` and `whatsapp` steps report `failed`, never `bounced`
/// (docs/language.md), so the routes and `retry.on` written for them see it. Error 21610 (the
/// recipient replied STOP to Twilio) opts the contact out, as it does when Twilio refuses the
/// message outright.
///
/// Calls: `completed` is `answered`, or `voicemail` when machine detection says a machine or a
/// fax answered (`AnsweredBy`); `busy`, `no-answer`, and `failed` or `canceled` as `failed`;
/// the duration is `CallDuration`, in seconds.
pub fn status(query: Option<&str>, params: &[(String, String)], now: DateTime<Utc>) -> Result<Option<Item>, String> {
    let form = Form(params);
    let (sid, twilio_status, input) = if let Some(status) = form.get("MessageStatus").or(form.get("SmsStatus")) {
        // `SmsSid` and `SmsStatus` are the older names of the same fields.
        let name =
            if form.get("MessageSid").is_none() && form.get("SmsSid").is_some() { "SmsSid" } else { "MessageSid" };
        let sid = form.sid(name)?;
        (sid, status, message_input(status, &form)?)
    } else if let Some(status) = form.get("CallStatus") {
        (form.sid("CallSid")?, status, call_input(status, &form)?)
    } else {
        return Err("neither `MessageStatus` nor `CallStatus`: not a status callback of a message or a call".into());
    };
    let Some(input) = input else { return Ok(None) };
    let key = key_of(query)?;
    // A timestamp that does not parse is not worth losing the outcome over: now is seconds off.
    let at = form.get("Timestamp").and_then(rfc2822).unwrap_or(now);
    let arrival = Arrival::Outcome { key, input, at, notes: None };
    Ok(Some(Item { arrival, id: Some(format!("twilio:{sid}:{twilio_status}")) }))
}

/// The input a message status brings; `None` when it decides nothing yet.
fn message_input(status: &str, form: &Form) -> Result<Option<Input>, String> {
    let outcome = match status {
        // `partially_delivered` is for messages to several recipients, which herald never sends.
        "queued" | "sending" | "accepted" | "scheduled" | "receiving" | "received" | "partially_delivered" => {
            return Ok(None);
        }
        "failed" | "undelivered" if form.get("ErrorCode") == Some(UNSUBSCRIBED) => return Ok(Some(Input::OptOut)),
        "sent" => MessageOutcome::Sent,
        "delivered" => MessageOutcome::Delivered,
        "read" => MessageOutcome::Opened,
        // A message cancelled before it went out will never arrive.
        "undelivered" | "failed" | "canceled" => MessageOutcome::Failed,
        other => return Err(format!("unknown `MessageStatus` {:?}", shown(other))),
    };
    Ok(Some(Input::Delivery { status: outcome.as_str().into() }))
}

/// The input a call status brings; `None` when it decides nothing yet.
fn call_input(status: &str, form: &Form) -> Result<Option<Input>, String> {
    let outcome = match status {
        "queued" | "initiated" | "ringing" | "in-progress" => return Ok(None),
        "completed" if form.get("AnsweredBy").is_some_and(is_machine) => CallOutcome::Voicemail,
        "completed" => CallOutcome::Answered,
        "busy" => CallOutcome::Busy,
        "no-answer" => CallOutcome::NoAnswer,
        "failed" | "canceled" => CallOutcome::Failed,
        other => return Err(format!("unknown `CallStatus` {:?}", shown(other))),
    };
    // A duration that does not parse is left out rather than refusing the outcome.
    let duration =
        form.get("CallDuration").and_then(|d| d.trim().parse::<f64>().ok()).filter(|d| d.is_finite() && *d >= 0.0);
    Ok(Some(Input::Call { status: outcome.as_str().into(), duration, vars: serde_json::Map::new() }))
}

/// `AnsweredBy` values that mean no person took the call (`human` and `unknown` do not).
fn is_machine(answered_by: &str) -> bool {
    answered_by.starts_with("machine_") || answered_by == "fax"
}

/// The action key of the callback URL's `key` parameter.
fn key_of(query: Option<&str>) -> Result<String, String> {
    let missing = "the callback URL has no `key` in its query (herald sets `…/twilio/status?key=<action key>` \
                   on what it sends; was this message or call made by herald?)";
    let query = query.ok_or(missing)?;
    let key = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value.into_owned())
        .ok_or(missing)?;
    if key.len() > MAX_ID_BYTES {
        return Err(format!("the callback URL's `key` is longer than {MAX_ID_BYTES} bytes"));
    }
    if split_key(&key).is_none() {
        return Err(format!(
            "the callback URL's `key` {:?} is not an action key (campaign/contact/step/attempt)",
            shown(&key)
        ));
    }
    Ok(key)
}

/// Twilio's `Timestamp`: RFC 2822, e.g. `Sun, 06 Dec 2026 08:40:01 +0000`.
fn rfc2822(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text.trim()).ok().map(|at| at.with_timezone(&Utc))
}

/// The id a Twilio request is applied once under: `natural` (the item's own,
/// `twilio:<MessageSid>` or `twilio:<Sid>:<status>`) when there is one, else the
/// `I-Twilio-Idempotency-Token` header.
///
/// Twilio keeps that token the same only across its own retries of one request. The natural id
/// is the same across those and also across a second request about the same fact (carriers
/// send a delivery receipt twice now and then), so it drops every copy the token would and
/// more; the token is the fallback for a request without one.
pub fn idempotency_id(header: Option<&str>, natural: String) -> String {
    match header.map(str::trim).filter(|h| !h.is_empty()) {
        Some(token) if natural.is_empty() => format!("twilio-token:{token}"),
        _ => natural,
    }
}

/// A text cut for an error message (the value came from the request).
fn shown(text: &str) -> String {
    const LIMIT: usize = 64;
    match text.char_indices().nth(LIMIT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The decoded form, read by name (the first of a repeated name).
struct Form<'a>(&'a [(String, String)]);

impl Form<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        match self.get(name).map(str::trim) {
            None => Err(format!("missing `{name}`")),
            Some("") => Err(format!("`{name}` is empty")),
            Some(value) => Ok(value),
        }
    }

    /// A Twilio id (`SM…`, `MM…`, `CA…`): letters and digits, short enough to key on.
    fn sid(&self, name: &str) -> Result<&str, String> {
        let sid = self.required(name)?;
        if sid.len() > 64 || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("`{name}` {:?} is not a Twilio id", shown(sid)));
        }
        Ok(sid)
    }
}

#[cfg(test)]
#[path = "twilio_tests.rs"]
mod tests;
