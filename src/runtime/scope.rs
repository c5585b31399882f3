//! What conditions and templates read of a lead: its contact, variables, latest reply, call
//! and message outcomes, events, variants, the campaign and its `data:`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value as Json, json};

use super::lead::Lead;
use crate::contacts::Contact;
use crate::expr::{Path, Scope, Value};
use crate::graph::Graph;

pub struct LeadScope<'a> {
    pub graph: &'a Graph,
    pub lead: &'a Lead,
    pub contact: &'a Contact,
    pub now: DateTime<Utc>,
    pub tz: Tz,
}

/// The contact's zone: its `timezone` column, else the campaign's.
pub fn timezone_of(graph: &Graph, contact: &Contact) -> Tz {
    contact.timezone.as_deref().and_then(|z| z.parse().ok()).unwrap_or(graph.schedule.timezone)
}

fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |s| Value::String(s.to_string()))
}

impl Scope for LeadScope<'_> {
    fn get(&self, path: &Path) -> Value {
        let field = path.fields.first().map_or("", String::as_str);
        let lead = self.lead;
        match path.root.as_str() {
            "contact" => match self.contact.fields.get(field) {
                Some(v) => Value::from_json_path(v, &path.fields[1..]),
                None if field == "key" => Value::String(self.contact.key.clone()),
                None if field == "timezone" => text(self.contact.timezone.as_deref()),
                None => Value::Null,
            },
            "vars" => lead.vars.get(field).map_or(Value::Null, |v| Value::from_json_path(v, &path.fields[1..])),
            "reply" => {
                let reply = lead.reply.as_ref();
                match field {
                    "text" => reply.map_or(Value::Null, |r| text(r.text.as_deref())),
                    "intent" => reply.map_or(Value::Null, |r| text(r.intent.as_deref())),
                    "channel" => reply.map_or(Value::Null, |r| text(r.channel.as_deref())),
                    "at" => reply.and_then(|r| r.at).map_or(Value::Null, Value::DateTime),
                    "timed_out" => Value::Bool(reply.is_some_and(|r| r.timed_out)),
                    _ => Value::Null,
                }
            }
            "call" => {
                let call = lead.call.as_ref();
                match field {
                    "status" => call.map_or(Value::Null, |c| text(c.status.as_deref())),
                    "duration" => call.and_then(|c| c.duration).map_or(Value::Null, Value::Number),
                    "attempt" => call.map_or(Value::Null, |c| Value::Number(f64::from(c.attempt))),
                    _ => Value::Null,
                }
            }
            "message" if field == "status" => text(lead.message_status.as_deref()),
            "events" => lead.event_at(field).map_or(Value::Null, Value::DateTime),
            "lead" => match field {
                "status" => Value::String(lead.status.as_str().to_string()),
                "step" => text(lead.step.as_deref()),
                "attempts" => Value::Number(f64::from(lead.attempts)),
                "entered_at" => Value::DateTime(lead.entered_at),
                _ => Value::Null,
            },
            "variant" => lead.variants.get(field).map_or(Value::Null, |v| Value::String(v.clone())),
            "campaign" => match field {
                "id" => Value::String(self.graph.id.clone()),
                "name" => Value::String(self.graph.name.clone()),
                _ => Value::Null,
            },
            root => self.graph.data.get(root).map_or(Value::Null, |v| Value::from_json_path(v, &path.fields)),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn timezone(&self) -> Tz {
        self.tz
    }
}

/// The roots a template renders with.
pub fn template_context(graph: &Graph, lead: &Lead, contact: &Contact, step_id: &str, step_name: Option<&str>) -> Json {
    let mut root: Map<String, Json> = graph.data.clone();
    let mut fields = contact.fields.to_map();
    fields.entry("key").or_insert_with(|| Json::String(contact.key.clone()));
    root.insert("contact".into(), Json::Object(fields));
    root.insert("vars".into(), Json::Object(lead.vars.clone()));
    root.insert("campaign".into(), json!({ "id": graph.id, "name": graph.name }));
    root.insert("step".into(), json!({ "id": step_id, "name": step_name.unwrap_or(step_id) }));
    Json::Object(root)
}
