//! `simulate --format summary` on a campaign without pacing walks each lead to its end as it is
//! imported, instead of all leads together in time order. Both ways must leave the same store:
//! every lead, its contact and its whole history, the same statuses and the same summary
//! counts. Each campaign in `campaigns/` is run with its pacing taken out (every example
//! campaign paces), with its example contacts and responses, both ways, and the stores compared
//! lead by lead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use herald::contacts::Contact;
use herald::runtime::{Lead, Record};
use herald::store::Store;

use crate::herald::{Herald, root};

const START: &str = "2026-12-07T08:00:00Z";
const UNTIL: &str = "2026-12-08T08:00:00Z";

/// The peer benchmark's flow (../shared/peers/campaign.yaml).
const PEER: &str = include_str!("../fixtures/src/peer.yaml");

/// The campaign's text without its top-level `pacing:` block.
fn without_pacing(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("pacing:") {
            skipping = true;
            continue;
        }
        if skipping && (line.starts_with(' ') || line.trim().is_empty()) {
            continue;
        }
        skipping = false;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The peer flow and a CSV of `first` then `n` generated contacts, in a new directory.
fn peer_files(first: &str, n: usize) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let campaign = dir.path().join("peer.yaml");
    std::fs::write(&campaign, PEER).unwrap();
    let mut csv = format!("id,name,will_reply\n{first}");
    for i in 0..n {
        csv.push_str(&format!("{i},Contact{i},{}\n", i % 3 == 0));
    }
    let contacts = dir.path().join("contacts.csv");
    std::fs::write(&contacts, csv).unwrap();
    (dir, campaign, contacts)
}

/// Every lead of `campaign` in the store: its contact, its lead and its history.
fn everything(db: &Path, campaign: &str) -> BTreeMap<String, (Contact, Lead, Vec<Record>)> {
    let store = Store::open(db).unwrap();
    let mut leads = Vec::new();
    store.for_each_lead(campaign, |contact, lead| leads.push((contact.clone(), lead.clone()))).unwrap();
    leads
        .into_iter()
        .map(|(contact, lead)| {
            let history = store.history(campaign, &contact.key).unwrap();
            (contact.key.clone(), (contact, lead, history))
        })
        .collect()
}

fn simulate(dir: &Path, file: &Path, name: &str, format: &str, db: &Path, until: Option<&str>) -> String {
    let output = Herald::new()
        .dir(dir)
        .arg("simulate")
        .arg(file)
        .arg("--contacts")
        .arg(root().join(format!("examples/{name}.csv")))
        .arg("--responses")
        .arg(root().join(format!("examples/{name}.responses.yaml")))
        .args(["--start", START, "--seed", "7", "--format", format, "--db"])
        .arg(db)
        .args(until.map(|t| ["--until", t]).into_iter().flatten())
        .run();
    assert!(output.status.success(), "{name} {format}: {}\n{}", output.stdout, output.stderr);
    output.stdout
}

#[test]
fn walking_each_lead_whole_leaves_the_same_store_as_walking_in_time_order() {
    let (mut checked, mut waiting) = (0, false);
    for entry in std::fs::read_dir(root().join("campaigns")).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".yaml")) else {
            continue;
        };
        if !root().join(format!("examples/{name}.responses.yaml")).exists() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let id = text.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().trim().to_string();
        // Laid out as the repository is, for the files it names (templates, suppression lists).
        let tmp = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(root().join("examples"), tmp.path().join("examples")).unwrap();
        let dir = tmp.path().join("campaigns");
        std::fs::create_dir(&dir).unwrap();
        // Templates are copied: a link would lead outside the campaign's directory, which
        // `template:` refuses.
        std::fs::create_dir(dir.join("templates")).unwrap();
        for entry in std::fs::read_dir(root().join("campaigns/templates")).unwrap() {
            let entry = entry.unwrap().path();
            std::fs::copy(&entry, dir.join("templates").join(entry.file_name().unwrap())).unwrap();
        }
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, without_pacing(&text)).unwrap();
        // To the end, and stopped after a day with leads still waiting.
        for until in [None, Some(UNTIL)] {
            let (whole, ordered) = (dir.join("whole.redb"), dir.join("ordered.redb"));
            let summary = simulate(&dir, &file, name, "summary", &whole, until);
            simulate(&dir, &file, name, "jsonl", &ordered, until);
            let (a, b) = (everything(&whole, &id), everything(&ordered, &id));
            assert!(!a.is_empty(), "{name}: no leads");
            assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{name}: the same contacts");
            for (key, lead) in &a {
                assert_eq!(Some(lead), b.get(key), "{name} until {until:?}: lead {key}");
            }
            // The due index too: the leads still waiting wake at the same times.
            let (sa, sb) = (Store::open(&whole).unwrap(), Store::open(&ordered).unwrap());
            assert_eq!(sa.next_due(&id).unwrap(), sb.next_due(&id).unwrap(), "{name}: next due");
            let later = chrono::DateTime::parse_from_rfc3339("2027-12-31T00:00:00Z").unwrap().to_utc();
            let due = |s: &Store| {
                s.due(&id, later, None, 10_000).unwrap().into_iter().map(|(c, _)| c.key).collect::<Vec<_>>()
            };
            assert_eq!(due(&sa), due(&sb), "{name}: due leads");
            if until.is_some() {
                waiting |= !due(&sa).is_empty();
            }
            // The summary counts the leads the store holds.
            assert!(summary.contains(&format!("{id}: {} contacts", a.len())), "{name}: {summary}");
            drop((sa, sb));
            std::fs::remove_file(&whole).unwrap();
            std::fs::remove_file(&ordered).unwrap();
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} campaigns had examples");
    assert!(waiting, "no campaign had leads still waiting after a day");
}

