//! `herald schema`: the JSON Schema of campaign files, for editors' YAML language servers.
//!
//! Written out here rather than derived: the syntax types are spanned and loaded by hand so
//! every problem is reported at once, and a hand-built schema can say what derive cannot
//! ("exactly one action key", duration patterns). A test keeps its keys equal to the loader's
//! (`syntax::keys`) and `schema/campaign.schema.json` equal to this output.

use serde_json::{Value, json};

/// A duration as the loaders read it; the test file's schema uses it too.
pub(crate) const DURATION: &str = r"^\s*([0-9]+[smhdw])+\s*$";
const ID: &str = "^[a-z0-9][a-z0-9_-]*$";

pub(crate) fn text(description: &str) -> Value {
    json!({ "type": ["string", "number", "boolean"], "description": description })
}

/// A `set` value: an expression, which YAML may also read as a number.
fn expression(description: &str) -> Value {
    json!({ "type": ["string", "number", "boolean"], "description": format!("{description} (an expression, see docs/conditions.md)") })
}

fn condition(description: &str) -> Value {
    json!({ "type": ["string", "boolean"], "description": format!("{description} (a condition, see docs/conditions.md)") })
}

fn duration(description: &str) -> Value {
    json!({ "type": "string", "pattern": DURATION, "description": format!("{description} (e.g. 30s, 15m, 4h, 2d, 1w, 1d12h)") })
}

fn strings(description: &str) -> Value {
    json!({ "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }], "description": description })
}

pub(crate) fn object(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "additionalProperties": false, "properties": properties, "required": required })
}

fn routes() -> Value {
    json!({
        "type": "array",
        "items": { "$ref": "#/$defs/route" },
        "description": "first matching `if` wins; end with `- else: <step>`"
    })
}

fn retry() -> Value {
    object(
        json!({
            "attempts": { "type": "integer", "minimum": 0, "maximum": 10, "description": "retries after the first try" },
            "interval": { "oneOf": [duration("wait between tries"), { "type": "array", "items": duration("progressive interval") }] },
            "on": { "type": "array", "items": { "enum": ["answered", "no_answer", "busy", "voicemail", "failed", "sent", "delivered", "bounced", "opened", "clicked"] } },
            "until": condition("goal-based retry: keep retrying until this holds")
        }),
        &[],
    )
}

/// `checks:`: each compliance check that may be switched off, with its reason.
fn checks() -> Value {
    let off = object(
        json!({ "off": { "type": "string", "minLength": 1, "description": "why this check does not apply to the campaign (reported by `validate --format json`)" } }),
        &["off"],
    );
    let properties: serde_json::Map<String, Value> =
        crate::syntax::keys::CHECKS.iter().map(|name| (name.to_string(), off.clone())).collect();
    let mut checks = object(Value::Object(properties), &[]);
    checks["description"] = json!("compliance checks switched off for this campaign (docs/compliance.md)");
    checks
}

/// `{per_hour?, concurrency?}`: a channel's entry under `pacing.channels`, or a step's own.
fn pacing_limits(description: &str) -> Value {
    let mut limits = object(
        json!({
            "per_hour": { "type": "integer", "minimum": 1, "description": "actions started in any 60 minutes" },
            "concurrency": { "type": "integer", "minimum": 1, "description": "actions in flight at once" }
        }),
        &[],
    );
    if let Some(map) = limits.as_object_mut() {
        map.insert("description".into(), json!(description));
    }
    limits
}

fn message() -> Value {
    json!({
        "subject": text("subject line (email); a template"),
        "text": text("the message; a template such as `Hi {{ contact.name }}`"),
        "template": { "type": "string", "description": "template file, relative to the campaign (.html is HTML-escaped)" }
    })
}

