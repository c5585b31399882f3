//! `herald ingest` applies each event once (SPEC §6), through the real binary and a real
//! database: killed with SIGKILL half way and run again, given the same `id` in another file,
//! or the same lines again; and outcomes for an action the lead never had are refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use herald::runtime::{Event, LeadStatus};
use herald::store::Store;

use crate::herald::{Herald, Out, herald_in};
use crate::support::next;

/// Leads parked in an await for an event that never comes: every other event is recorded in
/// their history and moves nothing, so the history counts the events applied.
const HOLD: &str = "\
id: hold
channel: sms
contacts:
  key: id
steps:
  - id: wait_done
    await: { event: done, timeout: 30d }
";

const LEADS: usize = 5_000;
const LINES: usize = 50_000;
const KILLS: usize = 8;

/// A directory with the campaign run once over `leads` contacts keyed 0, 1, ...
fn started(campaign: &str, leads: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("campaign.yaml"), campaign).unwrap();
    let mut csv = String::from("id,name\n");
    for i in 0..leads {
        csv.push_str(&format!("{i},C{i}\n"));
    }
    std::fs::write(d.join("c.csv"), csv).unwrap();
    let run = herald_in(d, &["run", "campaign.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once"]);
    assert!(run.status.success(), "{}", run.stderr);
    dir
}

