//! The store: the only user of redb. Tables, value encoding, schema version, group commit, outbox.
//!
//! Every value starts with a format-version byte, so a newer herald can still read what an older
//! one wrote. Lead rows carry a small fixed header (status, wake time) in front of the JSON so that
//! keeping the due index in step and counting statuses never parse JSON.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::contacts::Contact;
use crate::runtime::{Action, Lead, LeadStatus, Record};

/// The layout of the tables. Bump it (and add a migration in `Store::prepare`) when it changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Bounded so that memory does not grow with the number of contacts.
const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// The format byte of every JSON-encoded value.
const FORMAT_JSON: u8 = 1;
/// The format byte of a lead row: [format, status, has_wake, secs i64 LE, nanos u32 LE] + JSON.
const FORMAT_LEAD: u8 = 1;
const LEAD_HEADER: usize = 15;
const SCHEMA_KEY: &str = "schema_version";

type Wake = (i64, u32);

const META: TableDefinition<&str, u32> = TableDefinition::new("meta");
const CAMPAIGNS: TableDefinition<&str, &[u8]> = TableDefinition::new("campaigns");
/// (campaign, contact key) -> Contact
const CONTACTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("contacts");
/// (campaign, contact key) -> lead row
const LEADS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("leads");
/// (campaign, wake secs, wake nanos, contact key): leads that are not final and have a wake time.
const DUE: TableDefinition<(&str, i64, u32, &str), ()> = TableDefinition::new("due");
/// (campaign, contact key, first seq) -> Vec<Record>
const HISTORY: TableDefinition<(&str, &str, u32), &[u8]> = TableDefinition::new("history");
/// action key -> Action, recorded and not yet done
const OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox");
const DONE: TableDefinition<&str, ()> = TableDefinition::new("done");
const SUPPRESSION: TableDefinition<&str, ()> = TableDefinition::new("suppression");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {} is in use by another herald process", path.display())]
    Locked { path: PathBuf },
    #[error("database {} is corrupt or is not a herald database: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "database {} was written by a newer herald (schema version {found}, this herald reads up to {SCHEMA_VERSION}); upgrade herald to open it",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: u32 },
    #[error("cannot access database {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("internal store error: {0}")]
    Internal(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignRecord {
    pub id: String,
    pub name: String,
    pub status: CampaignStatus,
    pub content_hash: String,
    pub started_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Scheduled,
    Running,
    Paused,
    Completed,
    Cancelled,
}

/// One write transaction's worth of changes (group commit: never one transaction per lead).
#[derive(Debug, Default)]
pub struct Batch {
    /// Upserted.
    pub campaigns: Vec<CampaignRecord>,
    /// (campaign, contact, its new lead): inserted only when the lead does not exist yet.
    pub contacts: Vec<(String, Contact, Lead)>,
    /// (campaign, lead): upserted, with the due index kept in step.
    pub leads: Vec<(String, Lead)>,
    /// (campaign, contact, first seq, records): one row per entry.
    pub history: Vec<(String, String, u32, Vec<Record>)>,
    /// Recorded actions, pending until named in `done`.
    pub outbox: Vec<Action>,
    /// Action keys now done.
    pub done: Vec<String>,
    /// Normalised addresses suppressed in every campaign.
    pub suppress: Vec<String>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.campaigns.is_empty()
            && self.contacts.is_empty()
            && self.leads.is_empty()
            && self.history.is_empty()
            && self.outbox.is_empty()
            && self.done.is_empty()
            && self.suppress.is_empty()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Contacts of `Batch::contacts` that were new (the others already had a lead).
    pub new_contacts: usize,
}

/// What the driver needs from storage; `Store` is the redb implementation.
pub trait Storage {
    fn write(&mut self, batch: Batch, durable: bool) -> Result<WriteSummary, StoreError>;
    fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError>;
    fn campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError>;
    fn due(&self, campaign: &str, until: DateTime<Utc>, limit: usize) -> Result<Vec<(Contact, Lead)>, StoreError>;
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
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at `path`, creating it if missing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut builder = Database::builder();
        builder.set_cache_size(CACHE_BYTES);
        // redb may panic on some malformed files; a bad file must be an error, not a crash.
        let db = catch_unwind(AssertUnwindSafe(|| builder.create(path)))
            .map_err(|_| corrupt(path, "the file could not be read as a database"))?
            .at(path)?;
        let store = Store { db, path: path.to_path_buf() };
        store.prepare()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the schema version, and lays out the tables of a new database.
    fn prepare(&self) -> Result<(), StoreError> {
        match self.schema_version()? {
            Some(found) if found > SCHEMA_VERSION => Err(StoreError::NewerSchema { path: self.path.clone(), found }),
            Some(SCHEMA_VERSION) => Ok(()),
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

    fn create_tables(&self) -> Result<(), StoreError> {
        let p = &self.path;
        let txn = self.db.begin_write().at(p)?;
        txn.open_table(META).at(p)?.insert(SCHEMA_KEY, SCHEMA_VERSION).at(p)?;
        txn.open_table(CAMPAIGNS).at(p)?;
        txn.open_table(CONTACTS).at(p)?;
        txn.open_table(LEADS).at(p)?;
        txn.open_table(DUE).at(p)?;
        txn.open_table(HISTORY).at(p)?;
        txn.open_table(OUTBOX).at(p)?;
        txn.open_table(DONE).at(p)?;
        txn.open_table(SUPPRESSION).at(p)?;
        txn.commit().at(p)
    }

    /// Applies `batch` in one transaction. `durable: false` (simulate) skips the fsync.
    pub fn write(&mut self, batch: Batch, durable: bool) -> Result<WriteSummary, StoreError> {
        let p = &self.path;
        let mut txn = self.db.begin_write().at(p)?;
        txn.set_durability(if durable { Durability::Immediate } else { Durability::None }).at(p)?;
        let mut summary = WriteSummary::default();
        if !batch.campaigns.is_empty() {
            let mut table = txn.open_table(CAMPAIGNS).at(p)?;
            for campaign in &batch.campaigns {
                table.insert(campaign.id.as_str(), encode(campaign)?.as_slice()).at(p)?;
            }
        }
        if !batch.contacts.is_empty() || !batch.leads.is_empty() {
            let mut leads = txn.open_table(LEADS).at(p)?;
            let mut due = txn.open_table(DUE).at(p)?;
            if !batch.contacts.is_empty() {
                let mut contacts = txn.open_table(CONTACTS).at(p)?;
                for (campaign, contact, lead) in &batch.contacts {
                    check_key(&contact.key, lead)?;
                    let key = (campaign.as_str(), contact.key.as_str());
                    if leads.get(key).at(p)?.is_some() {
                        continue;
                    }
                    contacts.insert(key, encode(contact)?.as_slice()).at(p)?;
                    put_lead(p, &mut leads, &mut due, campaign, lead)?;
                    summary.new_contacts += 1;
                }
            }
            for (campaign, lead) in &batch.leads {
                put_lead(p, &mut leads, &mut due, campaign, lead)?;
            }
        }
        if !batch.history.is_empty() {
            let mut table = txn.open_table(HISTORY).at(p)?;
            for (campaign, contact, seq, records) in &batch.history {
                table.insert((campaign.as_str(), contact.as_str(), *seq), encode(records)?.as_slice()).at(p)?;
            }
        }
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
        txn.commit().at(p)?;
        Ok(summary)
    }

    pub fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(CAMPAIGNS).at(&self.path)?;
        let row = table.get(id).at(&self.path)?;
        row.map(|row| decode(&self.path, row.value(), "campaign")).transpose()
    }

    /// Every campaign, by id.
    pub fn campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(CAMPAIGNS).at(&self.path)?;
        let mut out = Vec::new();
        for row in table.range::<&str>(..).at(&self.path)? {
            let (_, value) = row.at(&self.path)?;
            out.push(decode(&self.path, value.value(), "campaign")?);
        }
        Ok(out)
    }

    /// Up to `limit` leads due at or before `until`: earliest wake first, ties by contact key.
    pub fn due(&self, campaign: &str, until: DateTime<Utc>, limit: usize) -> Result<Vec<(Contact, Lead)>, StoreError> {
        let p = &self.path;
        let txn = self.db.begin_read().at(p)?;
        let (due, leads, contacts) =
            (txn.open_table(DUE).at(p)?, txn.open_table(LEADS).at(p)?, txn.open_table(CONTACTS).at(p)?);
        let (secs, nanos) = wake_parts(until);
        let range = (campaign, i64::MIN, 0, "")..(campaign, secs, nanos + 1, "");
        let mut out = Vec::with_capacity(limit.min(16_384));
        for row in due.range(range).at(p)? {
            if out.len() >= limit {
                break;
            }
            let (key, _) = row.at(p)?;
            let (_, _, _, contact) = key.value();
            let Some(row) = leads.get((campaign, contact)).at(p)? else {
                return Err(corrupt(p, format!("due entry for {campaign}/{contact} has no lead")));
            };
            let lead = decode_lead(p, row.value())?;
            out.push((load_contact(p, &contacts, campaign, contact)?, lead));
        }
        Ok(out)
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
        let lead = decode_lead(p, row.value())?;
        let contacts = txn.open_table(CONTACTS).at(p)?;
        Ok(Some((load_contact(p, &contacts, campaign, contact)?, lead)))
    }

    /// Calls `f` on every lead of the campaign, by contact key, one at a time.
    pub fn for_each_lead(&self, campaign: &str, mut f: impl FnMut(&Contact, &Lead)) -> Result<(), StoreError> {
        let p = &self.path;
        let txn = self.db.begin_read().at(p)?;
        let (leads, contacts) = (txn.open_table(LEADS).at(p)?, txn.open_table(CONTACTS).at(p)?);
        // Both tables share the key order: walk them side by side instead of a lookup per lead.
        let mut contact_rows = contacts.range((campaign, "")..).at(p)?;
        let mut ahead: Option<(String, Contact)> = None;
        let mut contacts_left = true;
        for row in leads.range((campaign, "")..).at(p)? {
            let (key, value) = row.at(p)?;
            let (found, key) = key.value();
            if found != campaign {
                break;
            }
            let lead = decode_lead(p, value.value())?;
            while contacts_left && ahead.as_ref().is_none_or(|(k, _)| k.as_str() < key) {
                ahead = None;
                let Some(row) = contact_rows.next() else {
                    contacts_left = false;
                    break;
                };
                let (ckey, cvalue) = row.at(p)?;
                let (ccampaign, ckey) = ckey.value();
                contacts_left = ccampaign == campaign;
                if contacts_left {
                    ahead = Some((ckey.to_string(), decode(p, cvalue.value(), "contact")?));
                }
            }
            match &ahead {
                Some((k, contact)) if k == key => f(contact, &lead),
                _ => f(&bare_contact(key), &lead),
            }
        }
        Ok(())
    }

    /// Leads per status (statuses with no lead are absent).
    pub fn counts(&self, campaign: &str) -> Result<BTreeMap<LeadStatus, u64>, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(LEADS).at(&self.path)?;
        let mut out = BTreeMap::new();
        for row in table.range((campaign, "")..).at(&self.path)? {
            let (key, value) = row.at(&self.path)?;
            if key.value().0 != campaign {
                break;
            }
            let (status, _) = lead_header(&self.path, value.value())?;
            *out.entry(status).or_insert(0) += 1;
        }
        Ok(out)
    }

    /// Every history record of a lead, in seq order.
    pub fn history(&self, campaign: &str, contact: &str) -> Result<Vec<Record>, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(HISTORY).at(&self.path)?;
        let mut out = Vec::new();
        for row in table.range((campaign, contact, 0)..=(campaign, contact, u32::MAX)).at(&self.path)? {
            let (_, value) = row.at(&self.path)?;
            out.extend(decode::<Vec<Record>>(&self.path, value.value(), "history")?);
        }
        Ok(out)
    }

    /// Actions recorded and not yet done, by key: to re-offer after a crash.
    pub fn pending_actions(&self) -> Result<Vec<Action>, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(OUTBOX).at(&self.path)?;
        let mut out = Vec::new();
        for row in table.range::<&str>(..).at(&self.path)? {
            let (_, value) = row.at(&self.path)?;
            out.push(decode(&self.path, value.value(), "action")?);
        }
        Ok(out)
    }

    pub fn is_done(&self, key: &str) -> Result<bool, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(DONE).at(&self.path)?;
        Ok(table.get(key).at(&self.path)?.is_some())
    }

    pub fn is_suppressed(&self, address: &str) -> Result<bool, StoreError> {
        let table = self.db.begin_read().at(&self.path)?.open_table(SUPPRESSION).at(&self.path)?;
        Ok(table.get(address).at(&self.path)?.is_some())
    }
}

