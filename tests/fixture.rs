//! A database written by an earlier herald must still open (ARCHITECTURE: "a database written
//! by an older herald opens in a newer one"). `tests/fixtures/schema2.redb` is never
//! regenerated; see tests/fixtures/README.md for how it was made.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use herald::runtime::{Event, LeadStatus};
use herald::store::{CampaignStatus, Store};

/// A copy, so that opening it (which may write) never changes the fixture in the repository.
fn copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema2.redb");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema2.redb"), &path).unwrap();
    (dir, path)
}

#[test]
fn the_schema_2_fixture_opens_and_every_table_reads() {
    let (_dir, path) = copy();
    let store = Store::open(&path).unwrap();
    let campaigns = store.campaigns().unwrap();
    let ids: Vec<(&str, CampaignStatus)> = campaigns.iter().map(|c| (c.id.as_str(), c.status)).collect();
    assert_eq!(ids, [("ask", CampaignStatus::Running), ("satisfaction-survey", CampaignStatus::Completed)]);
    assert_eq!(
        store.counts("satisfaction-survey").unwrap(),
        BTreeMap::from([
            (LeadStatus::Completed, 4),
            (LeadStatus::Exited, 3),
            (LeadStatus::OptedOut, 1),
            (LeadStatus::Skipped, 2)
        ])
    );
    assert_eq!(store.counts("ask").unwrap(), BTreeMap::from([(LeadStatus::Waiting, 1), (LeadStatus::Completed, 1)]));

    let mut opted_out = None;
    let mut leads = 0;
    store
        .for_each_lead("satisfaction-survey", |contact, lead| {
            leads += 1;
            assert_eq!(contact.key, lead.contact);
            if lead.status == LeadStatus::OptedOut {
                opted_out = Some(contact.key.clone());
            }
        })
        .unwrap();
    assert_eq!(leads, 10);
    let opted_out = opted_out.unwrap();
    assert!(store.is_suppressed(&opted_out).unwrap(), "the opt-out is on the suppression list");
    let history = store.history("satisfaction-survey", &opted_out).unwrap();
    assert!(matches!(history.first().map(|r| &r.event), Some(Event::Enter)), "{history:?}");
    assert!(
        matches!(history.last().map(|r| &r.event), Some(Event::Exit { lead_status: LeadStatus::OptedOut, .. })),
        "{history:?}"
    );

    let (contact, lead) = store.lead("ask", "+14155550101").unwrap().unwrap();
    assert_eq!((lead.status, lead.step.as_deref()), (LeadStatus::Completed, Some("thanks")));
    assert_eq!(contact.fields.get("name").and_then(|v| v.as_str()), Some("Ada"));
    let pending = store.pending_actions().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].key, "ask/+14155550101/thanks/1");
    assert_eq!(pending[0].text, "Thanks, see you!");
}

#[test]
fn the_commands_read_the_fixture() {
    let (_dir, path) = copy();
    let herald = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_herald")).args(args).output().unwrap();
    let db = path.to_str().unwrap();
    let status = herald(&["status", "--format", "json", "--db", db]);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(2), "{json}");
    let export = herald(&["export", "satisfaction-survey", "--db", db]);
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    assert_eq!(String::from_utf8_lossy(&export.stdout).lines().count(), 11, "a header and ten leads");
}
