//! The JSON Schema of test files (`schema/test.schema.json`), for editors' YAML language
//! servers. Hand-written like the campaign schema (`crate::schema`); tests keep its keys equal
//! to the parser's, the stored file equal to `render()`, and every `campaigns/tests/*.test.yaml`
//! valid against it.

use serde_json::{Value, json};

use crate::schema::{DURATION, object, text};
use crate::vocab::{CallOutcome, LeadStatus, MessageOutcome};

const LOCAL_TIME: &str = "^((Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?[0-2][0-9]:[0-5][0-9]$";

fn time(description: &str) -> Value {
    text(&format!("{description}: RFC 3339 (2026-12-01T08:00:00-08:00) or a date (2026-12-01)"))
}

fn count(description: &str) -> Value {
    json!({ "type": "integer", "minimum": 0, "description": description })
}

fn words(names: &[&str], description: &str) -> Value {
    json!({ "enum": names, "description": description })
}

fn names_to_text(description: &str) -> Value {
    json!({ "type": "object", "additionalProperties": text("value"), "description": description })
}

fn vars(description: &str) -> Value {
    json!({ "type": "object", "description": description })
}

fn local_time() -> Value {
    json!({ "type": "string", "pattern": LOCAL_TIME, "description": "the contact's local time: 09:00, or with the weekday: Mon 09:00" })
}

fn event() -> Value {
    let reply = object(
        json!({ "text": text("the reply's text"), "intent": text("its intent, as an AI channel classifies it") }),
        &[],
    );
    object(
        json!({
            "step": text("the send or call step this answers"),
            "attempt": count("only this attempt (1 is the first try)"),
            "call": words(CallOutcome::NAMES, "how calls at the step end"),
            "vars": vars("post-call variables, or the named event's variables"),
            "reply": { "oneOf": [text("the reply's text"), reply], "description": "the contact replies" },
            "delivery": words(MessageOutcome::NAMES, "the delivery status of messages at the step"),
            "after": { "type": "string", "pattern": DURATION, "description": "how long after the action (e.g. 30m, 1h, 2d)" },
            "at": time("an input at this time"),
            "event": text("a named event (events.<name> in conditions)"),
            "opt_out": { "type": "boolean", "description": "the contact opts out `at` the time" }
        }),
        &[],
    )
}

fn expect() -> Value {
    let send = object(
        json!({
            "step": text("the step that sent it"),
            "channel": text("the channel"),
            "contains": text("text the message contains"),
            "matches": text("a regular expression the message matches"),
            "local_time": local_time(),
            "to": text("the address it went to"),
            "subject": text("the rendered subject, whole"),
            "from": text("the sender, whole (the step's `from`, else the campaign's)")
        }),
        &[],
    );
    let call = object(
        json!({ "step": text("the call step"), "local_time": local_time(), "attempt": count("the attempt (1 is the first try)") }),
        &[],
    );
    let path = json!({ "type": "array", "items": text("step id"), "description": "the steps entered, in order" });
    object(
        json!({
            "path": path,
            "status": words(LeadStatus::NAMES, "the lead's status when the clock stops"),
            "outcome": text("the exit label, or why the lead was skipped or failed"),
            "sends": { "oneOf": [count("how many messages"), { "type": "array", "items": send }], "description": "the messages sent: a count, or each in order" },
            "calls": { "oneOf": [count("how many calls"), { "type": "array", "items": call }], "description": "the calls placed: a count, or each in order" },
            "vars": vars("variables and their values; null: not set (or null)"),
            "variant": names_to_text("split step id -> the variant the lead landed in"),
            "in_window": { "type": "boolean", "description": "every send and call inside the schedule window" },
            "max_messages": count("at most this many sends and calls")
        }),
        &[],
    )
}

fn case() -> Value {
    object(
        json!({
            "name": text("shown in the report"),
            "contact": text("the contact's key (may be left out with one contact)"),
            "start": time("this case's start"),
            "until": time("this case's end of the clock"),
            "variants": names_to_text("split step id -> the variant to put this case's contact in"),
            "events": { "type": ["array", "null"], "items": event(), "description": "how the contact answers, and inputs at a time" },
            "expect": expect()
        }),
        &["name", "expect"],
    )
}

pub fn schema() -> Value {
    let row = json!({ "type": "object", "additionalProperties": { "type": ["string", "number", "boolean", "null"] } });
    let mut root = object(
        json!({
            "campaign": text("the campaign file, relative to this file"),
            "start": time("when the virtual clock starts"),
            "until": time("when it stops"),
            "contacts": { "oneOf": [{ "type": "string" }, { "type": "array", "items": row }], "description": "rows (column: value), or a CSV file relative to this file" },
            "cases": { "type": "array", "items": case() }
        }),
        &["campaign", "cases"],
    );
    if let Some(map) = root.as_object_mut() {
        map.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        map.insert("$id".into(), json!("https://herald.dev/schema/test.schema.json"));
        map.insert("title".into(), json!("herald test file"));
    }
    root
}

pub fn render() -> String {
    crate::schema::pretty(&schema())
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