/// A second import into the same database adds only the new contacts, and the summary's
/// statuses are the store's (all five leads), not only this run's.
#[test]
fn a_second_import_adds_only_new_contacts_and_counts_every_lead() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = dir.path().join("peer.yaml");
    std::fs::write(&campaign, PEER).unwrap();
    let db = dir.path().join("sim.redb");
    let run = |rows: &str| {
        let csv = dir.path().join("contacts.csv");
        std::fs::write(&csv, format!("id,name,will_reply\n{rows}")).unwrap();
        let output = Herald::new()
            .arg("simulate")
            .arg(&campaign)
            .arg("--contacts")
            .arg(&csv)
            .args(["--start", START, "--format", "summary", "--db"])
            .arg(&db)
            .run();
        assert!(output.status.success(), "{}", output.stderr);
        output.stdout
    };
    let first = run("1,Ann,true\n2,Bob,false\n3,Cy,false\n");
    assert!(first.contains("completed              3  100.0%"), "{first}");
    let second = run("1,Ann,true\n2,Bob,false\n3,Cy,false\n4,Di,true\n5,Ed,false\n");
    assert!(second.contains("completed              5  100.0%"), "{second}");
    assert!(second.contains("step1                            2          2"), "only the new leads ran: {second}");
    assert_eq!(everything(&db, "peer-bench").len(), 5);
}

/// A key first seen on a row that is skipped (a bad `bool`) and again on a valid row many rows
/// later: the first row wins, in the store and in the summary, however the leads are spread
/// over the threads.
#[test]
fn a_key_repeated_after_a_skipped_row_stays_skipped() {
    let (dir, campaign, contacts) = peer_files("1,Ann,maybe\n", 6_000);
    for run in 0..3 {
        let db = dir.path().join(format!("sim{run}.redb"));
        let output = Herald::new()
            .arg("simulate")
            .arg(&campaign)
            .arg("--contacts")
            .arg(&contacts)
            .args(["--start", START, "--format", "summary", "--db"])
            .arg(&db)
            .run();
        let stdout = &output.stdout;
        assert!(output.status.success(), "{}", output.stderr);
        assert!(stdout.contains("6,001 rows: 5,999 imported, 2 skipped (1 invalid_field, 1 duplicate)"), "{stdout}");
        assert!(stdout.contains("completed           5999"), "{stdout}");
        let leads = everything(&db, "peer-bench");
        assert_eq!(leads.len(), 6_000);
        assert_eq!(leads["1"].1.status, herald::runtime::LeadStatus::Skipped, "run {run}");
    }
}

/// When the writer fails part way (here the file-size limit stops the database growing), the
/// walk stops and says why: exit 2, never a hang with the readers waiting on the workers.
#[test]
fn a_store_that_fails_part_way_stops_the_walk_with_its_error() {
    let (dir, campaign, contacts) = peer_files("", 60_000);
    let script = format!(
        "trap '' XFSZ; ulimit -f 4000; exec timeout 60 {} simulate {} --contacts {} --format summary --db {}",
        crate::herald::BIN,
        campaign.display(),
        contacts.display(),
        dir.path().join("sim.redb").display()
    );
    let output = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(124), "it hung: {stderr}");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
}
