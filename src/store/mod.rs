//! The store: the only user of redb. Tables, value encoding, schema version, group commit, outbox.
//!
//! Every value starts with a format byte, so a newer herald can still read what an older one
//! wrote. A lead row holds the lead, its contact (one read per due lead), the history written
//! with it and the ids of its later history rows, behind a small fixed header (status, wake
//! time), so that keeping the due index in step and counting statuses never decode a lead
//! (`rows`). Leads and contacts are binary (`codec`), history is packed binary (`records`);
//! campaigns and outbox actions, rare and small, are JSON.
//!
//! History rows are keyed by one increasing number across the database, so writing them only
//! ever appends to the right edge of the B-tree; the lead row lists its own. The history that
//! new leads bring (a lead simulated from start to end at import: its whole history) goes in one
//! history block per batch, which each lead row refers to (`rows`): one small insert per lead,
//! and one large value per batch.

mod applied;
mod batch;
mod campaign;
mod codec;
pub mod damage;
mod due;
mod error;
mod handle;
mod purpose;
mod records;
mod rows;
mod sends;
mod write;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use redb::{Database, Durability, ReadableTableMetadata, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::contact::Contact;
use crate::runtime::{Action, Lead, LeadStatus, Record};
pub use applied::AppliedEvents;
pub use batch::{Batch, WriteSummary};
pub use campaign::{CampaignRecord, CampaignStatus};
pub use error::StoreError;
use error::{At, classify, corrupt, internal};
pub use purpose::Purpose;
pub use rows::NewLeads;
use rows::{RowView, Wake};
pub use sends::Sent;
use write::{DueKey, append_history, link_history, put_leads, remove_lead};

/// The layout of the tables. Bump it (and add a migration in `Store::prepare`) when it changes.
/// Version 1 (JSON leads, history keyed by lead) was never used on main; version 2 had plain
/// history records; version 3 packs them and lets a lead row hold its own history; version 4 lets
/// that history sit in a block shared by the leads imported together.
pub const SCHEMA_VERSION: u32 = 4;

/// Bounded so that memory does not grow with the number of contacts. 8 MiB: the pages a big
/// write leaves in the cache are seldom read again, and each new one is fresh memory the kernel
/// must fault in. 8 was faster than 32 and held less memory; 4 was no faster (BENCHMARKS.md,
/// 'Figures behind code comments').
const CACHE_BYTES: usize = 8 * 1024 * 1024;
/// The format byte of every JSON-encoded value.
const FORMAT_JSON: u8 = 1;
/// The format byte of a history row: packed records (`records::put_packed`).
const FORMAT_RECORDS: u8 = 3;
/// History rows written under schema 2: plain records (`records::get_plain`).
const FORMAT_RECORDS_PLAIN: u8 = 2;
/// The format byte of a history block: the history of many new leads (`rows::NewLeads::seal`).
const FORMAT_BLOCK: u8 = 4;
const SCHEMA_KEY: &str = "schema_version";

const META: TableDefinition<&str, u32> = TableDefinition::new("meta");
const CAMPAIGNS: TableDefinition<&str, &[u8]> = TableDefinition::new("campaigns");
/// (campaign, contact key) -> lead row (contact, lead, history ids)
const LEADS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("leads");
/// (campaign, wake secs, wake nanos, contact key): leads that are not final and have a wake time.
const DUE: TableDefinition<(&str, i64, u32, &str), ()> = TableDefinition::new("due");
/// history row id (increasing across the database) -> records of one lead
const HISTORY: TableDefinition<u64, &[u8]> = TableDefinition::new("history");
/// action key -> Action, recorded and not yet done
const OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox");
const DONE: TableDefinition<&str, ()> = TableDefinition::new("done");
const SUPPRESSION: TableDefinition<&str, ()> = TableDefinition::new("suppression");

/// What the driver needs from storage; `Store` is the redb implementation.
pub trait Storage {
    fn write(&self, batch: Batch, durable: bool) -> Result<WriteSummary, StoreError>;
    fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError>;
    fn campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError>;
    fn due(
        &self,
        campaign: &str,
        until: DateTime<Utc>,
        after: Option<(DateTime<Utc>, &str)>,
        limit: usize,
    ) -> Result<Vec<(Contact, Lead)>, StoreError>;
    fn next_due(&self, campaign: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn lead(&self, campaign: &str, contact: &str) -> Result<Option<(Contact, Lead)>, StoreError>;
    fn for_each_lead(&self, campaign: &str, f: &mut dyn FnMut(&Contact, &Lead)) -> Result<(), StoreError>;
    fn counts(&self, campaign: &str) -> Result<BTreeMap<LeadStatus, u64>, StoreError>;
    fn history(&self, campaign: &str, contact: &str) -> Result<Vec<Record>, StoreError>;
    fn pending_actions(&self) -> Result<Vec<Action>, StoreError>;
    fn is_done(&self, key: &str) -> Result<bool, StoreError>;
    fn is_suppressed(&self, address: &str) -> Result<bool, StoreError>;
}

pub struct Store {
    db: handle::Handle,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

/// What a command that needs a database says when there is none at `path`.
pub fn no_database(path: &Path) -> String {
    let path = path.display();
    format!("no database at {path} (run `herald run` or `herald simulate --db {path}` first)")
}

impl Store {
    /// Opens the database at `path`, creating it if missing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        refuse_empty(path)?;
        damage::opened(path);
        let mut builder = Database::builder();
        builder.set_cache_size(CACHE_BYTES);
        // redb may panic on some malformed files; a bad file must be an error, not a crash.
        let existed = path.exists();
        let mut db = catch_unwind(AssertUnwindSafe(|| builder.create(path)))
            .map_err(|_| corrupt(path, "the file could not be read as a database"))?
            .at(path)?;
        if existed {
            damage::check(path, &mut db)?;
        }
        let store = Store { db: handle::Handle::Writable(db), path: path.to_path_buf() };
        store.prepare()?;
        Ok(store)
    }

