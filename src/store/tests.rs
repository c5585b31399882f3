use super::*;
use crate::runtime::{ActionKind, Event};
use chrono::TimeZone;
use serde_json::json;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn contact(key: &str) -> Contact {
    let fields: crate::fields::Fields =
        json!({"first_name": "Ada", "plan": "pro", "score": 7}).as_object().unwrap().clone().into();
    Contact { key: key.to_string(), timezone: Some("Europe/Paris".into()), fields }
}

fn lead(key: &str, status: LeadStatus, wake: Option<i64>) -> Lead {
    Lead { status, wake_at: wake.map(at), ..Lead::new(key, at(0)) }
}

fn action(key: &str) -> Action {
    Action {
        key: key.into(),
        kind: ActionKind::Send,
        campaign: "c".into(),
        contact: "a".into(),
        step: "hello".into(),
        attempt: 1,
        channel: "sms".into(),
        to: "+15550001".into(),
        from: None,
        subject: None,
        text: "hi".into(),
        agent: None,
        variant: None,
        at: at(0),
        voicemail: None,
        max_duration: None,
        html: false,
    }
}

fn record(secs: i64, event: Event) -> Record {
    Record { at: at(secs), step: Some("s".into()), event }
}

fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("herald.db")).unwrap();
    (dir, store)
}

/// New leads as the drivers make them, each with the history its first steps wrote.
fn leads_of(items: Vec<(&str, Contact, Lead, Vec<Record>)>) -> NewLeads {
    let mut out = NewLeads::default();
    for (campaign, contact, lead, history) in items {
        out.push(campaign, &contact, &lead, &history);
    }
    out
}

fn import(store: &Store, campaign: &str, leads: &[Lead]) -> usize {
    let contacts = leads_of(leads.iter().map(|l| (campaign, contact(&l.contact), l.clone(), Vec::new())).collect());
    store.write(Batch { contacts, ..Batch::default() }, false).unwrap().new_contacts
}

fn update(store: &Store, campaign: &str, leads: &[Lead]) {
    let leads = leads.iter().map(|l| (campaign.to_string(), l.clone())).collect();
    store.write(Batch { leads, ..Batch::default() }, false).unwrap();
}

fn due_keys(store: &Store, campaign: &str, until: i64, limit: usize) -> Vec<String> {
    store
        .due(campaign, at(until), None, limit)
        .unwrap()
        .into_iter()
        .map(|(c, l)| {
            assert_eq!(c.key, l.contact);
            l.contact
        })
        .collect()
}

#[test]
fn every_table_round_trips_through_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herald.db");
    let campaign = CampaignRecord {
        id: "c".into(),
        name: "Welcome".into(),
        status: CampaignStatus::Running,
        content_hash: "abc".into(),
        started_at: Some(at(1)),
        path: Some("/campaigns/c.yaml".into()),
        pace: vec![(at(59), 2)],
        pace_narrow: Default::default(),
        region: Some("GB".into()),
    };
    let mut waiting = lead("a", LeadStatus::Waiting, Some(50));
    waiting.vars.insert("n".into(), json!(3));
    waiting.variants.insert("split".into(), "b".into());
    let first = vec![record(1, Event::Enter), record(2, Event::Wait { until: at(50) })];
    let second = vec![record(50, Event::Route { to: "end".into() })];
    {
        let store = Store::open(&path).unwrap();
        let batch = Batch {
            campaigns: vec![campaign.clone()],
            contacts: leads_of(vec![("c", contact("a"), waiting.clone(), Vec::new())]),
            history: vec![("c".into(), "a".into(), 2, second.clone()), ("c".into(), "a".into(), 0, first.clone())],
            outbox: vec![action("k1"), action("k2")],
            done: vec!["k1".into()],
            suppress: vec!["+15550009".into()],
            ..Batch::default()
        };
        assert_eq!(store.write(batch, true).unwrap(), WriteSummary { new_contacts: 1, updated_contacts: 0 });
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.campaign("c").unwrap(), Some(campaign.clone()));
    assert_eq!(store.campaign("x").unwrap(), None);
    assert_eq!(store.campaigns().unwrap(), vec![campaign]);
    assert_eq!(store.lead("c", "a").unwrap(), Some((contact("a"), waiting)));
    assert_eq!(store.lead("c", "b").unwrap(), None);
    assert_eq!(store.history("c", "a").unwrap(), [first, second].concat());
    assert_eq!(store.history("c", "b").unwrap(), vec![]);
    assert_eq!(store.pending_actions().unwrap(), vec![action("k2")]);
    assert!(store.is_done("k1").unwrap() && !store.is_done("k2").unwrap());
    assert!(store.is_suppressed("+15550009").unwrap() && !store.is_suppressed("+15550001").unwrap());
    assert_eq!(store.next_due("c").unwrap(), Some(at(50)));
}

