use super::*;
use chrono::TimeZone;
use serde_json::json;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 123).unwrap()
}

fn obj(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn full_lead() -> Lead {
    let mut lead = Lead::new("+33612345678", at(0));
    lead.status = LeadStatus::Waiting;
    lead.step = Some("ask".into());
    lead.park = Park::Await;
    lead.attempts = 3;
    lead.timer = Some(at(60));
    lead.inbox = vec![
        (at(1), Input::Wake),
        (at(2), Input::Call { status: "answered".into(), duration: Some(63.5), vars: obj(json!({"ok": true})) }),
        (at(3), Input::Delivery { status: "bounced".into() }),
        (at(4), Input::Reply { text: Some("YES".into()), intent: None, channel: Some("sms".into()) }),
        (at(5), Input::Event { name: "bought".into(), vars: obj(json!({"n": [1, -2, 3.5, "x", null]})) }),
        (at(6), Input::OptOut),
    ];
    lead.refresh_wake();
    lead.vars = obj(json!({"score": 9, "big": u64::MAX, "nested": {"a": [true, false]}, "s": "é"}));
    lead.variants.insert("split".into(), "b".into());
    lead.reply = Some(Reply {
        text: Some("hi".into()),
        intent: Some("confirm".into()),
        channel: None,
        at: Some(at(9)),
        timed_out: true,
    });
    lead.call = Some(CallInfo { status: Some("no_answer".into()), duration: None, attempt: 2 });
    lead.message_status = Some("delivered".into());
    lead.outcome = Some("done".into());
    lead.seq = 77;
    lead
}

#[test]
fn a_lead_with_every_field_set_round_trips() {
    let lead = full_lead();
    let mut bytes = Vec::new();
    put_lead(&mut bytes, &lead);
    assert_eq!(get_lead(&lead.contact, &bytes).unwrap(), lead);
    let fresh = Lead::new("k", at(0));
    bytes.clear();
    put_lead(&mut bytes, &fresh);
    assert_eq!(get_lead("k", &bytes).unwrap(), fresh);
}

#[test]
fn a_leads_counted_actions_follow_its_old_bytes() {
    // A lead that counts no actions has the bytes leads always had: rows written before
    // `acts` existed read as counting none.
    let mut lead = full_lead();
    let mut before = Vec::new();
    put_lead(&mut before, &lead);
    assert_eq!(get_lead("k", &before).unwrap().acts, []);
    lead.acts = vec![("remind".into(), 4), ("a step id longer than twenty-four bytes".into(), 1)];
    let mut bytes = Vec::new();
    put_lead(&mut bytes, &lead);
    assert_eq!(bytes[..before.len()], before[..]);
    assert_eq!(get_lead(&lead.contact, &bytes).unwrap(), lead);
    // Cut inside them, or followed by more bytes: an error.
    for cut in before.len() + 1..bytes.len() {
        assert!(get_lead("k", &bytes[..cut]).is_err(), "cut at {cut}");
    }
    bytes.push(0);
    assert!(get_lead("k", &bytes).is_err());
}

#[test]
fn a_contact_round_trips() {
    let contact = Contact {
        key: "a@b.c".into(),
        timezone: Some("Europe/Paris".into()),
        fields: obj(json!({"name": "Ada", "score": 7.25, "vip": true, "empty": ""})).into(),
    };
    let mut bytes = Vec::new();
    put_contact(&mut bytes, &contact);
    assert_eq!(get_contact("a@b.c", &bytes).unwrap(), contact);
}

#[test]
fn a_contact_is_stored_as_before_its_fields_were_a_list() {
    // Stores written when the fields were a `serde_json::Map` hold these bytes: the zone, then
    // the fields as a map (in name order).
    let long = "a column name longer than twenty-four bytes";
    let fields = obj(json!({"zeta": 1, "": "empty name", "été": "non-ASCII", long: [1, {"x": null}], "Name": "Ada"}));
    let contact = Contact { key: "k".into(), timezone: None, fields: fields.clone().into() };
    let mut before = Vec::new();
    let mut e = Enc(&mut before);
    e.opt_str(None);
    e.map(&fields);
    let mut now = Vec::new();
    put_contact(&mut now, &contact);
    assert_eq!(now, before);
    assert_eq!(get_contact("k", &now).unwrap(), contact);
}

#[test]
fn a_renewed_lead_is_a_new_lead() {
    let mut lead = full_lead();
    lead.inbox.push((at(5), Input::Wake));
    lead.renew("other", at(9));
    assert_eq!(lead, Lead::new("other", at(9)));
}

#[test]
fn damaged_bytes_are_errors_never_panics() {
    let mut bytes = Vec::new();
    put_lead(&mut bytes, &full_lead());
    for cut in 0..bytes.len() {
        assert!(get_lead("k", &bytes[..cut]).is_err(), "cut at {cut}");
    }
    // Every single-byte change either decodes to something or is an error.
    for i in 0..bytes.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= flip;
            let _ = get_lead("k", &damaged);
        }
    }
    let deep = [[8u8, 1, 1, b'a'].repeat(200), vec![0]].concat();
    assert!(Dec::new(&deep).value(0).is_err());
}

#[test]
fn a_leads_events_follow_its_old_bytes() {
    // A lead as written before `events` existed (`Lead::new("k", at(0))` with one counted
    // action): it still reads, with no events.
    let old: &[u8] = &[
        0, 0, 0, 0, 128, 200, 206, 180, 13, 123, 1, 128, 200, 206, 180, 13, 123, 1, 128, 200, 206, 180, 13, 123, 0, 0,
        0, 0, 0, 0, 0, 0, 1, 4, 115, 116, 101, 112, 2,
    ];
    let mut lead = Lead::new("k", at(0));
    lead.acts = vec![("step".into(), 2)];
    assert_eq!(get_lead("k", old).unwrap(), lead);
    let mut bytes = Vec::new();
    put_lead(&mut bytes, &lead);
    assert_eq!(bytes, old, "a lead without events keeps its bytes");
    // Events follow the acts; without acts, an empty list of them comes first.
    lead.events = vec![("activated".into(), at(7)), ("an event name longer than twenty-four".into(), at(8))];
    bytes.clear();
    put_lead(&mut bytes, &lead);
    assert_eq!(bytes[..old.len()], old[..]);
    assert_eq!(get_lead("k", &bytes).unwrap(), lead);
    lead.acts.clear();
    bytes.clear();
    put_lead(&mut bytes, &lead);
    assert_eq!(get_lead("k", &bytes).unwrap(), lead);
    // Cut inside them, an empty list of events, or more bytes after them: an error.
    let mut bare = Vec::new();
    put_lead(&mut bare, &Lead::new("k", at(0)));
    assert_eq!(bytes[..bare.len()], bare[..]);
    for cut in bare.len() + 1..bytes.len() {
        assert!(get_lead("k", &bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut empty = old.to_vec();
    empty.push(0);
    assert!(get_lead("k", &empty).is_err());
    bytes.push(0);
    assert!(get_lead("k", &bytes).is_err());
}