    /// Opens an existing database without writing to it: for reading a file herald may not
    /// write. An older schema is read as it is (not upgraded), and every write is refused.
    /// Opens an existing database; never creates one (None: no file there). A file herald may
    /// not write (permissions, a read-only file system) is opened read-only: `status` and
    /// `export` work, and a command that changes something says it cannot.
    pub fn open_existing(path: &Path) -> Result<Option<Store>, StoreError> {
        use std::io::ErrorKind;
        match path.try_exists() {
            Ok(true) => match Store::open(path) {
                Err(StoreError::Io { source, .. })
                    if matches!(source.kind(), ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem) =>
                {
                    Ok(Some(Store::open_read_only(path)?))
                }
                opened => opened.map(Some),
            },
            Ok(false) => Ok(None),
            Err(source) => Err(StoreError::Io { path: path.to_path_buf(), source }),
        }
    }

    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        refuse_empty(path)?;
        damage::opened(path);
        let mut builder = Database::builder();
        builder.set_cache_size(CACHE_BYTES);
        let db = catch_unwind(AssertUnwindSafe(|| builder.open_read_only(path)))
            .map_err(|_| corrupt(path, "the file could not be read as a database"))?
            .at(path)?;
        let store = Store { db: handle::Handle::ReadOnly(db), path: path.to_path_buf() };
        match store.schema_version()? {
            Some(found) if found > SCHEMA_VERSION => Err(StoreError::NewerSchema { path: path.to_path_buf(), found }),
            Some(2..=SCHEMA_VERSION) => Ok(store),
            Some(found) => Err(corrupt(path, format!("unknown schema version {found}"))),
            None => Err(corrupt(path, "it has no herald tables")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the database as dropping it does (redb makes any commit still pending durable,
    /// with its allocator state), but says when that fails instead of leaving the file for the
    /// next open to repair.
    pub fn close(self) -> Result<(), StoreError> {
        self.db.close().at(&self.path)
    }

    /// Checks the schema version, and lays out the tables of a new database.
    fn prepare(&self) -> Result<(), StoreError> {
        match self.schema_version()? {
            Some(found) if found > SCHEMA_VERSION => Err(StoreError::NewerSchema { path: self.path.clone(), found }),
            Some(SCHEMA_VERSION) => Ok(()),
            // Versions 3 and 4 write lead rows and history in new formats (format bytes 3, and
            // history blocks, 4) and still read the older ones; only the version number changes,
            // so that an older herald says the file is newer rather than damaged.
            Some(2 | 3) => self.set_schema_version(),
            Some(found) => Err(corrupt(&self.path, format!("unknown schema version {found}"))),
            None => self.create_tables(),
        }
    }

    /// The stored schema version; `None` for a new, empty database.
    fn schema_version(&self) -> Result<Option<u32>, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let meta = match txn.open_table(META) {
            Ok(meta) => meta,
            Err(redb::TableError::TableDoesNotExist(_)) => {
                let foreign = txn.list_tables().at(&self.path)?.next().is_some();
                return if foreign { Err(corrupt(&self.path, "it has no herald meta table")) } else { Ok(None) };
            }
            Err(e) => return Err(classify(&self.path, e.into())),
        };
        match meta.get(SCHEMA_KEY).at(&self.path)? {
            Some(version) => Ok(Some(version.value())),
            None => Err(corrupt(&self.path, "its meta table has no schema version")),
        }
    }

    fn set_schema_version(&self) -> Result<(), StoreError> {
        let p = &self.path;
        let txn = self.db.begin_write().at(p)?;
        txn.open_table(META).at(p)?.insert(SCHEMA_KEY, SCHEMA_VERSION).at(p)?;
        txn.commit().at(p)
    }

    fn create_tables(&self) -> Result<(), StoreError> {
        let p = &self.path;
        let txn = self.db.begin_write().at(p)?;
        txn.open_table(META).at(p)?.insert(SCHEMA_KEY, SCHEMA_VERSION).at(p)?;
        txn.open_table(CAMPAIGNS).at(p)?;
        txn.open_table(LEADS).at(p)?;
        txn.open_table(DUE).at(p)?;
        txn.open_table(HISTORY).at(p)?;
        txn.open_table(OUTBOX).at(p)?;
        txn.open_table(DONE).at(p)?;
        txn.open_table(SUPPRESSION).at(p)?;
        txn.open_table(applied::APPLIED).at(p)?;
        txn.open_table(sends::SENDS).at(p)?;
        txn.commit().at(p)
    }

    /// Applies `batch` in one transaction. `durable: false` (simulate) skips the fsync. Takes
    /// `&self` so that one thread can write while another reads the last committed state.
    pub fn write(&self, mut batch: Batch, durable: bool) -> Result<WriteSummary, StoreError> {
        self.apply(&mut batch, durable)
    }

    /// `write`, leaving the batch to the caller (whose buffers may serve again).
    pub fn apply(&self, batch: &mut Batch, durable: bool) -> Result<WriteSummary, StoreError> {
        let p = &self.path;
        let mut txn = self.db.begin_write().at(p)?;
        txn.set_durability(if durable { Durability::Immediate } else { Durability::None }).at(p)?;
        if !batch.campaigns.is_empty() {
            let mut table = txn.open_table(CAMPAIGNS).at(p)?;
            for campaign in &batch.campaigns {
                table.insert(campaign.id.as_str(), encode(campaign)?.as_slice()).at(p)?;
            }
        }
        let mut history = append_history(p, &txn, &batch.history)?;
        let (new_contacts, updated_contacts) =
            put_leads(p, &txn, &mut batch.contacts, batch.update_contacts, &batch.leads, &mut history)?;
        link_history(p, &txn, history)?;
        if !batch.outbox.is_empty() || !batch.done.is_empty() {
            let mut outbox = txn.open_table(OUTBOX).at(p)?;
            for action in &batch.outbox {
                outbox.insert(action.key.as_str(), encode(action)?.as_slice()).at(p)?;
            }
            let mut done = txn.open_table(DONE).at(p)?;
            for key in &batch.done {
                outbox.remove(key.as_str()).at(p)?;
                done.insert(key.as_str(), ()).at(p)?;
            }
        }
        if !batch.suppress.is_empty() {
            let mut table = txn.open_table(SUPPRESSION).at(p)?;
            for address in &batch.suppress {
                table.insert(address.as_str(), ()).at(p)?;
            }
        }
        for (campaign, contact) in &batch.remove {
            remove_lead(p, &txn, campaign, contact)?;
        }
        applied::record(p, &txn, &mut batch.events)?;
        sends::record(p, &txn, &batch.sends)?;
        txn.commit().at(p)?;
        Ok(WriteSummary { new_contacts, updated_contacts })
    }

    /// Writes the history block of new leads now, so that their rows may be stored later, in
    /// another order or in pieces (the writer's sorting). A block whose leads are never stored
    /// is dead weight, not damage.
    pub fn seal(&self, leads: &mut NewLeads) -> Result<(), StoreError> {
        if !leads.unsealed() {
            return Ok(());
        }
        let p = &self.path;
        let mut txn = self.db.begin_write().at(p)?;
        txn.set_durability(Durability::None).at(p)?;
        {
            let mut history = txn.open_table(HISTORY).at(p)?;
            let id = write::next_history_id(p, &history)?;
            history.insert(id, leads.seal(id, FORMAT_BLOCK).as_slice()).at(p)?;
        }
        txn.commit().at(p)
    }

    pub fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(CAMPAIGNS).at(&self.path)?;
        let row = table.get(id).at(&self.path)?;
        row.map(|row| decode(&self.path, row.value(), "campaign")).transpose()
    }

    /// Every campaign, by id.
    pub fn campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        self.all(CAMPAIGNS, "campaign")
    }