impl Storage for Store {
    fn write(&mut self, batch: Batch, durable: bool) -> Result<WriteSummary, StoreError> {
        Store::write(self, batch, durable)
    }
    fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError> {
        Store::campaign(self, id)
    }
    fn campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        Store::campaigns(self)
    }
    fn due(&self, campaign: &str, until: DateTime<Utc>, limit: usize) -> Result<Vec<(Contact, Lead)>, StoreError> {
        Store::due(self, campaign, until, limit)
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

/// Upserts a lead, moving its due entry from the stored wake time to the new one.
fn put_lead(
    p: &Path,
    leads: &mut redb::Table<(&str, &str), &[u8]>,
    due: &mut redb::Table<(&str, i64, u32, &str), ()>,
    campaign: &str,
    lead: &Lead,
) -> Result<(), StoreError> {
    let contact = lead.contact.as_str();
    let old = match leads.insert((campaign, contact), encode_lead(lead)?.as_slice()).at(p)? {
        Some(old) => lead_header(p, old.value())?.1,
        None => None,
    };
    let new = due_wake(lead);
    if old != new {
        if let Some((secs, nanos)) = old {
            due.remove((campaign, secs, nanos, contact)).at(p)?;
        }
        if let Some((secs, nanos)) = new {
            due.insert((campaign, secs, nanos, contact), ()).at(p)?;
        }
    }
    Ok(())
}

/// The due-index time of a lead: its wake time, unless it is final.
fn due_wake(lead: &Lead) -> Option<Wake> {
    lead.wake_at.filter(|_| !lead.status.is_final()).map(wake_parts)
}

fn wake_parts(at: DateTime<Utc>) -> Wake {
    (at.timestamp(), at.timestamp_subsec_nanos())
}

fn wake_time(p: &Path, (secs, nanos): Wake) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(secs, nanos).ok_or_else(|| corrupt(p, format!("wake time {secs}.{nanos} out of range")))
}