fn actions() -> Value {
    let mut send = message();
    let send_props = send.as_object_mut().map(|m| {
        m.insert("channel".into(), text("channel name (sms, whatsapp, email, …)"));
        m.insert("to".into(), text("recipient template (default: the contact's key)"));
        m.insert("from".into(), text("sender identity"));
        m.insert("variants".into(), json!({ "type": "object", "additionalProperties": object(message(), &[]), "description": "per split variant: subject/text/template" }));
    });
    let _ = send_props;
    json!({
        "send": object(send, &[]),
        "call": object(json!({
            "channel": text("voice channel name"), "agent": text("AI agent id"), "from": text("caller id"),
            "to": text("number template"), "prompt": text("what the agent says; a template"),
            "max_duration": duration("longest call"), "voicemail": { "enum": ["leave", "hangup"] }, "retry": retry()
        }), &[]),
        "wait": { "oneOf": [duration("pause"), object(json!({ "until": text("\"HH:MM\" local time, or a datetime condition") }), &["until"])] },
        "await": object(json!({ "reply": duration("wait for a reply this long"), "event": { "type": "string" }, "timeout": duration("give up after") }), &[]),
        "branch": routes(),
        "split": { "type": "array", "items": object(json!({
            "variant": text("variant name"), "weight": { "type": "number", "exclusiveMinimum": 0 }, "goto": { "type": "string" }
        }), &["variant", "goto"]) },
        "set": { "type": "object", "additionalProperties": expression("value") },
        "exit": text("outcome label")
    })
}

fn step() -> Value {
    let common = json!({
        "id": { "type": "string", "pattern": ID }, "name": text("display name"),
        "when": condition("guard: skipped when false"), "next": { "type": "string", "description": "step id or `end`" },
        "routes": routes(), "retry": retry(),
        "pacing": pacing_limits("this send or call step's own limits, on top of the campaign's"),
        "frequency": { "enum": crate::syntax::keys::FREQUENCY, "description": "exempt: not counted or held by herald.yaml's policy.frequency (transactional messages such as a booking confirmation)" }
    });
    let actions = actions();
    let variants: Vec<Value> = actions
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, schema)| {
            let mut properties = common.as_object().cloned().unwrap_or_default();
            properties.insert(key.clone(), schema.clone());
            object(Value::Object(properties), &[key.as_str()])
        })
        .collect();
    json!({ "oneOf": variants, "description": "a step: exactly one action key plus common keys" })
}

