//! A database written by an earlier herald must still open (ARCHITECTURE: "a database written
//! by an older herald opens in a newer one"). `tests/fixtures/schema2.redb` and `schema3.redb`
//! are never regenerated; see tests/fixtures/README.md for how they were made.

use std::collections::BTreeMap;
use std::path::Path;

use herald::runtime::{Event, LeadStatus};
use herald::store::{CampaignStatus, Store};

use crate::herald::herald;

/// A copy, so that opening it (which may write) never changes the fixture in the repository.
fn copy() -> (tempfile::TempDir, std::path::PathBuf) {
    copy_of("schema2.redb")
}

fn copy_of(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::copy(crate::herald::root().join("tests/fixtures").join(name), &path).unwrap();
    (dir, path)
}

/// The satisfaction survey simulated into both fixtures, by final status.
fn survey_counts() -> BTreeMap<LeadStatus, u64> {
    BTreeMap::from([
        (LeadStatus::Completed, 4),
        (LeadStatus::Exited, 3),
        (LeadStatus::OptedOut, 1),
        (LeadStatus::Skipped, 2),
    ])
}

fn schema_version(path: &Path) -> u32 {
    let db = redb::Database::open(path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let meta = txn.open_table(redb::TableDefinition::<&str, u32>::new("meta")).unwrap();
    meta.get("schema_version").unwrap().unwrap().value()
}

#[test]
fn the_schema_2_fixture_opens_and_every_table_reads() {
    let (_dir, path) = copy();
    let store = Store::open(&path).unwrap();
    let campaigns = store.campaigns().unwrap();
    let ids: Vec<(&str, CampaignStatus)> = campaigns.iter().map(|c| (c.id.as_str(), c.status)).collect();
    assert_eq!(ids, [("ask", CampaignStatus::Running), ("satisfaction-survey", CampaignStatus::Completed)]);
    assert_eq!(store.counts("satisfaction-survey").unwrap(), survey_counts());
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
    let db = path.to_str().unwrap();
    let status = herald(&["status", "--format", "json", "--db", db]);
    assert!(status.status.success(), "{}", status.stderr);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(2), "{json}");
    let export = herald(&["export", "satisfaction-survey", "--db", db]);
    assert!(export.status.success(), "{}", export.stderr);
    assert_eq!(export.stdout.lines().count(), 11, "a header and ten leads");
}

/// Opening a schema 2 database upgrades it to 3 in place; its leads then take history in the
/// new (packed) format after their old (plain) rows, and read back whole.
#[test]
fn the_schema_2_fixture_is_upgraded_and_its_leads_take_new_history() {
    let (_dir, path) = copy();
    assert_eq!(schema_version(&path), 2);
    let store = Store::open(&path).unwrap();
    let (contact, lead) = store.lead("ask", "+14155550102").unwrap().unwrap();
    let before = store.history("ask", &contact.key).unwrap();
    assert!(!before.is_empty());
    let added = vec![herald::runtime::Record {
        at: chrono::DateTime::parse_from_rfc3339("2026-11-26T07:00:00.5Z").unwrap().to_utc(),
        step: Some("answer".into()),
        event: Event::Reply { text: Some("NO".into()), intent: Some("decline".into()) },
    }];
    let batch = herald::store::Batch {
        leads: vec![("ask".into(), lead.clone())],
        history: vec![("ask".into(), contact.key.clone(), lead.seq, added.clone())],
        ..herald::store::Batch::default()
    };
    store.write(batch, true).unwrap();
    drop(store);
    assert_eq!(schema_version(&path), herald::store::SCHEMA_VERSION);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.history("ask", &contact.key).unwrap(), [before, added].concat());
}

/// Schema 3: three campaigns, one simulated with each lead walked whole (its
/// history in its row), one simulated in time order, one run and ingested.
#[test]
fn the_schema_3_fixture_opens_and_every_table_reads() {
    let (_dir, path) = copy_of("schema3.redb");
    assert_eq!(schema_version(&path), 3);
    let store = Store::open(&path).unwrap();
    let ids: Vec<String> = store.campaigns().unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["ask", "peer-bench", "satisfaction-survey"]);
    assert_eq!(store.counts("peer-bench").unwrap(), BTreeMap::from([(LeadStatus::Completed, 3)]));
    assert_eq!(store.counts("satisfaction-survey").unwrap(), survey_counts());
    // A lead walked whole: its whole history, with derived action keys.
    let history = store.history("peer-bench", "1").unwrap();
    let kinds: Vec<&str> = history
        .iter()
        .map(|r| match &r.event {
            Event::Enter => "enter",
            Event::Send { .. } => "send",
            Event::Outcome { .. } => "outcome",
            Event::Wait { .. } => "wait",
            Event::Reply { .. } => "reply",
            Event::Condition { .. } => "condition",
            Event::Route { .. } => "route",
            Event::Exit { .. } => "exit",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "enter",
            "send",
            "outcome",
            "enter",
            "wait",
            "reply",
            "enter",
            "condition",
            "route",
            "enter",
            "send",
            "outcome",
            "exit"
        ]
    );
    let keys: Vec<&str> = history
        .iter()
        .filter_map(|r| if let Event::Send { key, .. } = &r.event { Some(key.as_str()) } else { None })
        .collect();
    assert_eq!(keys, ["peer-bench/1/step1/1", "peer-bench/1/step2/1"]);
    let (contact, lead) = store.lead("ask", "+14155550101").unwrap().unwrap();
    assert_eq!((lead.status, lead.step.as_deref()), (LeadStatus::Scheduled, Some("thanks")));
    assert_eq!(contact.fields.get("name").and_then(|v| v.as_str()), Some("Ada"));
    let reply = store.history("ask", "+14155550101").unwrap();
    assert!(reply.iter().any(|r| matches!(&r.event, Event::Reply { text: Some(t), .. } if t == "YES")), "{reply:?}");
    let mut opted_out = 0;
    store
        .for_each_lead("satisfaction-survey", |contact, lead| {
            if lead.status == LeadStatus::OptedOut {
                opted_out += 1;
                assert!(store.is_suppressed(&contact.key).unwrap());
            }
        })
        .unwrap();
    assert_eq!(opted_out, 1);
}