fn check_key(key: &str, lead: &Lead) -> Result<(), StoreError> {
    if lead.contact == key {
        Ok(())
    } else {
        Err(internal(format!("contact {key} came with the lead of {}", lead.contact)))
    }
}

/// A lead stored without its contact row reads as a contact with only its key.
fn bare_contact(key: &str) -> Contact {
    Contact { key: key.to_string(), ..Contact::default() }
}

fn load_contact(
    p: &Path,
    contacts: &redb::ReadOnlyTable<(&str, &str), &[u8]>,
    campaign: &str,
    key: &str,
) -> Result<Contact, StoreError> {
    match contacts.get((campaign, key)).at(p)? {
        Some(row) => decode(p, row.value(), "contact"),
        None => Ok(bare_contact(key)),
    }
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

fn encode_lead(lead: &Lead) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(384);
    out.push(FORMAT_LEAD);
    out.push(status_byte(lead.status));
    let (secs, nanos) = due_wake(lead).map_or((0, 0), |w| w);
    out.push(u8::from(due_wake(lead).is_some()));
    out.extend_from_slice(&secs.to_le_bytes());
    out.extend_from_slice(&nanos.to_le_bytes());
    serde_json::to_writer(&mut out, lead).map_err(|e| internal(format!("cannot encode lead: {e}")))?;
    Ok(out)
}

