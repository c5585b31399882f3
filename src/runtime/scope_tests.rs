use chrono::DateTime;
use serde_json::json;

use super::*;
use crate::check::{Options, check_file};
use crate::expr::{Path, Scope};
use crate::runtime::lead::{CallInfo, Reply};
use crate::source::SourceFile;
use crate::vocab::{Field, Root};

fn graph() -> Graph {
    let yaml = "id: plain\nname: Plain Campaign\nchannel: sms\n\
                data:\n  offer: ten percent\n  shop: { city: Oslo, floors: 3 }\n  count: 4\n\
                steps:\n  - id: hello\n    name: Say hello\n    send: { text: \"Hi {{ contact.name }}\" }\n  \
                - id: bare\n    send: { text: \"Bye\" }\n";
    let file = SourceFile::new("plain.yaml", yaml);
    check_file(&file, &Options::default()).0.expect("the campaign compiles")
}

fn path(root: &str, fields: &[&str]) -> Path {
    Path { root: root.into(), fields: fields.iter().map(|f| f.to_string()).collect() }
}

/// `template_text` restates the roots of `template_context` to skip building it; each answer
/// it gives must be the string the context holds at the same place.
#[test]
fn plain_values_agree_with_the_template_context() {
    let graph = graph();
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let mut contact = Contact { key: "+4915112345678".into(), ..Contact::default() };
    contact.fields.insert("name", json!("Ada"));
    contact.fields.insert("age", json!(36));
    let mut lead = Lead::new(contact.key.clone(), now);
    lead.vars.insert("code".into(), json!("X1"));
    lead.vars.insert("score".into(), json!(9));
    let mut keyed = contact.clone();
    keyed.fields.insert("key", json!("column-key"));
    let zoned = Contact { timezone: Some("Europe/Oslo".into()), ..contact.clone() };
    let paths: &[(&str, Option<&str>)] = &[
        ("contact", Some("key")),
        ("contact", Some("timezone")),
        ("contact", Some("name")),
        ("contact", Some("age")),
        ("contact", Some("missing")),
        ("contact", None),
        ("vars", Some("code")),
        ("vars", Some("score")),
        ("vars", Some("missing")),
        ("campaign", Some("id")),
        ("campaign", Some("name")),
        ("campaign", Some("other")),
        ("step", Some("id")),
        ("step", Some("name")),
        ("offer", None),
        ("offer", Some("x")),
        ("shop", Some("city")),
        ("shop", Some("floors")),
        ("shop", None),
        ("count", None),
        ("nowhere", None),
        ("nowhere", Some("x")),
    ];
    let mut answered = 0;
    for contact in [&contact, &keyed, &zoned] {
        let scope = LeadScope::of(&graph, &lead, contact, now, chrono_tz::UTC);
        for step in [("hello", Some("Say hello")), ("bare", None)] {
            let context = scope.template_context(step);
            for &(root, field) in paths {
                let plain = scope.template_text(step, root, field);
                let held = context.get(root).and_then(|v| match field {
                    Some(f) => v.get(f),
                    None => Some(v),
                });
                if let Some(plain) = plain {
                    answered += 1;
                    assert_eq!(Some(plain), held.and_then(|v| v.as_str()), "{root}.{field:?} at {}", step.0);
                } else {
                    // Declined: the context has no string there, so the engine renders it.
                    assert!(held.is_none_or(|v| !v.is_string()), "{root}.{field:?} declined but is a string");
                }
            }
        }
    }
    assert!(answered >= 45, "only {answered} plain answers: the test no longer exercises template_text");
}

/// Every fixed field of the vocabulary that a condition can name has a value for a lead that
/// has been through everything, and none before the lead exists (but the campaign's).
#[test]
fn every_condition_field_has_a_value() {
    let graph = graph();
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let contact = Contact { key: "+4915112345678".into(), ..Contact::default() };
    let mut lead = Lead::new(contact.key.clone(), now);
    let (text, at) = (Some("yes".to_string()), Some(now));
    lead.reply = Some(Reply { text: text.clone(), intent: text.clone(), channel: text, at, timed_out: true });
    lead.call = Some(CallInfo { status: Some("answered".into()), duration: Some(3.0), attempt: 2 });
    lead.message_status = Some("delivered".into());
    lead.step = Some("hello".into());
    let scope = LeadScope::of(&graph, &lead, &contact, now, chrono_tz::UTC);
    let before = LeadScope::before_lead(Campaign::of(&graph), &contact, now, chrono_tz::UTC);
    for root in Root::ALL.into_iter().filter(|r| r.in_conditions()) {
        for field in root.fields() {
            let read = path(root.as_str(), &[field.as_str()]);
            assert_ne!(scope.get(&read), Value::Null, "{read}");
            let campaign = matches!(field, Field::CampaignId | Field::CampaignName);
            assert_eq!(before.get(&read) != Value::Null, campaign, "{read} before the lead");
        }
    }
}

/// `contact.key` is the key column when there is one, else the contact's key: in conditions,
/// in `where`, in templates (plain and full) alike.
#[test]
fn contact_key_reads_the_same_everywhere() {
    let graph = graph();
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let plain = Contact { key: "+4915112345678".into(), ..Contact::default() };
    let mut keyed = plain.clone();
    keyed.fields.insert("key", json!("column-key"));
    let lead = Lead::new(plain.key.clone(), now);
    for (contact, expected) in [(&plain, "+4915112345678"), (&keyed, "column-key")] {
        let scope = LeadScope::of(&graph, &lead, contact, now, chrono_tz::UTC);
        let before = LeadScope::before_lead(Campaign::of(&graph), contact, now, chrono_tz::UTC);
        let key = path("contact", &["key"]);
        assert_eq!(scope.get(&key), Value::String(expected.into()));
        assert_eq!(before.get(&key), Value::String(expected.into()));
        assert_eq!(scope.template_text(("hello", None), "contact", Some("key")), Some(expected));
        assert_eq!(scope.template_context(("hello", None))["contact"]["key"], json!(expected));
    }
}

/// A `--responses` rule reads the attempt being made as `call.attempt`.
#[test]
fn the_attempt_being_made_is_call_attempt() {
    let graph = graph();
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let contact = Contact { key: "k".into(), ..Contact::default() };
    let lead = Lead::new("k", now);
    let scope = LeadScope::of(&graph, &lead, &contact, now, chrono_tz::UTC);
    assert_eq!(scope.get(&path("call", &["attempt"])), Value::Null);
    let answering = LeadScope { attempt: Some(3), ..scope };
    assert_eq!(answering.get(&path("call", &["attempt"])), Value::Number(3.0));
}
