use super::*;
use crate::runtime::LeadStatus;
use chrono::TimeZone;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn every_event() -> Vec<Event> {
    vec![
        Event::Enter,
        Event::Condition {
            what: "if".into(),
            source: "a > 1".into(),
            result: true,
            values: vec![("a".into(), "2".into())],
        },
        Event::Send { channel: "sms".into(), to: "+1".into(), text: "hé".into(), key: "k".into(), variant: None },
        Event::Send {
            channel: "sms".into(),
            to: "+1".into(),
            text: "hé".into(),
            key: "c/+1/ask/2".into(),
            variant: Some("b".into()),
        },
        Event::Call { channel: "voice".into(), to: "+1".into(), key: "c/+1/ask/3".into(), attempt: 3 },
        Event::Call { channel: "voice".into(), to: "+1".into(), key: "c/+1/ask/03".into(), attempt: 3 },
        Event::Outcome { status: "answered".into() },
        Event::Reply { text: None, intent: Some("x".into()) },
        Event::Event { name: "bought".into() },
        Event::Wait { until: at(5) },
        Event::Route { to: "next".into() },
        Event::Split { variant: "a".into() },
        Event::Set { name: "v".into(), value: "1".into() },
        Event::Retry { attempt: 2, until: at(7) },
        Event::Defer { until: Utc.timestamp_opt(1_700_000_000, 999).unwrap(), reason: "window".into() },
        Event::Skip { reason: "when".into() },
        Event::Error { reason: "boom".into() },
        Event::Exit { lead_status: LeadStatus::OptedOut, reason: Some("stop".into()) },
    ]
}

/// Records on a few steps, some repeated, with times going forwards and back, with and
/// without nanoseconds.
fn history() -> Vec<Record> {
    let steps = [None, Some("ask"), Some("ask"), Some("other"), Some("ask")];
    every_event()
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let secs = [0, 0, 60, -30, 86_400][i % 5] + i as i64;
            Record {
                at: Utc.timestamp_opt(1_800_000_000 + secs, if i % 3 == 0 { 0 } else { 7 * i as u32 }).unwrap(),
                step: steps[i % 5].map(Text::new),
                event,
            }
        })
        .collect()
}

#[test]
fn every_event_round_trips_in_both_formats() {
    let records = history();
    let mut plain = Vec::new();
    put_plain(&mut plain, &records);
    assert_eq!(get_plain(&plain).unwrap(), records);
    let mut packed = Vec::new();
    put_packed(&mut packed, &records, "c", "+1");
    assert_eq!(get_packed(&packed, "c", "+1").unwrap(), records);
    assert!(packed.len() < plain.len(), "packed {} bytes, plain {}", packed.len(), plain.len());
}

/// The history of a lead on the peer flow (send, wait, branch, send) packs to under 60%.
#[test]
fn a_usual_history_packs_to_under_sixty_percent() {
    let step = |s: &str| Some(Text::from(s));
    let send = |s: &str, text: &str| Event::Send {
        channel: "sms".into(),
        to: "+15550001".into(),
        text: text.into(),
        key: format!("peer/+15550001/{s}/1").into(),
        variant: None,
    };
    let delivered = || Event::Outcome { status: "delivered".into() };
    let records: Vec<Record> = [
        (0, step("step1"), Event::Enter),
        (0, step("step1"), send("step1", "Hi Ada, quick question about your order?")),
        (0, step("step1"), delivered()),
        (0, step("wait_2d"), Event::Enter),
        (0, step("wait_2d"), Event::Wait { until: at(172_800) }),
        (3_600, step("wait_2d"), Event::Reply { text: Some("yes".into()), intent: None }),
        (172_800, step("decide"), Event::Enter),
        (
            172_800,
            step("decide"),
            Event::Condition {
                what: "if".into(),
                source: "reply.text != null".into(),
                result: true,
                values: vec![("reply.text".into(), "\"yes\"".into())],
            },
        ),
        (172_800, step("decide"), Event::Route { to: "step2".into() }),
        (172_800, step("step2"), Event::Enter),
        (172_800, step("step2"), send("step2", "Thanks Ada! Here is the link.")),
        (172_800, step("step2"), delivered()),
        (172_800, step("step2"), Event::Exit { lead_status: LeadStatus::Completed, reason: None }),
    ]
    .into_iter()
    .map(|(secs, step, event)| Record { at: at(secs), step, event })
    .collect();
    let (mut plain, mut packed) = (Vec::new(), Vec::new());
    put_plain(&mut plain, &records);
    put_packed(&mut packed, &records, "peer", "+15550001");
    assert_eq!(get_packed(&packed, "peer", "+15550001").unwrap(), records);
    assert!(packed.len() * 100 < plain.len() * 60, "packed {} bytes, plain {}", packed.len(), plain.len());
}

