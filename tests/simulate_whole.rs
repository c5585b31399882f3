//! `simulate --format summary` on a campaign without pacing walks each lead to its end as it is
//! imported, instead of all leads together in time order. Both ways must leave the same store:
//! every lead, its contact and its whole history, the same statuses and the same summary
//! counts. Each campaign in `campaigns/` is run with its pacing taken out (every example
//! campaign paces), with its example contacts and responses, both ways, and the stores compared
//! lead by lead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use herald::contacts::Contact;
use herald::runtime::{Lead, Record};
use herald::store::Store;

const START: &str = "2026-12-07T08:00:00Z";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

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

fn simulate(dir: &Path, file: &Path, name: &str, format: &str, db: &Path) -> String {
    let output = Command::cargo_bin("herald")
        .unwrap()
        .current_dir(dir)
        .arg("simulate")
        .arg(file)
        .arg("--contacts")
        .arg(root().join(format!("examples/{name}.csv")))
        .arg("--responses")
        .arg(root().join(format!("examples/{name}.responses.yaml")))
        .args(["--start", START, "--seed", "7", "--format", format, "--db"])
        .arg(db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{name} {format}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[test]
fn walking_each_lead_whole_leaves_the_same_store_as_walking_in_time_order() {
    let mut checked = 0;
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
        std::os::unix::fs::symlink(root().join("campaigns/templates"), dir.join("templates")).unwrap();
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, without_pacing(&text)).unwrap();
        let (whole, ordered) = (dir.join("whole.redb"), dir.join("ordered.redb"));
        let summary = simulate(&dir, &file, name, "summary", &whole);
        simulate(&dir, &file, name, "jsonl", &ordered);
        let (a, b) = (everything(&whole, &id), everything(&ordered, &id));
        assert!(!a.is_empty(), "{name}: no leads");
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{name}: the same contacts");
        for (key, lead) in &a {
            assert_eq!(Some(lead), b.get(key), "{name}: lead {key}");
        }
        // The summary counts the leads the store holds.
        assert!(summary.contains(&format!("{id}: {} contacts", a.len())), "{name}: {summary}");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} campaigns had examples");
}
