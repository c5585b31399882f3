//! Inbound event lines (docs/events.md): one JSON object per line, parsed into an `Inbound` the
//! driver can apply. Parsing only: finding the lead and advancing it is `ingest`'s job.
//!
//! A line is refused with one precise error (the first problem found, in a fixed order: JSON,
//! object, `type`, unknown fields, `id`, `contact`, `campaign`, `at`, the type's own fields), so the
//! same bad line always gets the same message, on the command line and over HTTP alike.

use std::io::BufRead;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::bounded::{self, Line, Skipped};
use crate::diagnostic::closest;
use crate::runtime::Input;
use crate::vocab::{CallOutcome, MessageOutcome};

/// One event, checked: who it is for, when it happened, and what it does to the lead.
#[derive(Clone, Debug, PartialEq)]
pub struct Inbound {
    /// `None`: the contact's only campaign (the caller resolves it).
    pub campaign: Option<String>,
    pub contact: String,
    /// `None`: now (the caller's clock).
    pub at: Option<DateTime<Utc>>,
    /// The sender's id of the event: applied once per database (`ingest`'s event keys).
    pub id: Option<String>,
    pub input: Input,
}

/// The event types, in the order the messages list them.
pub const TYPES: &[&str] = &["reply", "call", "delivery", "opt_out", "event"];

/// Fields every type may have.
const COMMON: &[&str] = &["type", "id", "campaign", "contact", "at"];

/// The longest `id` accepted: ids are stored as given, and a provider's ids are far shorter.
pub const MAX_ID_BYTES: usize = 200;

/// The longest reply `text` accepted, in characters: a reply is a short message, and a longer
/// one is refused rather than cut (a cut reply could change what a condition sees).
pub const MAX_TEXT_CHARS: usize = 10_000;

/// The longest `vars` object accepted, as JSON bytes: vars are stored with the lead's history.
pub const MAX_VARS_BYTES: usize = 64 * 1024;

