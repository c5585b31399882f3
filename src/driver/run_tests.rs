//! `run` in-process: the engine on a virtual clock with an in-memory channel. Nothing sleeps;
//! the clock jumps to each next due time.

use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::clock::{Clock, VirtualClock};
use super::engine::Runner;
use super::run::{Args, RunError};
use crate::channel::memory::MemoryChannel;
use crate::graph::Graph;
use crate::runtime::{Input, LeadStatus};
use crate::store::{Purpose, Store};

const CONTACTS: &str = "phone,name\n+14155550100,Ann\n+14155550101,Bob\n";

struct World {
    dir: tempfile::TempDir,
    graph: Graph,
    store: Store,
    clock: VirtualClock,
    channel: MemoryChannel,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
}

/// A run whose channel answers messages `sent` at once, as the `log` channel does.
fn world(campaign: &str, at: DateTime<Utc>) -> World {
    World { channel: MemoryChannel::sent_at_once(), ..quiet_world(campaign, at) }
}

/// A run whose channel answers only when the test says so.
fn quiet_world(campaign: &str, at: DateTime<Utc>) -> World {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.csv"), CONTACTS).unwrap();
    std::fs::write(dir.path().join("c.yaml"), campaign).unwrap();
    let file = crate::source::SourceFile::new("c.yaml", campaign);
    let (graph, diagnostics) = crate::check::check_file(&file, &crate::check::Options::default());
    let graph = graph.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let store = Store::open(&dir.path().join("h.redb")).unwrap();
    store.claim(Purpose::Run).unwrap();
    World { dir, graph, store, clock: VirtualClock::new(at), channel: MemoryChannel::new() }
}

impl World {
    /// One `herald run` (with `--contacts` the first time), as a fresh process would.
    fn run(&self, contacts: bool, once: bool) -> Result<(), RunError> {
        let files = vec![self.dir.path().join("c.yaml")];
        let args = Args {
            files: files.clone(),
            contacts: contacts.then(|| self.dir.path().join("c.csv")),
            db: PathBuf::new(),
            once,
            outbox: None,
            rejects: None,
            config: None,
        };
        let mut channel = self.channel.clone();
        let graphs = std::slice::from_ref(&self.graph);
        let mut runner = Runner::new(&self.store, graphs, &files, &mut channel, &self.clock);
        let wake = tokio::sync::Notify::new();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(runner.run(&args, &wake))
    }

    fn keys(&self) -> Vec<String> {
        self.channel.handed().iter().map(|a| a.key.to_string()).collect()
    }

    fn status(&self, contact: &str) -> LeadStatus {
        self.store.lead(&self.graph.id, contact).unwrap().unwrap().1.status
    }

    /// The next due time of the campaign, the clock moved there.
    fn jump(&self) {
        let next = self.store.next_due(&self.graph.id).unwrap().expect("a lead is due later");
        self.clock.advance_to(next);
    }
}

fn assert_unique(keys: &[String]) {
    let mut sorted = keys.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), keys.len(), "a key was handed over twice: {keys:?}");
}

#[test]
fn a_two_day_wait_completes_without_sleeping() {
    let campaign = "id: nap\nchannel: sms\ncontacts: { key: phone }\nsteps:\n  - id: a\n    send: { text: \"one\" }\n  - id: pause\n    wait: 2d\n  - id: b\n    send: { text: \"two\" }\n";
    let w = world(campaign, start());
    let began = std::time::Instant::now();
    w.run(true, false).unwrap();
    assert!(began.elapsed() < std::time::Duration::from_secs(30), "the run slept");
    let handed = w.channel.handed();
    assert_eq!(handed.len(), 4, "{:?}", w.keys());
    let seconds: Vec<_> = handed.iter().filter(|a| &*a.step == "b").map(|a| a.at).collect();
    assert_eq!(seconds, vec![start() + TimeDelta::days(2); 2]);
    assert_eq!(w.clock.now(), start() + TimeDelta::days(2));
    assert_eq!(w.status("+14155550100"), LeadStatus::Completed);
    assert_eq!(w.store.campaign("nap").unwrap().unwrap().status, crate::store::CampaignStatus::Completed);
}

#[test]
fn a_schedule_window_defers_to_the_next_opening() {
    let campaign = "id: office\nchannel: sms\ncontacts: { key: phone }\nschedule: { hours: \"09:00-17:00\" }\nsteps:\n  - id: a\n    send: { text: \"hi\" }\n";
    let evening = Utc.with_ymd_and_hms(2026, 12, 1, 20, 0, 0).unwrap();
    let w = world(campaign, evening);
    w.run(true, true).unwrap();
    assert!(w.channel.handed().is_empty(), "sent outside the window: {:?}", w.keys());
    w.run(false, false).unwrap();
    let opening = Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap();
    let at: Vec<_> = w.channel.handed().iter().map(|a| a.at).collect();
    assert_eq!(at, vec![opening; 2]);
}

const THREE: &str = "id: three\nchannel: sms\ncontacts: { key: phone }\nsteps:\n  - id: a\n    send: { text: \"one\" }\n  - id: w1\n    wait: 1h\n  - id: b\n    send: { text: \"two\" }\n  - id: w2\n    wait: 1h\n  - id: c\n    send: { text: \"three\" }\n";