#[test]
fn due_is_earliest_first_ties_by_key_within_until_and_limit() {
    let (_dir, store) = new_store();
    let sub_second =
        Lead { wake_at: Some(at(20) + chrono::Duration::nanoseconds(5)), ..lead("e", LeadStatus::Scheduled, None) };
    import(
        &store,
        "c",
        &[
            lead("d", LeadStatus::Scheduled, Some(20)),
            lead("b", LeadStatus::Scheduled, Some(10)),
            lead("a", LeadStatus::Scheduled, Some(20)),
            lead("c", LeadStatus::Scheduled, Some(30)),
            sub_second,
            lead("f", LeadStatus::Skipped, None),
        ],
    );
    import(&store, "other", &[lead("z", LeadStatus::Scheduled, Some(0))]);
    assert_eq!(due_keys(&store, "c", 100, 100), ["b", "a", "d", "e", "c"]);
    assert_eq!(due_keys(&store, "c", 20, 100), ["b", "a", "d"]);
    assert_eq!(due_keys(&store, "c", 9, 100), Vec::<String>::new());
    assert_eq!(due_keys(&store, "c", 100, 2), ["b", "a"]);
    assert_eq!(due_keys(&store, "other", 100, 10), ["z"]);
    assert_eq!(store.next_due("c").unwrap(), Some(at(10)));
    assert_eq!(store.next_due("none").unwrap(), None);
    assert_eq!(store.next_due("b").unwrap(), None);
}

#[test]
fn due_count_counts_one_campaigns_due_leads_up_to_a_time() {
    let (_dir, store) = new_store();
    let sub_second =
        Lead { wake_at: Some(at(20) + chrono::Duration::nanoseconds(5)), ..lead("e", LeadStatus::Scheduled, None) };
    let c = [("a", 10), ("b", 20), ("c", 20), ("d", 30)].map(|(k, t)| lead(k, LeadStatus::Waiting, Some(t)));
    import(&store, "c", &[&c[..], &[sub_second, lead("f", LeadStatus::Completed, None)]].concat());
    import(&store, "d", &[lead("z", LeadStatus::Scheduled, Some(0))]);
    import(&store, "b", &[lead("y", LeadStatus::Scheduled, Some(15))]);
    let counts: Vec<u64> = [9, 10, 19, 20, 21, 100].map(|t| store.due_count("c", at(t)).unwrap()).into();
    // Due at 10, 20, 20, 20 s + 5 ns and 30; the completed lead is never due.
    assert_eq!(counts, [0, 1, 1, 3, 4, 5]);
    assert_eq!(store.due_count("d", at(100)).unwrap(), 1);
    assert_eq!(store.due_count("none", at(100)).unwrap(), 0);
}

#[test]
fn due_index_follows_the_lead() {
    let (_dir, store) = new_store();
    import(&store, "c", &[lead("a", LeadStatus::Pending, Some(0)), lead("b", LeadStatus::Pending, Some(5))]);
    update(&store, "c", &[lead("a", LeadStatus::Scheduled, Some(30))]);
    assert_eq!(due_keys(&store, "c", 100, 10), ["b", "a"]);
    assert_eq!(due_keys(&store, "c", 10, 10), ["b"]);
    update(&store, "c", &[lead("b", LeadStatus::Completed, Some(5))]);
    assert_eq!(due_keys(&store, "c", 100, 10), ["a"]);
    update(&store, "c", &[lead("a", LeadStatus::InProgress, None)]);
    assert_eq!(due_keys(&store, "c", 100, 10), Vec::<String>::new());
    assert_eq!(store.next_due("c").unwrap(), None);
    update(&store, "c", &[lead("a", LeadStatus::Waiting, Some(40))]);
    assert_eq!(store.next_due("c").unwrap(), Some(at(40)));
    let (_, a) = store.lead("c", "a").unwrap().unwrap();
    assert_eq!((a.status, a.wake_at), (LeadStatus::Waiting, Some(at(40))));
}