/// The whole schema.
pub fn schema() -> Value {
    let mut root = object(
        json!({
            "id": { "type": "string", "pattern": ID }, "name": text("display name"), "description": text("what the campaign is for"),
            "channel": text("default channel"), "agent": text("default AI agent"), "from": text("default sender"),
            "data": { "type": "object", "description": "constants, visible in templates and conditions by key" },
            "contacts": object(json!({
                "key": { "type": "string" }, "region": { "type": "string", "description": "default country for national numbers, e.g. US" },
                "require": strings("columns that must be present and non-empty"),
                "fields": { "type": "object", "additionalProperties": { "enum": ["string", "number", "bool", "date", "datetime", "phone", "email", "timezone"] } },
                "where": condition("audience filter"), "suppress": strings("files of numbers/emails never to contact")
            }), &[]),
            "schedule": object(json!({
                "timezone": { "type": "string", "description": "IANA zone for contacts without a timezone column" },
                "hours": strings("local window(s), e.g. \"09:00-19:00\""),
                "days": { "oneOf": [{ "enum": ["weekdays", "weekends", "every_day"] }, { "type": "array", "items": { "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "weekdays", "weekends", "every_day"] } }] },
                "start": text("RFC 3339 datetime or date"), "end": text("RFC 3339 datetime or date")
            }), &[]),
            "pacing": object(json!({
                "per_hour": { "type": "integer", "minimum": 1 }, "concurrency": { "type": "integer", "minimum": 1 },
                "channels": { "type": "object", "additionalProperties": pacing_limits("limits on this channel's actions only"), "description": "channel name -> its own limits, on top of the campaign's" }
            }), &[]),
            "retry": retry(),
            "goal": condition("true => lead converted"), "exit_when": condition("true => lead exited"),
            "replies": routes(),
            "vars": strings("variables set from outside: post-call variables and event vars"),
            "moved": { "type": "object", "additionalProperties": { "type": "string" }, "description": "removed step id -> where its leads go" },
            "purpose": { "enum": crate::syntax::keys::PURPOSES, "description": "transactional: messages the contact asked for or expects (reminders, alerts); exempt from the calling-hours check" },
            "checks": checks(),
            "steps": { "type": "array", "items": { "$ref": "#/$defs/step" } }
        }),
        &["steps"],
    );
    if let Some(map) = root.as_object_mut() {
        map.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        map.insert("$id".into(), json!("https://herald.dev/schema/campaign.schema.json"));
        map.insert("title".into(), json!("herald campaign"));
        let route = object(
            json!({ "if": condition("route condition"), "else": { "type": "string" }, "goto": { "type": "string" }, "set": { "type": "object", "additionalProperties": expression("value") } }),
            &[],
        );
        map.insert("$defs".into(), json!({ "step": step(), "route": route }));
    }
    root
}

pub fn render() -> String {
    pretty(&schema())
}

/// A schema as its file holds it: pretty-printed, with a final newline.
pub(crate) fn pretty(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

/// For the tests that keep each schema equal to the keys its loader accepts.
#[cfg(test)]
pub(crate) mod keys_test {
    use serde_json::Value;

    /// The property names of a schema object, sorted.
    pub fn keys_of(schema: &Value) -> Vec<String> {
        let mut keys: Vec<String> =
            schema["properties"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        keys.sort();
        keys
    }

    pub fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        keys.sort();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::keys_test::{keys_of, sorted};
    use super::*;
    use crate::syntax::keys;

    #[test]
    fn schema_keys_match_the_loader() {
        let schema = schema();
        assert_eq!(keys_of(&schema), sorted(keys::CAMPAIGN));
        assert_eq!(keys_of(&schema["properties"]["contacts"]), sorted(keys::CONTACTS));
        assert_eq!(keys_of(&schema["properties"]["schedule"]), sorted(keys::SCHEDULE));
        assert_eq!(keys_of(&schema["properties"]["pacing"]), sorted(keys::PACING));
        let channel = &schema["properties"]["pacing"]["properties"]["channels"]["additionalProperties"];
        assert_eq!(keys_of(channel), sorted(keys::PACING_LIMIT));
        assert_eq!(keys_of(&schema["$defs"]["step"]["oneOf"][0]["properties"]["pacing"]), sorted(keys::PACING_LIMIT));
        assert_eq!(keys_of(&schema["properties"]["retry"]), sorted(keys::RETRY));
        assert_eq!(keys_of(&schema["properties"]["checks"]), sorted(keys::CHECKS));
        assert_eq!(keys_of(&schema["properties"]["checks"]["properties"]["tcpa_hours"]), sorted(keys::CHECK));
        assert_eq!(keys_of(&schema["$defs"]["route"]), sorted(keys::ROUTE));
        let actions = actions();
        assert_eq!(actions.as_object().map(|m| m.len()), Some(keys::ACTIONS.len()));
        assert_eq!(keys_of(&actions["send"]), sorted(keys::SEND));
        assert_eq!(keys_of(&actions["call"]), sorted(keys::CALL));
        assert_eq!(keys_of(&actions["await"]), sorted(keys::AWAIT));
        assert_eq!(keys_of(&actions["split"]["items"]), sorted(keys::ARM));
        let mut step_keys = keys::STEP_COMMON.to_vec();
        step_keys.push("await");
        assert_eq!(keys_of(&schema["$defs"]["step"]["oneOf"][0]), sorted(&step_keys));
    }

    #[test]
    fn schema_file_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/campaign.schema.json");
        let stored = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            stored == render(),
            "schema/campaign.schema.json is stale: run `cargo run -- schema > schema/campaign.schema.json`"
        );
    }
}
