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
    // Rows are a run's: its ledger counts into the store.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("h.redb")).unwrap();
    let mut ledger = Ledger::new(caps(Some((5, 24)), &[]), Some(&store));
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

#[test]
fn a_stored_send_at_the_end_of_time_is_damage_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("h.redb")).unwrap();
    // A damaged row: a time no cap's period can be added to.
    let end = DateTime::<Utc>::MAX_UTC - TimeDelta::hours(1);
    let sends = vec![("ada".to_string(), vec![Sent { at: end, channel: "sms".into(), held_for: None }])];
    store.write(crate::store::Batch { sends, ..Default::default() }, true).unwrap();
    let mut ledger = Ledger::new(caps(Some((1, 24)), &[]), Some(&store));
    assert!(ledger.full_until("ada", "sms", "c", at(0)).is_some(), "held while the count is unknown");
    let error = ledger.take_error().expect("the row is reported as damaged").to_string();
    assert!(error.contains("the sends of `ada`"), "{error}");
}

/// Two campaigns in one run on a virtual clock, one contact, a cap of one text a day: `drip`
/// (listed first) texts daily, `once` texts one time.
#[test]
fn a_lead_held_by_the_cap_goes_first_when_the_cap_frees() {
    use crate::channel::memory::MemoryChannel;
    use crate::driver::clock::VirtualClock;
    let drip = "id: drip\nchannel: sms\npurpose: transactional\nsteps:\n  - id: d1\n    send: { text: one }\n  - id: w1\n    wait: 1d\n  - id: d2\n    send: { text: two }\n  - id: w2\n    wait: 1d\n  - id: d3\n    send: { text: three }\n";
    let once = "id: once\nchannel: sms\npurpose: transactional\nsteps:\n  - id: o1\n    send: { text: hello }\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.csv"), "phone\n+14155550100\n").unwrap();
    let mut graphs = Vec::new();
    let mut files = Vec::new();
    for (name, text) in [("drip.yaml", drip), ("once.yaml", once)] {
        std::fs::write(dir.path().join(name), text).unwrap();
        let file = crate::source::SourceFile::new(name, text);
        let (graph, diagnostics) = crate::check::check_file(&file, &crate::check::Options::default());
        graphs.push(graph.unwrap_or_else(|| panic!("{diagnostics:?}")));
        files.push(dir.path().join(name));
    }
    let store = Store::open(&dir.path().join("h.redb")).unwrap();
    store.claim(crate::store::Purpose::Run).unwrap();
    let clock = VirtualClock::new(at(0));
    let mut channel = MemoryChannel::sent_at_once();
    let handed = channel.clone();
    let args = crate::driver::run::Args {
        files: files.clone(),
        contacts: Some(dir.path().join("c.csv")),
        db: std::path::PathBuf::new(),
        once: false,
        outbox: None,
        rejects: None,
        config: None,
    };
    let mut runner = crate::driver::engine::Runner::new(&store, &graphs, &files, &mut channel, &clock)
        .with_frequency(Some(caps(Some((1, 24)), &[])));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(runner.run(&args, &tokio::sync::Notify::new())).unwrap();
    let sent: Vec<(String, DateTime<Utc>)> = handed.handed().iter().map(|a| (a.step.to_string(), a.at)).collect();
    assert_eq!(sent[0], ("d1".to_string(), at(0)));
    // Held since hour 0, `once` is the first to go when the cap frees at hour 24.
    assert_eq!(sent[1], ("o1".to_string(), at(24)), "{sent:?}");
}

#[test]
fn a_simulation_ledger_lets_go_of_every_contact_it_forgets_or_sweeps() {
    let mut ledger = Ledger::new(caps(Some((1, 24)), &[]), None);
    for i in 0..20_000 {
        ledger.count(&format!("c{i}"), "sms", "c", at(0));
        ledger.uncount(&format!("c{i}"), "sms", at(0));
        ledger.count(&format!("c{i}"), "sms", "c", at(0));
        if i % 2 == 0 {
            ledger.forget(&format!("c{i}"));
        }
    }
    ledger.sweep(at(25));
    assert!(ledger.recent.is_empty());
    // A simulation writes no rows: nothing may pile up for them either.
    assert!(ledger.dirty.is_empty(), "{} contacts kept as changed", ledger.dirty.len());
}