/// Names of the `event` records in each lead's history.
fn events_by_lead(db: &Path, campaign: &str, leads: usize) -> Vec<Vec<String>> {
    let store = Store::open(db).unwrap();
    (0..leads)
        .map(|i| {
            let history = store.history(campaign, &i.to_string()).unwrap();
            history
                .into_iter()
                .filter_map(|r| match r.event {
                    Event::Event { name } => Some(name.to_string()),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// Line `j`: an event named `e<j>` for lead `j % LEADS`; a third with an `id`, a third with
/// `at`, a third with neither, so that every kind of key is exercised.
fn line(j: usize) -> String {
    let lead = j % LEADS;
    match j % 3 {
        0 => format!("{{\"type\":\"event\",\"id\":\"evt-{j}\",\"contact\":\"{lead}\",\"name\":\"e{j}\"}}\n"),
        1 => format!(
            "{{\"type\":\"event\",\"campaign\":\"hold\",\"contact\":\"{lead}\",\"name\":\"e{j}\",\"at\":\"2026-01-01T00:00:00Z\"}}\n"
        ),
        _ => format!("{{\"type\":\"event\",\"contact\":\"{lead}\",\"name\":\"e{j}\"}}\n"),
    }
}

#[test]
fn sigkill_during_ingest_then_a_rerun_applies_every_line_exactly_once() {
    let dir = started(HOLD, LEADS);
    let d = dir.path();
    let text: String = (0..LINES).map(line).collect();
    std::fs::write(d.join("events.jsonl"), text).unwrap();
    let ingest = || {
        let mut command = Herald::new().dir(d).args(["ingest", "events.jsonl", "--db", "h.redb"]).command();
        command.stdout(Stdio::null());
        command
    };

    // How long a whole ingest takes here, to spread the kills over it (on a copy).
    let timing = tempfile::tempdir().unwrap();
    for file in ["h.redb", "events.jsonl"] {
        std::fs::copy(d.join(file), timing.path().join(file)).unwrap();
    }
    let clock = Instant::now();
    let whole = herald_in(timing.path(), &["ingest", "events.jsonl", "--db", "h.redb"]);
    assert!(whole.status.success(), "{}", whole.stderr);
    let full = clock.elapsed().as_millis().max(50) as u64;

    let mut seed = 0x2545_f491_4f6c_dd1d ^ u64::from(std::process::id());
    let mut killed = 0;
    // A kill only tests resuming once some run committed before it: the database file changes.
    let modified = || std::fs::metadata(d.join("h.redb")).and_then(|m| m.modified()).unwrap();
    let untouched = modified();
    let mut spread = full / 4 + 1;
    for _ in 0..KILLS * 4 {
        if killed >= KILLS && modified() != untouched {
            break;
        }
        let mut child = ingest().stderr(Stdio::null()).spawn().unwrap();
        // Within the first quarter of a whole run: each run skips what the last one applied
        // (quickly) and gets a little further, so that most kills land before the end. On a
        // loaded machine a run may commit nothing that early: the kills then come later.
        std::thread::sleep(Duration::from_millis(next(&mut seed) % spread));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        killed += 1;
        if modified() == untouched {
            spread = (spread * 2).min(full + 1);
        }
    }
    assert!(killed >= KILLS / 2, "only {killed} kills landed before an ingest finished");
    let last = Out::from(ingest().output().unwrap());
    let err = last.stderr.clone();
    assert!(last.status.success(), "{err}");
    let found = events_by_lead(&d.join("h.redb"), "hold", LEADS);
    for (lead, names) in found.iter().enumerate() {
        let expected: Vec<String> = (lead..LINES).step_by(LEADS).map(|j| format!("e{j}")).collect();
        assert_eq!(names, &expected, "lead {lead}: every event once, in file order ({killed} kills)");
    }
    // The kills left work behind them: the last run skipped the lines committed before.
    let summary = err.lines().find_map(|l| l.strip_prefix("ingest: ")).unwrap_or_default();
    let counts: Vec<usize> = summary.split(", ").filter_map(|part| part.split(' ').next()?.parse().ok()).collect();
    assert!(matches!(counts[..], [applied, already, 0] if already > 0 && applied + already == LINES), "{err}");
    // And once more, whole: nothing is applied again.
    let again = Out::from(ingest().output().unwrap());
    assert!(again.stderr.contains(&format!("0 events applied, {LINES} already applied, 0 rejected")));
    eprintln!("{killed} kills over an ingest of {full} ms");
}

#[test]
fn an_id_is_applied_once_per_database_whatever_file_it_comes_in() {
    let dir = started(HOLD, 2);
    let d = dir.path();
    let first = concat!(
        "{\"type\":\"event\",\"id\":\"a\",\"contact\":\"0\",\"name\":\"one\"}\n",
        "{\"type\":\"event\",\"id\":\"a\",\"contact\":\"0\",\"name\":\"one\"}\n",
        "{\"type\":\"event\",\"id\":\"b\",\"contact\":\"1\",\"name\":\"two\"}\n",
        "{\"type\":\"event\",\"id\":\"\",\"contact\":\"1\",\"name\":\"two\"}\n",
    );
    std::fs::write(d.join("first.jsonl"), first).unwrap();
    let out = herald_in(d, &["ingest", "first.jsonl", "--db", "h.redb"]);
    let err = out.stderr.clone();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("first.jsonl:4: `id` is empty"), "{err}");
    assert!(err.contains("ingest: 2 events applied, 1 already applied, 1 rejected"), "{err}");
    // The same id later, in another file, with other content (an HTTP retry, a re-export).
    let second = concat!(
        "{\"type\":\"event\",\"id\":\"b\",\"contact\":\"0\",\"name\":\"changed\"}\n",
        "{\"type\":\"event\",\"id\":\"c\",\"contact\":\"0\",\"name\":\"three\"}\n",
    );
    let out = Herald::new().dir(d).args(["ingest", "-", "--db", "h.redb"]).stdin(second).run();
    let err = out.stderr.clone();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("ingest: 1 events applied, 1 already applied, 0 rejected"), "{err}");
    let found = events_by_lead(&d.join("h.redb"), "hold", 2);
    assert_eq!(found, [vec!["one", "three"], vec!["two"]]);
}

#[test]
fn identical_lines_with_at_are_one_event_and_without_at_each_counts() {
    let dir = started(HOLD, 1);
    let d = dir.path();
    let at = "{\"type\":\"event\",\"contact\":\"0\",\"name\":\"dated\",\"at\":\"2026-01-01T00:00:00Z\"}\n";
    let same_instant =
        "{\"name\":\"dated\",\"type\":\"event\",\"at\":\"2025-12-31T19:00:00-05:00\",\"contact\":\"0\"}\n";
    let plain = "{\"type\":\"event\",\"contact\":\"0\",\"name\":\"plain\"}\n";
    std::fs::write(d.join("e.jsonl"), [at, plain, same_instant, plain].concat()).unwrap();
    let out = herald_in(d, &["ingest", "e.jsonl", "--db", "h.redb"]);
    assert!(out.stderr.contains("ingest: 3 events applied, 1 already applied, 0 rejected"), "{}", out.stderr);
    // The same file again, and a file with one more plain line: only the third plain applies.
    let out = herald_in(d, &["ingest", "e.jsonl", "--db", "h.redb"]);
    assert!(out.stderr.contains("ingest: 0 events applied, 4 already applied, 0 rejected"), "{}", out.stderr);
    std::fs::write(d.join("more.jsonl"), [plain, plain, plain].concat()).unwrap();
    let out = herald_in(d, &["ingest", "more.jsonl", "--db", "h.redb"]);
    assert!(out.stderr.contains("ingest: 1 events applied, 2 already applied, 0 rejected"), "{}", out.stderr);
    let found = events_by_lead(&d.join("h.redb"), "hold", 1);
    assert_eq!(found, [vec!["dated", "plain", "plain", "plain"]]);
}

const CALLER: &str = "\
id: caller
channel: voice
contacts:
  key: id
steps:
  - id: ring
    call: { prompt: \"Hello {{ contact.name }}\" }
  - id: later
    await: { reply: 1d }
";

#[test]
fn a_call_outcome_with_no_call_in_flight_is_refused_and_changes_nothing() {
    let dir = started(CALLER, 2);
    let d = dir.path();
    let history_of = |key: &str| Store::open(&d.join("h.redb")).unwrap().history("caller", key).unwrap();
    let answered = "{\"type\":\"call\",\"contact\":\"0\",\"status\":\"answered\",\"vars\":{\"ok\":true}}\n";
    std::fs::write(d.join("a.jsonl"), answered).unwrap();
    let out = herald_in(d, &["ingest", "a.jsonl", "--db", "h.redb"]);
    assert!(out.status.success(), "the call in flight takes its outcome: {}", out.stderr);
    let before = history_of("0");
    // A second report of another outcome: the lead has moved on to the await.
    let late = "{\"type\":\"call\",\"contact\":\"0\",\"status\":\"busy\",\"duration\":3}\n";
    std::fs::write(d.join("b.jsonl"), late).unwrap();
    let out = herald_in(d, &["ingest", "b.jsonl", "--db", "h.redb"]);
    let err = out.stderr.clone();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("b.jsonl:1: no call in flight for `0` in `caller`: the lead is at step `later` (waiting)"),
        "{err}"
    );
    assert!(err.contains("ingest: 0 events applied, 0 already applied, 1 rejected"), "{err}");
    assert_eq!(history_of("0"), before, "a refused line changes nothing");
    let store = Store::open(&d.join("h.redb")).unwrap();
    let (_, lead) = store.lead("caller", "0").unwrap().unwrap();
    assert_eq!(lead.call.as_ref().and_then(|c| c.status.as_deref()), Some("answered"));
    assert_eq!(lead.status, LeadStatus::Waiting);
}

#[test]
fn a_delivery_report_for_a_lead_never_sent_a_message_is_refused() {
    // Starts tomorrow: the leads are not started and have sent nothing.
    let start = (chrono::Utc::now() + chrono::TimeDelta::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let later = format!(
        "id: later\nchannel: sms\ncontacts: {{ key: id }}\nschedule: {{ start: {start} }}\nsteps:\n  - id: hi\n    send: {{ text: \"hi\" }}\n"
    );
    let dir = started(&later, 1);
    let d = dir.path();
    let delivered = "{\"type\":\"delivery\",\"contact\":\"0\",\"status\":\"delivered\"}\n";
    std::fs::write(d.join("d.jsonl"), delivered).unwrap();
    let out = herald_in(d, &["ingest", "d.jsonl", "--db", "h.redb"]);
    let err = out.stderr.clone();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("d.jsonl:1: no message sent to `0` in `later`: the lead is not started (pending)"), "{err}");
    let store = Store::open(&d.join("h.redb")).unwrap();
    let (_, lead) = store.lead("later", "0").unwrap().unwrap();
    assert_eq!(lead.message_status, None);
    assert_eq!(store.counts("later").unwrap(), BTreeMap::from([(LeadStatus::Pending, 1)]));
}

#[test]
fn a_database_from_before_event_keys_ingests_and_remembers_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.redb");
    std::fs::copy(crate::herald::root().join("tests/fixtures/schema3.redb"), &db).unwrap();
    let opt_out = "{\"type\":\"opt_out\",\"contact\":\"+14155550177\",\"id\":\"o-1\"}\n";
    std::fs::write(dir.path().join("o.jsonl"), opt_out).unwrap();
    let args = ["ingest", "o.jsonl", "--db", "old.redb"];
    let out = herald_in(dir.path(), &args);
    assert!(out.stderr.contains("ingest: 1 events applied, 0 already applied"), "{}", out.stderr);
    let out = herald_in(dir.path(), &args);
    assert!(out.stderr.contains("ingest: 0 events applied, 1 already applied"), "{}", out.stderr);
    assert!(Store::open(&db).unwrap().is_suppressed("+14155550177").unwrap());
}