    /// Every JSON value of a table keyed by text, in key order.
    fn all<T: DeserializeOwned>(&self, table: TableDefinition<&str, &[u8]>, what: &str) -> Result<Vec<T>, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(table).at(&self.path)?;
        let mut out = Vec::new();
        for row in table.range::<&str>(..).at(&self.path)? {
            let (_, value) = row.at(&self.path)?;
            out.push(decode(&self.path, value.value(), what)?);
        }
        Ok(out)
    }

    /// Up to `limit` leads due at or before `until`: earliest wake first, ties by contact key.
    /// `after` (a lead's wake time and key, as read) continues a page after that lead, so that
    /// a reader need not wait for the writer to remove the leads it already handed out.
    pub fn due(
        &self,
        campaign: &str,
        until: DateTime<Utc>,
        after: Option<(DateTime<Utc>, &str)>,
        limit: usize,
    ) -> Result<Vec<(Contact, Lead)>, StoreError> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let p = &self.path;
        let txn = self.db.begin_read().at(p)?;
        let (due, leads) = (txn.open_table(DUE).at(p)?, txn.open_table(LEADS).at(p)?);
        let (secs, nanos) = wake_parts(until);
        let start = match after {
            Some((at, key)) => {
                let (s, n) = wake_parts(at);
                Excluded((campaign, s, n, key))
            }
            None => Included((campaign, i64::MIN, 0, "")),
        };
        let end = if nanos == u32::MAX { Unbounded } else { Excluded((campaign, secs, nanos + 1, "")) };
        let mut keys = Vec::with_capacity(limit.min(16_384));
        for row in due.range::<DueKey>((start, end)).at(p)?.take(limit) {
            let (key, _) = row.at(p)?;
            let (found, ..) = key.value();
            if found != campaign {
                break;
            }
            keys.push(key.value().3.to_string());
        }
        // Read the rows in key order (the B-tree's), then hand them back in due order.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by(|&a, &b| keys[a].cmp(&keys[b]));
        let mut out: Vec<Option<(Contact, Lead)>> = vec![None; keys.len()];
        for i in order {
            let Some(row) = leads.get((campaign, keys[i].as_str())).at(p)? else {
                return Err(corrupt(p, format!("due entry for {campaign}/{} has no lead", keys[i])));
            };
            out[i] = Some(decode_row(p, &keys[i], row.value())?);
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// The earliest wake time of the campaign's unfinished leads.
    pub fn next_due(&self, campaign: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(DUE).at(&self.path)?;
        let range = (campaign, i64::MIN, 0, "")..;
        let Some(row) = table.range(range).at(&self.path)?.next() else { return Ok(None) };
        let (key, _) = row.at(&self.path)?;
        let (found, secs, nanos, _) = key.value();
        if found != campaign {
            return Ok(None);
        }
        Ok(Some(wake_time(&self.path, (secs, nanos))?))
    }

    pub fn lead(&self, campaign: &str, contact: &str) -> Result<Option<(Contact, Lead)>, StoreError> {
        let p = &self.path;
        let txn = self.db.begin_read().at(p)?;
        let leads = txn.open_table(LEADS).at(p)?;
        let Some(row) = leads.get((campaign, contact)).at(p)? else { return Ok(None) };
        Ok(Some(decode_row(p, contact, row.value())?))
    }

    /// Whether the campaign has a lead for the contact (without decoding it).
    pub fn has_lead(&self, campaign: &str, contact: &str) -> Result<bool, StoreError> {
        let p = &self.path;
        let txn = self.db.begin_read().at(p)?;
        Ok(txn.open_table(LEADS).at(p)?.get((campaign, contact)).at(p)?.is_some())
    }

    /// Calls `f` on every lead of the campaign, by contact key, one at a time.
    pub fn for_each_lead(&self, campaign: &str, mut f: impl FnMut(&Contact, &Lead)) -> Result<(), StoreError> {
        let p = &self.path;
        let txn = self.db.begin_read().at(p)?;
        let leads = txn.open_table(LEADS).at(p)?;
        for row in leads.range((campaign, "")..).at(p)? {
            let (key, value) = row.at(p)?;
            let (found, key) = key.value();
            if found != campaign {
                break;
            }
            let (contact, lead) = decode_row(p, key, value.value())?;
            f(&contact, &lead);
        }
        Ok(())
    }

    /// Leads per status (statuses with no lead are absent).
    pub fn counts(&self, campaign: &str) -> Result<BTreeMap<LeadStatus, u64>, StoreError> {
        let p = &self.path;
        let table = self.db.begin_read().at(p)?.open_table(LEADS).at(p)?;
        let mut out = BTreeMap::new();
        for row in table.range((campaign, "")..).at(p)? {
            let (key, value) = row.at(p)?;
            if key.value().0 != campaign {
                break;
            }
            let view = RowView::parse(value.value()).map_err(|e| corrupt(p, format!("lead row: {e}")))?;
            *out.entry(view.status).or_insert(0) += 1;
        }
        Ok(out)
    }

    /// Every history record of a lead, in seq order.
    pub fn history(&self, campaign: &str, contact: &str) -> Result<Vec<Record>, StoreError> {
        let p = &self.path;
        let txn = self.db.begin_read().at(p)?;
        let leads = txn.open_table(LEADS).at(p)?;
        let Some(row) = leads.get((campaign, contact)).at(p)? else { return Ok(Vec::new()) };
        let bad = |e: String| corrupt(p, format!("lead row {contact}: {e}"));
        let view = RowView::parse(row.value()).map_err(bad)?;
        let table = txn.open_table(HISTORY).at(p)?;
        let mut out = match view.own_block().map_err(bad)? {
            Some((id, _)) => write::with_block(p, &table, id, (campaign, contact), |block| {
                view.own_records(campaign, contact, Some(block))
            })?,
            None => view.own_records(campaign, contact, None).map_err(bad)?,
        };
        let ids = view.history_ids().map_err(bad)?;
        for id in ids {
            let Some(value) = table.get(id).at(p)? else {
                return Err(corrupt(p, format!("history row {id} of {campaign}/{contact} is missing")));
            };
            let records = match value.value().split_first() {
                Some((&FORMAT_RECORDS, bytes)) => records::get_packed(bytes, campaign, contact),
                Some((&FORMAT_RECORDS_PLAIN, bytes)) => records::get_plain(bytes),
                Some((format, _)) => Err(format!("unknown format {format}")),
                None => Err("empty".into()),
            };
            out.extend(records.map_err(|e| corrupt(p, format!("history row {id}: {e}")))?);
        }
        Ok(out)
    }

    /// Whether any address is suppressed (an import skips the lookups when none is).
    pub fn has_suppressions(&self) -> Result<bool, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(SUPPRESSION).at(&self.path)?;
        Ok(table.len().at(&self.path)? > 0)
    }