/// The fields of each type beyond the common ones.
fn own_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "reply" => &["text", "intent", "channel"],
        "call" => &["status", "duration", "vars"],
        "delivery" => &["status"],
        "event" => &["name", "vars"],
        _ => &[],
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error("not JSON: {reason} at column {column}")]
    NotJson { reason: String, column: usize },
    #[error("an event must be a JSON object, not {found}")]
    NotObject { found: &'static str },
    #[error("missing `type` (one of {})", list(TYPES))]
    MissingType,
    #[error("unknown type {found}{}; the types are {}", hint(suggestion), list(TYPES))]
    UnknownType { found: String, suggestion: Option<String> },
    #[error(
        "unknown field `{field}` in {} `{kind}` event{}; its fields are {}",
        article(kind),
        hint(suggestion),
        list(allowed)
    )]
    UnknownField { field: String, kind: &'static str, suggestion: Option<String>, allowed: Vec<&'static str> },
    #[error("missing `{field}` ({})", needed_by(field, kind))]
    Missing { field: &'static str, kind: &'static str },
    #[error("`{field}` is empty")]
    Empty { field: &'static str },
    #[error("`{field}` must be {expected}, not {found}")]
    WrongType { field: &'static str, expected: &'static str, found: String },
    #[error("`at` must be an RFC 3339 datetime like 2026-12-01T10:00:00Z, not {found:?}")]
    BadTime { found: String },
    #[error("`duration` must be a number of seconds, 0 or more, not {found}")]
    BadDuration { found: String },
    #[error("unknown {what} {found:?}{}; it must be one of {}", hint(suggestion), list(allowed))]
    BadStatus { what: &'static str, found: String, suggestion: Option<String>, allowed: &'static [&'static str] },
    #[error("a reply needs a non-empty `text` or `intent`")]
    EmptyReply,
    #[error("`id` is longer than {MAX_ID_BYTES} bytes")]
    LongId,
    #[error("the line is not UTF-8 text")]
    NotUtf8,
    #[error(
        "the line is longer than {} (the limit); it was skipped",
        crate::bounded::size(crate::bounded::MAX_LINE_BYTES)
    )]
    LongLine,
    #[error("`{field}` is longer than {MAX_TEXT_CHARS} characters (the limit)")]
    LongText { field: &'static str },
    #[error("`vars` is longer than {} as JSON (the limit)", crate::bounded::size(MAX_VARS_BYTES))]
    LongVars,
    #[error("no end of line within {} after a line that was too long; stopped reading", crate::bounded::size(crate::bounded::MAX_SKIP_BYTES as usize))]
    Endless,
    #[error("cannot read the events: {0}")]
    Read(String),
}

fn list(items: &[&str]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

fn needed_by(field: &str, kind: &str) -> String {
    if COMMON.contains(&field) {
        "every event needs it".into()
    } else {
        format!("{} `{kind}` event needs it", article(kind))
    }
}

fn hint(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
}

/// Parses one event line.
pub fn parse_line(line: &str) -> Result<Inbound, EventError> {
    parse_value(serde_json::from_str(line).map_err(not_json)?)
}

/// Checks one event already read as JSON (an element of the array `POST /events` takes).
pub fn parse_value(value: Value) -> Result<Inbound, EventError> {
    let Value::Object(fields) = value else { return Err(EventError::NotObject { found: kind_of(&value) }) };
    let kind = event_type(&fields)?;
    check_fields(&fields, kind)?;
    let event = Fields { map: &fields, kind };
    let id = event.text("id")?;
    match id.as_deref() {
        Some(id) if id.trim().is_empty() => return Err(EventError::Empty { field: "id" }),
        Some(id) if id.len() > MAX_ID_BYTES => return Err(EventError::LongId),
        _ => {}
    }
    let contact = event.required_text("contact")?;
    let campaign = event.text("campaign")?;
    if campaign.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(EventError::Empty { field: "campaign" });
    }
    let at = event.time()?;
    let input = match kind {
        "reply" => reply(&event)?,
        "call" => Input::Call {
            status: event.status("call status", CallOutcome::NAMES)?.into(),
            duration: event.duration()?,
            vars: event.vars()?,
        },
        "delivery" => Input::Delivery { status: event.status("delivery status", MessageOutcome::NAMES)?.into() },
        "opt_out" => Input::OptOut,
        _ => Input::Event { name: event.required_text("name")?, vars: event.vars()? },
    };
    Ok(Inbound { campaign: campaign.map(|c| c.trim().to_string()), contact, at, id, input })
}

/// Parses a stream of event lines: (1-based line number, the event or why it was refused).
/// Blank lines are skipped; a line that is not UTF-8 or is longer than `MAX_LINE_BYTES` is
/// refused and the next one read; a read error, or a line with no end in sight, ends the stream
/// after reporting it.
pub fn parse_lines<R: BufRead>(reader: R) -> impl Iterator<Item = (usize, Result<Inbound, EventError>)> {
    Lines { reader, number: 0, failed: false, skipping: false, buffer: Vec::new() }
}

struct Lines<R> {
    reader: R,
    number: usize,
    failed: bool,
    /// The last line was too long: the rest of it is still to be read past.
    skipping: bool,
    buffer: Vec<u8>,
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = (usize, Result<Inbound, EventError>);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            if std::mem::take(&mut self.skipping) {
                match bounded::skip_line(&mut self.reader, bounded::MAX_SKIP_BYTES) {
                    Ok(Skipped::Newline) => {}
                    Ok(Skipped::End) => return None,
                    Ok(Skipped::Budget) => {
                        self.failed = true;
                        return Some((self.number, Err(EventError::Endless)));
                    }
                    Err(e) => {
                        self.failed = true;
                        return Some((self.number, Err(EventError::Read(e.to_string()))));
                    }
                }
            }
            match bounded::read_line(&mut self.reader, &mut self.buffer, bounded::MAX_LINE_BYTES) {
                Ok(Line::End) => return None,
                Ok(Line::Read) => self.number += 1,
                Ok(Line::TooLong) => {
                    self.number += 1;
                    self.skipping = true;
                    return Some((self.number, Err(EventError::LongLine)));
                }
                Err(e) => {
                    self.failed = true;
                    return Some((self.number + 1, Err(EventError::Read(e.to_string()))));
                }
            }
            let mut bytes = self.buffer.as_slice();
            if self.number == 1 {
                // A file saved by a Windows editor may start with a byte-order mark.
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            let Ok(text) = std::str::from_utf8(bytes) else { return Some((self.number, Err(EventError::NotUtf8))) };
            let text = text.trim();
            if !text.is_empty() {
                return Some((self.number, parse_line(text)));
            }
        }
        None
    }
}

