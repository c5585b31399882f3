use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::source::{Span, Spanned};

fn at(hours: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::hours(hours)
}

fn caps(all: Option<(u32, i64)>, channels: &[(&str, u32, i64)]) -> Frequency {
    let cap = |max, hours| Cap { max, per: TimeDelta::hours(hours) };
    Frequency {
        all: all.map(|(m, h)| cap(m, h)),
        channels: channels.iter().map(|(n, m, h)| (Spanned::new(n.to_string(), Span::at(0)), cap(*m, *h))).collect(),
    }
}

#[test]
fn a_cap_frees_up_when_its_oldest_counted_send_leaves_the_period() {
    let mut ledger = Ledger::new(caps(Some((2, 24)), &[]), None);
    assert_eq!(ledger.full_until("ada", "sms", "c", at(0)), None);
    ledger.count("ada", "sms", "c", at(0));
    ledger.count("ada", "email", "c", at(5));
    let (until, why) = ledger.full_until("ada", "voice", "c", at(6)).expect("two in a day is the cap");
    assert_eq!(until, at(24), "the first send leaves the day at hour 24");
    assert_eq!(why, "policy frequency: 2 per 1d");
    assert_eq!(ledger.full_until("bob", "sms", "c", at(6)), None, "another contact counts apart");
    assert_eq!(ledger.full_until("ada", "sms", "c", at(24)), None, "a send exactly a period ago no longer counts");
}

#[test]
fn a_channel_cap_counts_only_its_channel_and_the_latest_full_cap_wins() {
    let mut ledger = Ledger::new(caps(Some((3, 24)), &[("sms", 1, 48)]), None);
    ledger.count("ada", "sms", "c", at(0));
    ledger.count("ada", "email", "c", at(1));
    assert_eq!(ledger.full_until("ada", "email", "c", at(2)), None, "email: 2 of 3 in the day");
    let (until, why) = ledger.full_until("ada", "sms", "c", at(2)).unwrap();
    assert_eq!((until, why.as_str()), (at(48), "policy frequency: sms 1 per 2d"));
    ledger.count("ada", "email", "c", at(3));
    // Both full for sms: the day frees at 24, the sms cap at 48; the later one says when.
    assert_eq!(ledger.full_until("ada", "sms", "c", at(4)).unwrap().0, at(48));
    assert_eq!(ledger.full_until("ada", "email", "c", at(4)).unwrap(), (at(24), "policy frequency: 3 per 1d".into()));
}

#[test]
fn rows_carry_only_what_changed_without_expired_sends_and_uncount_takes_one_back() {
    let mut ledger = Ledger::new(caps(Some((5, 24)), &[]), None);
    ledger.count("ada", "sms", "c", at(0));
    ledger.count("ada", "sms", "c", at(30));
    ledger.count("bob", "sms", "c", at(30));
    ledger.uncount("bob", "sms", at(30));
    let mut rows = ledger.rows(at(31));
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, "ada");
    assert_eq!(
        rows[0].1,
        vec![Sent { at: at(30), channel: "sms".into(), held_for: None }],
        "hour 0 is outside the day"
    );
    assert_eq!(rows[1], ("bob".to_string(), Vec::new()), "an empty row removes the contact");
    assert!(ledger.rows(at(31)).is_empty(), "nothing changed since");
}

#[test]
fn a_run_ledger_reads_earlier_counts_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("h.redb")).unwrap();
    let mut first = Ledger::new(caps(Some((1, 24)), &[]), Some(&store));
    assert_eq!(first.full_until("ada", "sms", "c", at(0)), None);
    first.count("ada", "sms", "c", at(0));
    let batch = crate::store::Batch { sends: first.rows(at(0)), ..Default::default() };
    store.write(batch, true).unwrap();
    let mut second = Ledger::new(caps(Some((1, 24)), &[]), Some(&store));
    assert_eq!(second.full_until("ada", "sms", "c", at(1)).map(|(t, _)| t), Some(at(24)));
    assert!(second.take_error().is_none());
}

#[test]
fn a_simulation_sweep_keeps_contacts_still_inside_a_period() {
    let mut ledger = Ledger::new(caps(Some((1, 24)), &[]), None);
    for i in 0..10_000 {
        ledger.count(&format!("c{i}"), "sms", "c", at(if i % 2 == 0 { 0 } else { 40 }));
    }
    ledger.sweep(at(41));
    assert_eq!(ledger.recent.len(), 5_000);
    assert!(ledger.full_until("c1", "sms", "c", at(41)).is_some());
    assert!(ledger.full_until("c0", "sms", "c", at(41)).is_none());
}

#[test]
fn a_lead_held_back_holds_its_slot_so_leads_held_later_go_after_it() {
    let mut ledger = Ledger::new(caps(Some((1, 24)), &[]), None);
    ledger.count("ada", "sms", "welcome", at(0));
    // The offer is held first: it gets hour 24; the survey, held later, the day after.
    assert_eq!(ledger.full_until("ada", "sms", "offer", at(1)).map(|f| f.0), Some(at(24)));
    assert_eq!(ledger.full_until("ada", "sms", "survey", at(2)).map(|f| f.0), Some(at(48)));
    // Asking again gives up the slot held before and finds the same place in the queue.
    assert_eq!(ledger.full_until("ada", "sms", "survey", at(3)).map(|f| f.0), Some(at(48)));
    // At hour 24 the offer fits (its own slot is not in its way), the survey still not.
    assert_eq!(ledger.full_until("ada", "sms", "offer", at(24)), None);
    ledger.count("ada", "sms", "offer", at(24));
    assert_eq!(ledger.full_until("ada", "sms", "survey", at(24)).map(|f| f.0), Some(at(48)));
    let held: Vec<Option<String>> = ledger.recent["ada"].iter().map(|e| e.held_for.clone()).collect();
    assert_eq!(held, [None, None, Some("survey".to_string())], "the offer's slot became its send");
}

#[test]
fn fits_keeps_every_period_at_its_max_before_and_after_the_new_action() {
    let cap = Cap { max: 2, per: TimeDelta::hours(10) };
    // Two in the period before: full until the first leaves.
    assert!(!fits(&[at(0), at(5)], cap, at(9)));
    assert!(fits(&[at(0), at(5)], cap, at(10)));
    // A slot held later counts too: at hour 1 a third would crowd the period up to hour 9.
    assert!(!fits(&[at(0), at(9)], cap, at(1)));
    assert!(fits(&[at(0), at(10)], cap, at(1)), "hour 10 is a period after hour 0");
    assert!(fits(&[at(0), at(20)], cap, at(1)), "hours 0, 1 and 20: no 10-hour period holds three");
    assert!(!fits(&[at(0), at(0)], cap, at(0)), "three at one instant");
    let (until, by) = earliest(
        &[Sent { at: at(0), channel: "sms".into(), held_for: None }],
        &[(Cap { max: 3, per: TimeDelta::hours(24) }, None), (Cap { max: 1, per: TimeDelta::hours(6) }, Some("sms"))],
        at(1),
    );
    assert_eq!((until, by), (at(6), Some(1)), "the sms cap is the one that holds it");
}