#[test]
fn stop_and_resume_keep_keys() {
    let w = world(THREE, start());
    w.run(true, true).unwrap();
    assert_eq!(w.keys().len(), 2);
    w.jump();
    w.run(false, true).unwrap();
    assert_eq!(w.keys().len(), 4);
    // Stopped before its first page: nothing handed, nothing lost.
    let files = vec![w.dir.path().join("c.yaml")];
    let args = Args {
        files: files.clone(),
        contacts: None,
        db: PathBuf::new(),
        once: false,
        outbox: None,
        rejects: None,
        config: None,
    };
    let mut channel = w.channel.clone();
    let mut runner = Runner::new(&w.store, std::slice::from_ref(&w.graph), &files, &mut channel, &w.clock);
    runner.stop_flag().store(true, std::sync::atomic::Ordering::SeqCst);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(runner.run(&args, &tokio::sync::Notify::new())).unwrap();
    assert_eq!(w.keys().len(), 4);
    w.run(false, false).unwrap();
    let keys = w.keys();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert_unique(&keys);
    assert!(keys.contains(&"three/+14155550101/c/1".to_string()), "{keys:?}");
}

#[test]
fn a_channel_that_fails_gets_the_same_keys_again() {
    let w = world(THREE, start());
    w.channel.set_failing(true);
    assert!(matches!(w.run(true, true), Err(RunError::Channel(_))));
    assert!(w.keys().is_empty());
    // Recorded in the outbox and not done: the next run offers them again, with their keys.
    assert_eq!(w.store.pending_actions().unwrap().len(), 2);
    w.channel.set_failing(false);
    w.run(false, false).unwrap();
    let keys = w.keys();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert_unique(&keys);
    assert!(w.store.pending_actions().unwrap().is_empty());
}

#[test]
fn a_failed_delivery_retries_per_retry_on() {
    let campaign = "id: retry\nchannel: sms\ncontacts: { key: phone }\nsteps:\n  - id: a\n    send: { text: \"one\" }\n    retry: { attempts: 1, interval: 1h, on: [failed] }\n  - id: b\n    send: { text: \"two\" }\n";
    let w = quiet_world(campaign, start());
    w.run(true, true).unwrap();
    // The memory channel answers nothing at once: the leads wait for their outcomes.
    assert_eq!(w.keys(), ["retry/+14155550100/a/1", "retry/+14155550101/a/1"]);
    let now = w.clock.now();
    assert!(w.channel.answer("retry/+14155550100/a/1", Input::Delivery { status: "failed".into() }, now));
    assert!(w.channel.answer("retry/+14155550101/a/1", Input::Delivery { status: "delivered".into() }, now));
    w.run(false, true).unwrap();
    // Bob's delivery moves him on; Ann's failure waits an hour for its retry.
    assert_eq!(w.keys()[2..], ["retry/+14155550101/b/1"]);
    w.jump();
    assert_eq!(w.clock.now(), start() + TimeDelta::hours(1));
    w.run(false, true).unwrap();
    assert_eq!(w.keys()[3..], ["retry/+14155550100/a/2"]);
    assert!(w.channel.answer("retry/+14155550100/a/2", Input::Delivery { status: "delivered".into() }, w.clock.now()));
    assert!(w.channel.answer("retry/+14155550101/b/1", Input::Delivery { status: "delivered".into() }, w.clock.now()));
    w.run(false, true).unwrap();
    assert_eq!(w.keys()[4..], ["retry/+14155550100/b/1"]);
    assert_unique(&w.keys());
    assert_eq!(w.status("+14155550101"), LeadStatus::Completed);
}

#[test]
fn a_call_outcome_routes_the_lead() {
    let campaign = "id: ring\nchannel: voice\ncontacts: { key: phone }\nsteps:\n  - id: dial\n    call: { prompt: \"hello\" }\n    routes:\n      - if: call.status == \"answered\"\n        goto: thanks\n      - else: sorry\n  - id: sorry\n    send: { channel: sms, text: \"missed you\" }\n  - id: thanks\n    send: { channel: sms, text: \"thanks\" }\n";
    let w = quiet_world(campaign, start());
    w.run(true, true).unwrap();
    assert_eq!(w.keys(), ["ring/+14155550100/dial/1", "ring/+14155550101/dial/1"]);
    let answered = Input::Call { status: "answered".into(), duration: Some(30.0), vars: Default::default() };
    assert!(w.channel.answer("ring/+14155550100/dial/1", answered, w.clock.now()));
    w.run(false, true).unwrap();
    assert_eq!(w.keys()[2..], ["ring/+14155550100/thanks/1"]);
    assert!(!w.channel.answer("ring/nobody/dial/1", Input::Delivery { status: "failed".into() }, w.clock.now()));
}

#[test]
fn a_channels_calls_in_flight_count_after_a_restart() {
    let campaign = "id: lines\nchannel: voice\ncontacts: { key: phone }\npacing:\n  channels:\n    voice: { concurrency: 1 }\nsteps:\n  - id: text\n    send: { channel: sms, text: \"we will call\" }\n  - id: dial\n    call: { prompt: \"hello\" }\n";
    let w = world(campaign, start());
    let dials = |w: &World| w.keys().into_iter().filter(|k| k.contains("/dial/")).collect::<Vec<_>>();
    w.run(true, true).unwrap();
    assert_eq!(w.keys().iter().filter(|k| k.contains("/text/")).count(), 2, "the texts are not held: {:?}", w.keys());
    assert_eq!(dials(&w), ["lines/+14155550100/dial/1"]);
    // A later process finds Ann's call still in flight: Bob waits for the line.
    w.clock.advance_to(start() + TimeDelta::minutes(5));
    w.run(false, true).unwrap();
    assert_eq!(dials(&w), ["lines/+14155550100/dial/1"]);
    let answered = Input::Call { status: "answered".into(), duration: Some(30.0), vars: Default::default() };
    assert!(w.channel.answer("lines/+14155550100/dial/1", answered, w.clock.now()));
    w.clock.advance_to(start() + TimeDelta::minutes(10));
    w.run(false, true).unwrap();
    assert_eq!(dials(&w), ["lines/+14155550100/dial/1", "lines/+14155550101/dial/1"]);
}
