//! Crash safety of `herald run` (SPEC §5): the real binary over thousands of contacts, killed
//! with SIGKILL at random moments many times, then resumed to the end. Every lead must end
//! final, every expected action must be in the outbox, and an action may appear twice only with
//! the same key and line, no more than one page of them per kill.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use herald::runtime::LeadStatus;
use herald::store::Store;

use crate::herald::Herald;
use crate::support::next;

const CONTACTS: usize = 20_000;
const KILLS: usize = 12;
/// Leads per durable page in `herald run`, times the two sends each may make in one page.
const MAX_DUPLICATES_PER_KILL: usize = 5_000 * 2;

const CAMPAIGN: &str = "\
id: crash
channel: sms
contacts:
  key: id
steps:
  - id: hello
    send: { text: \"Hi {{ contact.name }}\" }
  - id: again
    send: { text: \"Bye {{ contact.name }}\" }
";

/// `herald run` on the campaign in `dir`, its output thrown away: spawned and killed by the tests.
fn run(dir: &Path) -> Command {
    let mut command = Herald::new()
        .dir(dir)
        .args(["run", "campaign.yaml", "--contacts", "contacts.csv", "--db", "state.redb", "--outbox", "out.jsonl"])
        .command();
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command
}

#[test]
fn sigkill_at_random_moments_loses_nothing_and_repeats_at_most_a_page() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("campaign.yaml"), CAMPAIGN).unwrap();
    let mut csv = String::from("id,name\n");
    for i in 0..CONTACTS {
        csv.push_str(&format!("{i},Contact{i}\n"));
    }
    std::fs::write(dir.path().join("contacts.csv"), csv).unwrap();

    // How long an uninterrupted run takes on this machine, to spread the kills over it: the
    // faster of two, since the first run of a fresh binary can take several times longer.
    let mut full = u64::MAX;
    for _ in 0..2 {
        let timing = tempfile::tempdir().unwrap();
        for file in ["campaign.yaml", "contacts.csv"] {
            std::fs::copy(dir.path().join(file), timing.path().join(file)).unwrap();
        }
        let started = std::time::Instant::now();
        assert!(run(timing.path()).status().unwrap().success());
        full = full.min(started.elapsed().as_millis().max(50) as u64);
    }

    let mut seed = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    // Kill until KILLS kills landed (early ones hit the import, later ones the pages and the
    // re-offer), or a run got to the end before its kill. Each kill comes within the first
    // sixth of a full run's time, so that a run is killed, on average, about a twelfth of the
    // way through what is left: the KILLS / 2 kills asked for below fit with room to spare (with
    // a third, they were about all that fit, and a fast machine landed fewer).
    // A machine busy with other work while the full run was timed makes later runs finish
    // before their kill: then the whole sequence starts again from nothing, twice as fast.
    let mut killed = 0;
    let mut restarts = 0;
    while killed < KILLS {
        let mut child = run(dir.path()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(next(&mut seed) % (full / 6 + 1)));
        if child.try_wait().unwrap().is_some() {
            if killed >= KILLS / 2 || restarts == 3 {
                break;
            }
            restarts += 1;
            full = (full / 2).max(50);
            killed = 0;
            for file in ["state.redb", "out.jsonl"] {
                let _ = std::fs::remove_file(dir.path().join(file));
            }
            continue;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        killed += 1;
    }
    assert!(killed >= KILLS / 2, "only {killed} kills landed before the run finished");
    let status = run(dir.path()).status().unwrap();
    assert!(status.success(), "the resumed run failed: {status}");

    let store = Store::open(&dir.path().join("state.redb")).unwrap();
    let counts = store.counts("crash").unwrap();
    assert_eq!(counts, BTreeMap::from([(LeadStatus::Completed, CONTACTS as u64)]), "every lead final");
    assert!(store.pending_actions().unwrap().is_empty(), "no action left pending");

    let text = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("torn line {line:?}: {e}"));
        lines.entry(value["key"].as_str().unwrap().to_string()).or_default().push(line.to_string());
    }
    let expected: BTreeSet<String> =
        (0..CONTACTS).flat_map(|i| [format!("crash/{i}/hello/1"), format!("crash/{i}/again/1")]).collect();
    let found: BTreeSet<String> = lines.keys().cloned().collect();
    assert_eq!(found.difference(&expected).count(), 0, "unexpected actions");
    assert_eq!(expected.difference(&found).count(), 0, "missing actions: {:?}", expected.difference(&found).next());
    let mut duplicates = 0;
    for (key, copies) in &lines {
        assert!(copies.iter().all(|c| c == &copies[0]), "copies of {key} differ: {copies:?}");
        duplicates += copies.len() - 1;
    }
    assert!(
        duplicates <= killed * MAX_DUPLICATES_PER_KILL,
        "{duplicates} duplicate lines after {killed} kills (at most one page per kill)"
    );
    eprintln!("{killed} kills, {duplicates} duplicate lines, {} lines", text.lines().count());
}

#[test]
fn a_second_run_on_a_held_database_exits_2_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("campaign.yaml"), CAMPAIGN).unwrap();
    std::fs::write(dir.path().join("contacts.csv"), "id,name\n1,Ada\n").unwrap();
    let _held = Store::open(&dir.path().join("state.redb")).unwrap();
    let output = run(dir.path()).stderr(Stdio::piped()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use by another herald process"), "{stderr}");
}