    /// Actions recorded and not yet done, by key: to re-offer after a crash.
    pub fn pending_actions(&self) -> Result<Vec<Action>, StoreError> {
        self.all(OUTBOX, "action")
    }

    pub fn is_done(&self, key: &str) -> Result<bool, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(DONE).at(&self.path)?;
        Ok(table.get(key).at(&self.path)?.is_some())
    }

    pub fn is_suppressed(&self, address: &str) -> Result<bool, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(SUPPRESSION).at(&self.path)?;
        Ok(table.get(address).at(&self.path)?.is_some())
    }

    /// The keys of the inbound events applied so far (`ops::event_key`), as of now.
    pub fn applied_events(&self) -> Result<AppliedEvents, StoreError> {
        AppliedEvents::open(&self.path, &self.db)
    }
}

impl Storage for Store {
    fn write(&self, batch: Batch, durable: bool) -> Result<WriteSummary, StoreError> {
        Store::write(self, batch, durable)
    }
    fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError> {
        Store::campaign(self, id)
    }
    fn campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        Store::campaigns(self)
    }
    fn due(
        &self,
        campaign: &str,
        until: DateTime<Utc>,
        after: Option<(DateTime<Utc>, &str)>,
        limit: usize,
    ) -> Result<Vec<(Contact, Lead)>, StoreError> {
        Store::due(self, campaign, until, after, limit)
    }
    fn next_due(&self, campaign: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Store::next_due(self, campaign)
    }
    fn lead(&self, campaign: &str, contact: &str) -> Result<Option<(Contact, Lead)>, StoreError> {
        Store::lead(self, campaign, contact)
    }
    fn for_each_lead(&self, campaign: &str, f: &mut dyn FnMut(&Contact, &Lead)) -> Result<(), StoreError> {
        Store::for_each_lead(self, campaign, f)
    }
    fn counts(&self, campaign: &str) -> Result<BTreeMap<LeadStatus, u64>, StoreError> {
        Store::counts(self, campaign)
    }
    fn history(&self, campaign: &str, contact: &str) -> Result<Vec<Record>, StoreError> {
        Store::history(self, campaign, contact)
    }
    fn pending_actions(&self) -> Result<Vec<Action>, StoreError> {
        Store::pending_actions(self)
    }
    fn is_done(&self, key: &str) -> Result<bool, StoreError> {
        Store::is_done(self, key)
    }
    fn is_suppressed(&self, address: &str) -> Result<bool, StoreError> {
        Store::is_suppressed(self, address)
    }
}