/// The status and due-index time of a stored lead, without parsing its JSON.
fn lead_header(p: &Path, bytes: &[u8]) -> Result<(LeadStatus, Option<Wake>), StoreError> {
    let bad = |detail: &str| corrupt(p, format!("lead row: {detail}"));
    if bytes.len() < LEAD_HEADER {
        return Err(bad("too short"));
    }
    if bytes[0] != FORMAT_LEAD {
        return Err(bad(&format!("unknown format {}", bytes[0])));
    }
    let status = status_from_byte(bytes[1]).ok_or_else(|| bad(&format!("unknown status {}", bytes[1])))?;
    let secs = i64::from_le_bytes(bytes[3..11].try_into().map_err(|_| bad("bad wake time"))?);
    let nanos = u32::from_le_bytes(bytes[11..15].try_into().map_err(|_| bad("bad wake time"))?);
    let wake = match bytes[2] {
        0 => None,
        1 => Some((secs, nanos)),
        other => return Err(bad(&format!("bad wake flag {other}"))),
    };
    Ok((status, wake))
}

fn decode_lead(p: &Path, bytes: &[u8]) -> Result<Lead, StoreError> {
    lead_header(p, bytes)?;
    serde_json::from_slice(&bytes[LEAD_HEADER..]).map_err(|e| corrupt(p, format!("undecodable lead: {e}")))
}