#[test]
fn a_removed_lead_leaves_no_row_due_entry_or_history() {
    let (_dir, store) = new_store();
    import(&store, "c", &[lead("a", LeadStatus::Pending, Some(0)), lead("b", LeadStatus::Pending, Some(5))]);
    let history = vec![("c".to_string(), "a".to_string(), 0, vec![record(0, Event::Enter)])];
    store.write(Batch { history, ..Batch::default() }, false).unwrap();
    let remove = vec![("c".to_string(), "a".to_string()), ("c".to_string(), "nobody".to_string())];
    store.write(Batch { remove, ..Batch::default() }, false).unwrap();
    assert!(store.lead("c", "a").unwrap().is_none());
    assert!(store.history("c", "a").unwrap().is_empty());
    assert_eq!(due_keys(&store, "c", 100, 10), ["b"]);
}

#[test]
fn leads_imported_together_share_one_history_block_and_a_removal_scrubs_only_its_entry() {
    let (_dir, store) = new_store();
    let said = |i: usize| Event::Reply { text: Some(format!("reply number {i}").into()), intent: None };
    let items = (0..50)
        .map(|i| {
            let key = format!("k{i:02}");
            // Lead 7 has no history: it has no entry, and the entries after it still line up.
            let history = if i == 7 { Vec::new() } else { vec![record(0, Event::Enter), record(i as i64, said(i))] };
            ("c", contact(&key), lead(&key, LeadStatus::Waiting, Some(9)), history)
        })
        .collect();
    store.write(Batch { contacts: leads_of(items), ..Batch::default() }, false).unwrap();
    let block = |store: &Store| {
        let txn = store.db.begin_read().unwrap();
        let table = txn.open_table(HISTORY).unwrap();
        assert_eq!(redb::ReadableTableMetadata::len(&table).unwrap(), 1, "one block for the batch");
        table.get(1).unwrap().unwrap().value().to_vec()
    };
    let expected =
        |i: usize| if i == 7 { Vec::new() } else { vec![record(0, Event::Enter), record(i as i64, said(i))] };
    for i in 0..50 {
        assert_eq!(store.history("c", &format!("k{i:02}")).unwrap(), expected(i), "lead {i}");
    }
    let contains = |bytes: &[u8], text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
    assert!(contains(&block(&store), "reply number 23"));
    store.write(Batch { remove: vec![("c".into(), "k23".into())], ..Batch::default() }, false).unwrap();
    assert!(store.lead("c", "k23").unwrap().is_none());
    let after = block(&store);
    assert!(!contains(&after, "reply number 23"), "the removed lead's history is gone from the block");
    assert!(contains(&after, "reply number 24"));
    for i in (0..50).filter(|&i| i != 23) {
        assert_eq!(store.history("c", &format!("k{i:02}")).unwrap(), expected(i), "lead {i} after the removal");
    }
    // Later history rows are listed after the block's entry.
    let later = vec![record(99, Event::Event { name: "later".into() })];
    store
        .write(Batch { history: vec![("c".into(), "k40".into(), 3, later.clone())], ..Batch::default() }, false)
        .unwrap();
    assert_eq!(store.history("c", "k40").unwrap(), [expected(40), later].concat());
}