fn wake_parts(at: DateTime<Utc>) -> Wake {
    (at.timestamp(), at.timestamp_subsec_nanos())
}

fn wake_time(p: &Path, (secs, nanos): Wake) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(secs, nanos).ok_or_else(|| corrupt(p, format!("wake time {secs}.{nanos} out of range")))
}

/// The contact and lead of a row (a row stored without a contact reads as one with only its key).
fn decode_row(p: &Path, key: &str, bytes: &[u8]) -> Result<(Contact, Lead), StoreError> {
    RowView::parse(bytes).and_then(|view| view.decode(key)).map_err(|e| corrupt(p, format!("lead row {key}: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(256);
    out.push(FORMAT_JSON);
    serde_json::to_writer(&mut out, value).map_err(|e| internal(format!("cannot encode: {e}")))?;
    Ok(out)
}

fn decode<T: DeserializeOwned>(p: &Path, bytes: &[u8], what: &str) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_JSON, json)) => {
            serde_json::from_slice(json).map_err(|e| corrupt(p, format!("undecodable {what}: {e}")))
        }
        Some((format, _)) => Err(corrupt(p, format!("{what} in unknown format {format}"))),
        None => Err(corrupt(p, format!("empty {what}"))),
    }
}

/// redb would lay a new database out in an empty file; an empty file at the `--db` path is not
/// one herald made (it writes a header at once), so it is not taken as new.
fn refuse_empty(path: &Path) -> Result<(), StoreError> {
    if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Err(corrupt(path, "the file is empty (0 bytes); remove it or give another path"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