/// Stored bytes of the statuses: fixed forever, whatever order `LeadStatus` is declared in.
fn status_byte(status: LeadStatus) -> u8 {
    match status {
        LeadStatus::Pending => 0,
        LeadStatus::Scheduled => 1,
        LeadStatus::Waiting => 2,
        LeadStatus::InProgress => 3,
        LeadStatus::Completed => 4,
        LeadStatus::Converted => 5,
        LeadStatus::Exited => 6,
        LeadStatus::Failed => 7,
        LeadStatus::OptedOut => 8,
        LeadStatus::Skipped => 9,
        LeadStatus::Expired => 10,
        LeadStatus::Cancelled => 11,
    }
}

fn status_from_byte(byte: u8) -> Option<LeadStatus> {
    LeadStatus::ALL.into_iter().find(|s| status_byte(*s) == byte)
}

fn corrupt(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { path: path.to_path_buf(), detail: detail.into() }
}

fn internal(detail: impl Into<String>) -> StoreError {
    StoreError::Internal(detail.into())
}

/// Sorts a redb error into what the user can act on.
fn classify(path: &Path, error: redb::Error) -> StoreError {
    use std::io::ErrorKind;
    match error {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            StoreError::Locked { path: path.to_path_buf() }
        }
        redb::Error::Io(e) if e.kind() == ErrorKind::InvalidData => corrupt(path, e.to_string()),
        redb::Error::Io(source) => StoreError::Io { path: path.to_path_buf(), source },
        redb::Error::Corrupted(detail) => corrupt(path, detail),
        redb::Error::UpgradeRequired(format) => {
            corrupt(path, format!("it is in the old redb file format {format}, which herald cannot read"))
        }
        e @ (redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. }) => corrupt(path, e.to_string()),
        e => internal(e.to_string()),
    }
}