#[test]
fn damaged_history_blocks_are_errors_never_panics() {
    let mut leads = NewLeads::default();
    let history: Vec<Record> = (0..3).map(|i| record(i, Event::Enter)).collect();
    for key in ["a", "b", "c"] {
        leads.push("c", &contact(key), &lead(key, LeadStatus::Waiting, None), &history);
    }
    let block = leads.seal(1, FORMAT_BLOCK);
    assert_eq!(rows::block_entry(&block[1..], 1).map(<[u8]>::len), rows::block_entry(&block[1..], 0).map(<[u8]>::len));
    for cut in 0..block.len() {
        let mut damaged = block[1..cut.max(1)].to_vec();
        for entry in 0..4 {
            let _ = rows::block_entry(&damaged, entry);
            let _ = rows::scrub_entry(&damaged, entry, FORMAT_BLOCK);
        }
        // Entry ends out of order.
        if damaged.len() > 8 {
            damaged[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
            for entry in 0..4 {
                let _ = rows::block_entry(&damaged, entry);
                let _ = rows::scrub_entry(&damaged, entry, FORMAT_BLOCK);
            }
        }
    }
    assert!(rows::block_entry(&block[1..], 3).is_err(), "three entries");
    // A row whose block is missing, or is not a block.
    let (_dir, store) = new_store();
    let row = |id: u64| {
        let mut own = vec![0u8];
        own.extend_from_slice(&id.to_le_bytes());
        own.push(0);
        rows::encode(&[], &own, &lead("x", LeadStatus::Waiting, None), [])
    };
    let txn = store.db.begin_write().unwrap();
    {
        let mut table = txn.open_table(LEADS).unwrap();
        table.insert(("c", "missing"), row(5).as_slice()).unwrap();
        table.insert(("c", "plain"), row(6).as_slice()).unwrap();
        txn.open_table(HISTORY).unwrap().insert(6, [FORMAT_RECORDS, 0].as_slice()).unwrap();
    }
    txn.commit().unwrap();
    for key in ["missing", "plain"] {
        let result = store.history("c", key);
        assert!(matches!(result, Err(StoreError::Corrupt { .. })), "{key}: {result:?}");
        let result = store.write(Batch { remove: vec![("c".into(), key.into())], ..Batch::default() }, false);
        assert!(matches!(result, Err(StoreError::Corrupt { .. })), "{key}: {result:?}");
    }
}

#[test]
fn a_reimport_adds_only_new_contacts_and_keeps_cursors() {
    let (_dir, store) = new_store();
    assert_eq!(
        import(&store, "c", &[lead("a", LeadStatus::Pending, Some(0)), lead("b", LeadStatus::Pending, Some(0))]),
        2
    );
    update(&store, "c", &[lead("a", LeadStatus::Waiting, Some(99))]);
    let again = [
        lead("a", LeadStatus::Pending, Some(0)),
        lead("b", LeadStatus::Pending, Some(0)),
        lead("c", LeadStatus::Pending, Some(0)),
    ];
    assert_eq!(import(&store, "c", &again), 1);
    assert_eq!(store.lead("c", "a").unwrap().unwrap().1.status, LeadStatus::Waiting);
    assert_eq!(due_keys(&store, "c", 100, 10), ["b", "c", "a"]);
    // The same contact in another campaign is a new lead there.
    assert_eq!(import(&store, "d", &[lead("a", LeadStatus::Pending, Some(0))]), 1);
    // Duplicates within one batch: the first wins.
    let dup = [lead("x", LeadStatus::Pending, Some(1)), lead("x", LeadStatus::Pending, Some(2))];
    assert_eq!(import(&store, "c", &dup), 1);
    assert_eq!(store.lead("c", "x").unwrap().unwrap().1.wake_at, Some(at(1)));
}

#[test]
fn new_leads_interleaved_with_existing_ones_fill_the_gaps_and_leave_the_old_rows() {
    // Keys as text ("10" sorts between "1" and "100"), every third one already there, so the
    // new keys come in short runs between existing rows, before the first and after the last,
    // and in campaigns on either side.
    let (_dir, store) = new_store();
    let keys: Vec<String> = (1..400).map(|i| i.to_string()).collect();
    let mut old: Vec<Lead> = keys.iter().step_by(3).map(|k| lead(k, LeadStatus::Waiting, Some(50))).collect();
    // "m2" will come alone between two stored rows.
    old.extend([lead("m1", LeadStatus::Waiting, Some(50)), lead("m3", LeadStatus::Waiting, Some(50))]);
    assert_eq!(import(&store, "c", &old), 135);
    let mut again: Vec<Lead> = keys.iter().rev().map(|k| lead(k, LeadStatus::Pending, Some(7))).collect();
    again.extend([lead("0", LeadStatus::Pending, Some(7)), lead("zz", LeadStatus::Pending, Some(7))]);
    again.extend([lead("m3", LeadStatus::Pending, Some(7)), lead("m2", LeadStatus::Pending, Some(7))]);
    // A contact twice in the batch: the first wins.
    again.push(lead("zz", LeadStatus::Pending, Some(9)));
    let mut contacts = leads_of(again.iter().map(|l| ("c", contact(&l.contact), l.clone(), Vec::new())).collect());
    for (campaign, key) in [("b", "5"), ("d", "5"), ("d", "1")] {
        contacts.push(campaign, &contact(key), &lead(key, LeadStatus::Pending, Some(3)), &[]);
    }
    let written = store.write(Batch { contacts, ..Batch::default() }, false).unwrap();
    assert_eq!(written.new_contacts, 399 - 133 + 2 + 1 + 3);
    for (i, key) in keys.iter().enumerate() {
        let expected = if i % 3 == 0 { LeadStatus::Waiting } else { LeadStatus::Pending };
        assert_eq!(store.lead("c", key).unwrap().unwrap().1.status, expected, "lead {key}");
    }
    for (key, expected) in [("0", LeadStatus::Pending), ("m1", LeadStatus::Waiting), ("m2", LeadStatus::Pending)] {
        assert_eq!(store.lead("c", key).unwrap().unwrap().1.status, expected, "lead {key}");
    }
    assert_eq!(store.lead("c", "m3").unwrap().unwrap().1.status, LeadStatus::Waiting);
    assert_eq!(store.lead("c", "zz").unwrap().unwrap().1.wake_at, Some(at(7)));
    let due = due_keys(&store, "c", 100, 1_000);
    assert_eq!(due.len(), 404);
    assert_eq!(due.iter().filter(|k| store.lead("c", k).unwrap().unwrap().1.wake_at == Some(at(50))).count(), 135);
    assert_eq!(due_keys(&store, "d", 100, 10), ["1", "5"]);
    assert_eq!(due_keys(&store, "b", 100, 10), ["5"]);
}

#[test]
fn a_reimport_leaves_the_history_of_an_existing_lead_alone() {
    let (_dir, store) = new_store();
    let first = vec![record(0, Event::Enter)];
    let batch = Batch {
        contacts: leads_of(vec![("c", contact("a"), lead("a", LeadStatus::Waiting, Some(9)), first.clone())]),
        ..Batch::default()
    };
    store.write(batch, false).unwrap();
    let skip = vec![record(1, Event::Skip { reason: "suppressed".into() })];
    let again = Batch {
        contacts: leads_of(vec![("c", contact("a"), lead("a", LeadStatus::Skipped, None), skip)]),
        ..Batch::default()
    };
    assert_eq!(store.write(again, false).unwrap().new_contacts, 0);
    assert_eq!(store.history("c", "a").unwrap(), first);
    assert_eq!(store.lead("c", "a").unwrap().unwrap().1.status, LeadStatus::Waiting);
    let txn = store.db.begin_read().unwrap();
    let rows = redb::ReadableTableMetadata::len(&txn.open_table(HISTORY).unwrap()).unwrap();
    assert_eq!(rows, 1, "the first import's history block, and none for the second");
}

#[test]
fn counts_and_for_each_lead_cover_one_campaign() {
    let (_dir, store) = new_store();
    import(&store, "b", &[lead("x", LeadStatus::Pending, Some(0))]);
    import(
        &store,
        "c",
        &[
            lead("c", LeadStatus::Pending, Some(0)),
            lead("a", LeadStatus::Waiting, Some(1)),
            lead("b", LeadStatus::Skipped, None),
        ],
    );
    import(&store, "cc", &[lead("y", LeadStatus::Pending, Some(0))]);
    // A lead stored without a contact row still streams, with a bare contact.
    update(&store, "c", &[lead("bb", LeadStatus::Completed, None)]);
    let counts = store.counts("c").unwrap();
    let expected =
        [(LeadStatus::Pending, 1), (LeadStatus::Waiting, 1), (LeadStatus::Completed, 1), (LeadStatus::Skipped, 1)];
    assert_eq!(counts, BTreeMap::from(expected));
    let mut seen = Vec::new();
    store
        .for_each_lead("c", |contact, lead| {
            seen.push((contact.key.clone(), contact.fields.len(), lead.contact.clone()))
        })
        .unwrap();
    let expected = [("a", 3, "a"), ("b", 3, "b"), ("bb", 0, "bb"), ("c", 3, "c")];
    assert_eq!(seen, expected.map(|(k, n, l)| (k.to_string(), n, l.to_string())));
    let mut none = 0;
    store.for_each_lead("nope", |_, _| none += 1).unwrap();
    assert_eq!(none, 0);
    assert!(store.counts("nope").unwrap().is_empty());
}

#[test]
fn the_outbox_keeps_recorded_actions_until_done() {
    let (_dir, store) = new_store();
    store.write(Batch { outbox: vec![action("k2"), action("k1")], ..Batch::default() }, true).unwrap();
    let keys = |store: &Store| store.pending_actions().unwrap().into_iter().map(|a| a.key).collect::<Vec<_>>();
    assert_eq!(keys(&store), ["k1", "k2"]);
    assert!(!store.is_done("k1").unwrap());
    store.write(Batch { done: vec!["k1".into()], ..Batch::default() }, true).unwrap();
    assert_eq!(keys(&store), ["k2"]);
    assert!(store.is_done("k1").unwrap());
    // Recorded and done in one batch: done wins.
    store
        .write(Batch { outbox: vec![action("k3")], done: vec!["k3".into(), "k2".into()], ..Batch::default() }, true)
        .unwrap();
    assert!(keys(&store).is_empty());
    assert!(store.is_done("k3").unwrap() && store.is_done("k2").unwrap());
}

#[test]
fn a_second_open_is_locked() {
    let (dir, _store) = new_store();
    let error = Store::open(&dir.path().join("herald.db")).unwrap_err();
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    assert!(error.to_string().contains("is in use by another herald process"), "{error}");
}

#[test]
fn a_garbage_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    for bytes in [b"id,name\n1,ada\n".repeat(1000), (0..=255u8).cycle().take(10_000).collect(), vec![0; 4096]] {
        std::fs::write(&path, bytes).unwrap();
        let error = Store::open(&path).unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    }
}