pub(crate) fn not_json(error: serde_json::Error) -> EventError {
    // serde_json's message ends with its own position; the line number is the caller's.
    let text = error.to_string();
    let reason = text.rsplit_once(" at line ").map_or(text.as_str(), |(reason, _)| reason);
    EventError::NotJson { reason: reason.to_string(), column: error.column() }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as it appears in a message: strings quoted, others by their JSON type.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Number(n) => n.to_string(),
        other => kind_of(other).to_string(),
    }
}

fn event_type(fields: &Map<String, Value>) -> Result<&'static str, EventError> {
    let found = match fields.get("type") {
        None | Some(Value::Null) => return Err(EventError::MissingType),
        Some(Value::String(s)) => s,
        Some(other) => return Err(EventError::WrongType { field: "type", expected: "a string", found: shown(other) }),
    };
    match TYPES.iter().find(|t| **t == found) {
        Some(kind) => Ok(kind),
        None => Err(EventError::UnknownType {
            found: format!("{found:?}"),
            suggestion: closest(found, TYPES.iter().copied()).map(str::to_string),
        }),
    }
}

fn check_fields(fields: &Map<String, Value>, kind: &'static str) -> Result<(), EventError> {
    let allowed: Vec<&'static str> = COMMON.iter().chain(own_fields(kind)).copied().collect();
    match fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(field) => Err(EventError::UnknownField {
            field: field.clone(),
            kind,
            suggestion: closest(field, allowed.iter().copied()).map(str::to_string),
            allowed,
        }),
        None => Ok(()),
    }
}

/// The reply of a `reply` event; it must say something.
fn reply(event: &Fields) -> Result<Input, EventError> {
    let (text, intent, channel) = (event.text("text")?, event.text("intent")?, event.text("channel")?);
    let says = |field: &Option<String>| field.as_deref().is_some_and(|s| !s.trim().is_empty());
    if !says(&text) && !says(&intent) {
        return Err(EventError::EmptyReply);
    }
    Ok(Input::Reply { text, intent, channel })
}

/// An event's fields, read with the type they must have. A JSON `null` counts as absent.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    kind: &'static str,
}

impl Fields<'_> {
    fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn text(&self, field: &'static str) -> Result<Option<String>, EventError> {
        match self.get(field) {
            None => Ok(None),
            // Refused, not cut: a cut reply could match a condition the whole one would not.
            Some(Value::String(s)) if s.chars().nth(MAX_TEXT_CHARS).is_some() => Err(EventError::LongText { field }),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(EventError::WrongType { field, expected: "a string", found: shown(other) }),
        }
    }

    fn required_text(&self, field: &'static str) -> Result<String, EventError> {
        match self.text(field)? {
            None => Err(EventError::Missing { field, kind: self.kind }),
            Some(s) if s.trim().is_empty() => Err(EventError::Empty { field }),
            Some(s) => Ok(s.trim().to_string()),
        }
    }

    fn time(&self) -> Result<Option<DateTime<Utc>>, EventError> {
        let Some(text) = self.text("at")? else { return Ok(None) };
        match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(at) => Ok(Some(at.with_timezone(&Utc))),
            Err(_) => Err(EventError::BadTime { found: text }),
        }
    }

    fn status(&self, what: &'static str, allowed: &'static [&'static str]) -> Result<String, EventError> {
        let found = self.required_text("status")?;
        if allowed.contains(&found.as_str()) {
            return Ok(found);
        }
        let suggestion = closest(&found, allowed.iter().copied()).map(str::to_string);
        Err(EventError::BadStatus { what, found, suggestion, allowed })
    }

    fn duration(&self) -> Result<Option<f64>, EventError> {
        match self.get("duration") {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(seconds) if seconds >= 0.0 && seconds.is_finite() => Ok(Some(seconds)),
                _ => Err(EventError::BadDuration { found: n.to_string() }),
            },
            Some(other) => Err(EventError::BadDuration { found: shown(other) }),
        }
    }

    fn vars(&self) -> Result<Map<String, Value>, EventError> {
        match self.get("vars") {
            None => Ok(Map::new()),
            // Measured as written back out: the form it is stored in.
            Some(Value::Object(vars)) if serde_json::to_vec(vars).map_or(usize::MAX, |v| v.len()) > MAX_VARS_BYTES => {
                Err(EventError::LongVars)
            }
            Some(Value::Object(vars)) => Ok(vars.clone()),
            Some(other) => Err(EventError::WrongType { field: "vars", expected: "an object", found: shown(other) }),
        }
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