#[test]
fn usual_keys_are_derived_and_others_kept() {
    let send = |key: &str| Record {
        at: at(0),
        step: Some("ask".into()),
        event: Event::Send { channel: "sms".into(), to: "x".into(), text: "t".into(), key: key.into(), variant: None },
    };
    let size = |key: &str| {
        let mut bytes = Vec::new();
        put_packed(&mut bytes, &[send(key)], "camp/a", "lead/1");
        assert_eq!(get_packed(&bytes, "camp/a", "lead/1").unwrap(), vec![send(key)], "{key}");
        bytes.len()
    };
    let usual = size("camp/a/lead/1/ask/12");
    for other in ["camp/a/lead/1/ask/012", "camp/a/lead/1/ask/", "camp/a/lead/1/ask/x", "camp/a/lead/2/ask/1", "k"] {
        assert!(size(other) > usual || other == "k", "{other}");
    }
    // The same bytes read for another lead give that lead's key: the key is not stored.
    let mut bytes = Vec::new();
    put_packed(&mut bytes, &[send("camp/a/lead/1/ask/12")], "camp/a", "lead/1");
    let other = get_packed(&bytes, "camp/a", "lead/2").unwrap();
    assert!(matches!(&other[0].event, Event::Send { key, .. } if key == "camp/a/lead/2/ask/12"));
}

#[test]
fn many_texts_beyond_the_reference_table_round_trip() {
    let records: Vec<Record> = (0..200)
        .map(|i| Record {
            at: at(i),
            step: Some(format!("s{}", i % 90).into()),
            event: Event::Set { name: format!("v{}", i % 70).into(), value: format!("{}", i % 3).into() },
        })
        .collect();
    let mut bytes = Vec::new();
    put_packed(&mut bytes, &records, "c", "k");
    assert_eq!(get_packed(&bytes, "c", "k").unwrap(), records);
}

#[test]
fn damaged_packed_bytes_are_errors_never_panics() {
    let records = history();
    let mut bytes = Vec::new();
    put_packed(&mut bytes, &records, "c", "+1");
    for cut in 0..bytes.len() {
        assert!(get_packed(&bytes[..cut], "c", "+1").is_err(), "cut at {cut}");
    }
    for i in 0..bytes.len() {
        for flip in [0x01, 0x02, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= flip;
            let _ = get_packed(&damaged, "c", "+1");
        }
    }
    assert!(get_packed(&[1, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], "c", "k").is_err());
    assert!(get_packed(&[1, 0, 1, 0], "c", "k").is_err(), "same step with no step before");
    assert!(get_packed(&[1, 0, 0, 6, 3], "c", "k").is_err(), "text number 3 never written");
}

/// A long text referred to again and again from a few bytes: refused, not gigabytes of
/// copies.
#[test]
fn references_cannot_blow_a_small_value_up() {
    let long = "x".repeat(60_000);
    let mut bytes = Vec::new();
    let mut e = Enc(&mut bytes);
    let n = 20_000u64;
    e.uint(n);
    for i in 0..n {
        e.uint(0); // time: no difference
        e.u8(0); // no step
        e.u8(6); // Event::Event { name }
        if i == 0 {
            e.uint(0);
            e.str(&long);
        } else {
            e.uint(1);
        }
    }
    assert!(bytes.len() < 150_000);
    let error = get_packed(&bytes, "c", "k").unwrap_err();
    assert!(error.contains("more text"), "{error}");
    // An honest value with a text repeated a few times reads.
    let records: Vec<Record> =
        (0..5).map(|i| Record { at: at(i), step: None, event: Event::Event { name: long.as_str().into() } }).collect();
    let mut ok = Vec::new();
    put_packed(&mut ok, &records, "c", "k");
    assert_eq!(get_packed(&ok, "c", "k").unwrap(), records);
}