#[test]
fn a_foreign_redb_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(TableDefinition::<&str, &str>::new("things")).unwrap().insert("a", "b").unwrap();
        txn.commit().unwrap();
    }
    let error = Store::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    // Same table name, other types.
    let path = dir.path().join("other2.db");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(TableDefinition::<&str, &str>::new("meta")).unwrap().insert("a", "b").unwrap();
        txn.commit().unwrap();
    }
    let error = Store::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
}

#[test]
fn a_newer_schema_is_refused() {
    let (dir, store) = new_store();
    let txn = store.db.begin_write().unwrap();
    txn.open_table(META).unwrap().insert(SCHEMA_KEY, SCHEMA_VERSION + 1).unwrap();
    txn.commit().unwrap();
    drop(store);
    let error = Store::open(&dir.path().join("herald.db")).unwrap_err();
    assert!(matches!(error, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1), "{error:?}");
    assert!(error.to_string().contains("newer herald"), "{error}");
}

#[test]
fn undecodable_values_are_errors() {
    let (_dir, store) = new_store();
    import(&store, "c", &[lead("a", LeadStatus::Pending, Some(0))]);
    let txn = store.db.begin_write().unwrap();
    {
        let mut leads = txn.open_table(LEADS).unwrap();
        leads.insert(("c", "a"), [9u8, 0, 0].as_slice()).unwrap();
        // A valid header whose lead is cut short, and one that lists a missing history row.
        let good = rows::encode(&[], &[], &lead("b", LeadStatus::Pending, Some(0)), [7]);
        leads.insert(("c", "b"), &good[..good.len() - 3]).unwrap();
        leads.insert(("c", "h"), good.as_slice()).unwrap();
        txn.open_table(CAMPAIGNS).unwrap().insert("c", [FORMAT_JSON, b'x'].as_slice()).unwrap();
        txn.open_table(OUTBOX).unwrap().insert("k", [2u8, b'{', b'}'].as_slice()).unwrap();
        txn.open_table(HISTORY).unwrap().insert(1, [FORMAT_RECORDS, 9].as_slice()).unwrap();
    }
    txn.commit().unwrap();
    let corrupt = |r: Result<(), StoreError>| assert!(matches!(r, Err(StoreError::Corrupt { .. })), "{r:?}");
    corrupt(store.lead("c", "a").map(drop));
    corrupt(store.lead("c", "b").map(drop));
    corrupt(store.due("c", at(10), None, 10).map(drop));
    corrupt(store.counts("c").map(drop));
    corrupt(store.for_each_lead("c", |_, _| ()));
    corrupt(store.campaign("c").map(drop));
    corrupt(store.pending_actions().map(drop));
    corrupt(store.history("c", "a").map(drop));
    corrupt(store.history("c", "h").map(drop));
    let result = store
        .write(Batch { leads: vec![("c".into(), lead("a", LeadStatus::Pending, None))], ..Batch::default() }, false);
    assert!(matches!(result, Err(StoreError::Corrupt { .. })), "{result:?}");
}