/// `.at(path)`: a redb result as a `StoreError` naming the database.
trait At<T> {
    fn at(self, path: &Path) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> At<T> for Result<T, E> {
    fn at(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|e| classify(path, e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ActionKind, Event};
    use chrono::TimeZone;
    use serde_json::json;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn contact(key: &str) -> Contact {
        let fields = json!({"first_name": "Ada", "plan": "pro", "score": 7}).as_object().unwrap().clone();
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

    fn import(store: &mut Store, campaign: &str, leads: &[Lead]) -> usize {
        let contacts = leads.iter().map(|l| (campaign.to_string(), contact(&l.contact), l.clone())).collect();
        store.write(Batch { contacts, ..Batch::default() }, false).unwrap().new_contacts
    }

    fn update(store: &mut Store, campaign: &str, leads: &[Lead]) {
        let leads = leads.iter().map(|l| (campaign.to_string(), l.clone())).collect();
        store.write(Batch { leads, ..Batch::default() }, false).unwrap();
    }

    fn due_keys(store: &Store, campaign: &str, until: i64, limit: usize) -> Vec<String> {
        store
            .due(campaign, at(until), limit)
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
        };
        let mut waiting = lead("a", LeadStatus::Waiting, Some(50));
        waiting.vars.insert("n".into(), json!(3));
        waiting.variants.insert("split".into(), "b".into());
        let first = vec![record(1, Event::Enter), record(2, Event::Wait { until: at(50) })];
        let second = vec![record(50, Event::Route { to: "end".into() })];
        {
            let mut store = Store::open(&path).unwrap();
            let batch = Batch {
                campaigns: vec![campaign.clone()],
                contacts: vec![("c".into(), contact("a"), waiting.clone())],
                history: vec![("c".into(), "a".into(), 2, second.clone()), ("c".into(), "a".into(), 0, first.clone())],
                outbox: vec![action("k1"), action("k2")],
                done: vec!["k1".into()],
                suppress: vec!["+15550009".into()],
                ..Batch::default()
            };
            assert_eq!(store.write(batch, true).unwrap(), WriteSummary { new_contacts: 1 });
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
        let (_dir, mut store) = new_store();
        let sub_second =
            Lead { wake_at: Some(at(20) + chrono::Duration::nanoseconds(5)), ..lead("e", LeadStatus::Scheduled, None) };
        import(
            &mut store,
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
        import(&mut store, "other", &[lead("z", LeadStatus::Scheduled, Some(0))]);
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
    fn due_index_follows_the_lead() {
        let (_dir, mut store) = new_store();
        import(&mut store, "c", &[lead("a", LeadStatus::Pending, Some(0)), lead("b", LeadStatus::Pending, Some(5))]);
        update(&mut store, "c", &[lead("a", LeadStatus::Scheduled, Some(30))]);
        assert_eq!(due_keys(&store, "c", 100, 10), ["b", "a"]);
        assert_eq!(due_keys(&store, "c", 10, 10), ["b"]);
        update(&mut store, "c", &[lead("b", LeadStatus::Completed, Some(5))]);
        assert_eq!(due_keys(&store, "c", 100, 10), ["a"]);
        update(&mut store, "c", &[lead("a", LeadStatus::InProgress, None)]);
        assert_eq!(due_keys(&store, "c", 100, 10), Vec::<String>::new());
        assert_eq!(store.next_due("c").unwrap(), None);
        update(&mut store, "c", &[lead("a", LeadStatus::Waiting, Some(40))]);
        assert_eq!(store.next_due("c").unwrap(), Some(at(40)));
        let (_, a) = store.lead("c", "a").unwrap().unwrap();
        assert_eq!((a.status, a.wake_at), (LeadStatus::Waiting, Some(at(40))));
    }

    #[test]
    fn a_reimport_adds_only_new_contacts_and_keeps_cursors() {
        let (_dir, mut store) = new_store();
        assert_eq!(
            import(
                &mut store,
                "c",
                &[lead("a", LeadStatus::Pending, Some(0)), lead("b", LeadStatus::Pending, Some(0))]
            ),
            2
        );
        update(&mut store, "c", &[lead("a", LeadStatus::Waiting, Some(99))]);
        let again = [
            lead("a", LeadStatus::Pending, Some(0)),
            lead("b", LeadStatus::Pending, Some(0)),
            lead("c", LeadStatus::Pending, Some(0)),
        ];
        assert_eq!(import(&mut store, "c", &again), 1);
        assert_eq!(store.lead("c", "a").unwrap().unwrap().1.status, LeadStatus::Waiting);
        assert_eq!(due_keys(&store, "c", 100, 10), ["b", "c", "a"]);
        // The same contact in another campaign is a new lead there.
        assert_eq!(import(&mut store, "d", &[lead("a", LeadStatus::Pending, Some(0))]), 1);
        // Duplicates within one batch: the first wins.
        let dup = [lead("x", LeadStatus::Pending, Some(1)), lead("x", LeadStatus::Pending, Some(2))];
        assert_eq!(import(&mut store, "c", &dup), 1);
        assert_eq!(store.lead("c", "x").unwrap().unwrap().1.wake_at, Some(at(1)));
    }

    #[test]
    fn a_contact_key_that_differs_from_its_lead_is_refused() {
        let (_dir, mut store) = new_store();
        let batch = Batch {
            contacts: vec![("c".into(), contact("a"), lead("b", LeadStatus::Pending, None))],
            ..Batch::default()
        };
        assert!(matches!(store.write(batch, false), Err(StoreError::Internal(_))));
        assert_eq!(store.lead("c", "b").unwrap(), None);
    }

    #[test]
    fn counts_and_for_each_lead_cover_one_campaign() {
        let (_dir, mut store) = new_store();
        import(&mut store, "b", &[lead("x", LeadStatus::Pending, Some(0))]);
        import(
            &mut store,
            "c",
            &[
                lead("c", LeadStatus::Pending, Some(0)),
                lead("a", LeadStatus::Waiting, Some(1)),
                lead("b", LeadStatus::Skipped, None),
            ],
        );
        import(&mut store, "cc", &[lead("y", LeadStatus::Pending, Some(0))]);
        // A lead stored without a contact row still streams, with a bare contact.
        update(&mut store, "c", &[lead("bb", LeadStatus::Completed, None)]);
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
        let (_dir, mut store) = new_store();
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
        let (_dir, mut store) = new_store();
        import(&mut store, "c", &[lead("a", LeadStatus::Pending, Some(0))]);
        let txn = store.db.begin_write().unwrap();
        {
            let mut leads = txn.open_table(LEADS).unwrap();
            leads.insert(("c", "a"), [9u8, 0, 0].as_slice()).unwrap();
            leads.insert(("c", "b"), [FORMAT_LEAD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'{'].as_slice()).unwrap();
            txn.open_table(CAMPAIGNS).unwrap().insert("c", [FORMAT_JSON, b'x'].as_slice()).unwrap();
            txn.open_table(OUTBOX).unwrap().insert("k", [2u8, b'{', b'}'].as_slice()).unwrap();
            txn.open_table(HISTORY).unwrap().insert(("c", "a", 0), [].as_slice()).unwrap();
        }
        txn.commit().unwrap();
        let corrupt = |r: Result<(), StoreError>| assert!(matches!(r, Err(StoreError::Corrupt { .. })), "{r:?}");
        corrupt(store.lead("c", "a").map(drop));
        corrupt(store.lead("c", "b").map(drop));
        corrupt(store.due("c", at(10), 10).map(drop));
        corrupt(store.counts("c").map(drop));
        corrupt(store.for_each_lead("c", |_, _| ()));
        corrupt(store.campaign("c").map(drop));
        corrupt(store.pending_actions().map(drop));
        corrupt(store.history("c", "a").map(drop));
        let result = store.write(
            Batch { leads: vec![("c".into(), lead("a", LeadStatus::Pending, None))], ..Batch::default() },
            false,
        );
        assert!(matches!(result, Err(StoreError::Corrupt { .. })), "{result:?}");
    }

    #[test]
    fn the_trait_is_usable_as_an_object() {
        let (_dir, mut store) = new_store();
        let storage: &mut dyn Storage = &mut store;
        let batch = Batch {
            contacts: vec![("c".into(), contact("a"), lead("a", LeadStatus::Pending, Some(0)))],
            ..Batch::default()
        };
        assert_eq!(storage.write(batch, false).unwrap().new_contacts, 1);
        let mut n = 0;
        storage.for_each_lead("c", &mut |_, _| n += 1).unwrap();
        assert_eq!(n, 1);
    }

    /// The shape of `simulate`: import 100k contacts, then two passes of due + write-back.
    /// `cargo test --release --lib store::tests::bench -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_simulate_shape() {
        use std::time::Instant;
        const N: usize = 100_000;
        const BATCH: usize = 10_000;
        let (dir, mut store) = new_store();
        let start = Instant::now();
        for chunk in (0..N).collect::<Vec<_>>().chunks(BATCH) {
            let contacts = chunk
                .iter()
                .map(|i| {
                    let key = format!("+1555{i:07}");
                    let lead = Lead::new(key.clone(), at(0));
                    ("c".to_string(), contact(&key), lead)
                })
                .collect();
            store.write(Batch { contacts, ..Batch::default() }, false).unwrap();
        }
        let import = start.elapsed();
        println!("import: {:.2} µs/lead", import.as_secs_f64() * 1e6 / N as f64);
        for pass in 1..=2 {
            let (mut read, mut write, mut n) = (0.0, 0.0, 0);
            loop {
                let t = Instant::now();
                let due = store.due("c", at(pass * 10), BATCH).unwrap();
                read += t.elapsed().as_secs_f64();
                if due.is_empty() {
                    break;
                }
                n += due.len();
                let t = Instant::now();
                let mut batch = Batch::default();
                for (_, mut lead) in due {
                    let seq = lead.seq;
                    lead.status = LeadStatus::Scheduled;
                    lead.step = Some(format!("step{pass}"));
                    lead.wake_at = Some(at(pass * 10 + 5));
                    lead.seq += 2;
                    let records = vec![record(0, Event::Enter), record(0, Event::Wait { until: at(pass * 10 + 5) })];
                    batch.history.push(("c".into(), lead.contact.clone(), seq, records));
                    batch.leads.push(("c".into(), lead));
                }
                store.write(batch, false).unwrap();
                write += t.elapsed().as_secs_f64();
            }
            assert_eq!(n, N);
            println!(
                "pass {pass}: due {:.2} µs/lead, write {:.2} µs/lead",
                read * 1e6 / N as f64,
                write * 1e6 / N as f64
            );
        }
        let total = start.elapsed().as_secs_f64();
        println!(
            "total: {:.2} µs/lead over 3 writes each ({:.0} contacts/s)",
            total * 1e6 / N as f64,
            N as f64 / total
        );
        let codec = Instant::now();
        let (contact, lead) = store.lead("c", "+15550000001").unwrap().unwrap();
        for _ in 0..N {
            let bytes = encode_lead(&lead).unwrap();
            std::hint::black_box(decode_lead(Path::new(""), &bytes).unwrap());
            std::hint::black_box(decode::<Contact>(Path::new(""), &encode(&contact).unwrap(), "contact").unwrap());
        }
        println!("json encode+decode of lead and contact: {:.2} µs", codec.elapsed().as_secs_f64() * 1e6 / N as f64);
        let size = std::fs::metadata(dir.path().join("herald.db")).unwrap().len();
        println!("file: {} MiB", size >> 20);
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            status.lines().filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS")).for_each(|l| println!("{l}"));
        }
    }
}