#[test]
fn the_trait_is_usable_as_an_object() {
    let (_dir, store) = new_store();
    let storage: &dyn Storage = &store;
    let batch = Batch {
        contacts: leads_of(vec![("c", contact("a"), lead("a", LeadStatus::Pending, Some(0)), Vec::new())]),
        ..Batch::default()
    };
    assert_eq!(storage.write(batch, false).unwrap().new_contacts, 1);
    let mut n = 0;
    storage.for_each_lead("c", &mut |_, _| n += 1).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn non_durable_writes_survive_a_clean_close() {
    let (dir, store) = new_store();
    import(&store, "c", &[lead("a", LeadStatus::Pending, Some(0))]);
    drop(store);
    let store = Store::open(&dir.path().join("herald.db")).unwrap();
    assert_eq!(store.lead("c", "a").unwrap().map(|(c, _)| c), Some(contact("a")));
}

#[test]
fn a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = Store::open(&dir.path().join("no/such/herald.db")).unwrap_err();
    assert!(matches!(error, StoreError::Io { .. }), "{error:?}");
    assert!(error.to_string().starts_with("cannot access database "), "{error}");
}

#[test]
fn a_lead_changed_twice_in_one_batch_keeps_one_due_entry() {
    let (_dir, store) = new_store();
    let batch = Batch {
        contacts: leads_of(vec![("c", contact("a"), lead("a", LeadStatus::Pending, Some(0)), Vec::new())]),
        leads: vec![
            ("c".into(), lead("a", LeadStatus::Scheduled, Some(10))),
            ("c".into(), lead("b", LeadStatus::Scheduled, Some(5))),
            ("c".into(), lead("a", LeadStatus::Scheduled, Some(0))),
            ("c".into(), lead("a", LeadStatus::Waiting, Some(20))),
        ],
        ..Batch::default()
    };
    assert_eq!(store.write(batch, false).unwrap().new_contacts, 1);
    assert_eq!(due_keys(&store, "c", 100, 10), ["b", "a"]);
    assert_eq!(due_keys(&store, "c", 19, 10), ["b"]);
    let (contact_a, lead_a) = store.lead("c", "a").unwrap().unwrap();
    assert_eq!((contact_a, lead_a.status), (contact("a"), LeadStatus::Waiting));
    let txn = store.db.begin_read().unwrap();
    assert_eq!(redb::ReadableTableMetadata::len(&txn.open_table(DUE).unwrap()).unwrap(), 2);
}

/// The shape of `simulate`: import 100k contacts, then two passes of due + write-back, once
/// with every lead due at the same time (due order = key order) and once with wake times
/// scattered (due order unrelated to key order, as in a real campaign).
/// `cargo test --release --lib store::tests::bench -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_simulate_shape() {
    for scatter in [false, true] {
        bench(scatter);
    }
    let (_dir, store) = new_store();
    let lead = Lead { wake_at: Some(at(5)), ..lead("+15550000001", LeadStatus::Scheduled, None) };
    let contact = contact(&lead.contact);
    let records = vec![record(0, Event::Enter), record(0, Event::Wait { until: at(5) })];
    let time = |what: &str, f: &mut dyn FnMut()| {
        let t = cpu_seconds();
        (0..100_000).for_each(|_| f());
        println!("  {what}: {:.2} µs", (cpu_seconds() - t) * 10.0);
    };
    let row = rows::encode(&rows::encode_contact(&contact), &[], &lead, [1, 2]);
    println!("binary ({} B row with its contact):", row.len());
    time("encode row", &mut || {
        drop(std::hint::black_box(rows::encode(&rows::encode_contact(&contact), &[], &lead, [1, 2])))
    });
    time("decode row", &mut || drop(std::hint::black_box(decode_row(store.path(), "k", &row))));
    time("encode 2 records", &mut || {
        let mut out = Vec::new();
        records::put_packed(&mut out, &records, "c", &lead.contact);
        drop(std::hint::black_box(out))
    });
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        status.lines().filter(|l| l.starts_with("VmHWM")).for_each(|l| println!("{l}"));
    }
}

/// Seconds this thread has run on a CPU (wall time if unknown): the machines are shared,
/// and time spent waiting for a core is not the store's.
fn cpu_seconds() -> f64 {
    let on_cpu = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()));
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    on_cpu.map_or_else(|| START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64(), |ns| ns / 1e9)
}

fn bench(scatter: bool) {
    const N: usize = 100_000;
    const BATCH: usize = 10_000;
    let (dir, store) = new_store();
    let wall = std::time::Instant::now();
    let start = cpu_seconds();
    for chunk in (0..N).collect::<Vec<_>>().chunks(BATCH) {
        let contacts = leads_of(
            chunk
                .iter()
                .map(|i| {
                    let key = format!("+1555{i:07}");
                    ("c", contact(&key), Lead::new(key, at(0)), Vec::new())
                })
                .collect(),
        );
        store.write(Batch { contacts, ..Batch::default() }, false).unwrap();
    }
    let import = cpu_seconds() - start;
    println!("{} wake times:", if scatter { "scattered" } else { "equal" });
    println!("  import: {:.2} µs/lead", import * 1e6 / N as f64);
    for pass in 1..=2 {
        let (mut read, mut write, mut n) = (0.0, 0.0, 0);
        loop {
            let t = cpu_seconds();
            let due = store.due("c", at(pass * 10), None, BATCH).unwrap();
            read += cpu_seconds() - t;
            if due.is_empty() {
                break;
            }
            n += due.len();
            let t = cpu_seconds();
            let mut batch = Batch::default();
            for (_, mut lead) in due {
                let seq = lead.seq;
                let spread = if scatter { lead.contact[5..].parse::<i64>().unwrap() * 7919 % 4000 } else { 0 };
                let wake = at(pass * 10 + 5) + chrono::Duration::milliseconds(spread);
                lead.status = LeadStatus::Scheduled;
                lead.step = Some(format!("step{pass}").into());
                lead.wake_at = Some(wake);
                lead.seq += 2;
                let records = vec![record(0, Event::Enter), record(0, Event::Wait { until: wake })];
                batch.history.push(("c".into(), lead.contact.clone(), seq, records));
                batch.leads.push(("c".into(), lead));
            }
            store.write(batch, false).unwrap();
            write += cpu_seconds() - t;
        }
        assert_eq!(n, N);
        println!(
            "  pass {pass}: due {:.2} µs/lead, write {:.2} µs/lead",
            read * 1e6 / N as f64,
            write * 1e6 / N as f64
        );
    }
    let total = cpu_seconds() - start;
    let size = std::fs::metadata(dir.path().join("herald.db")).unwrap().len();
    println!(
        "  total: {:.2} µs/lead on CPU ({:.0} contacts/s; wall {:.2} s), file {} MiB",
        total * 1e6 / N as f64,
        N as f64 / total,
        wall.elapsed().as_secs_f64(),
        size >> 20
    );
}
