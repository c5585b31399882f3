//! Events already applied, by key (`ops::event_key`): written in the same transaction as the
//! leads they changed, so that a kill can never leave a lead moved by an event whose key is not
//! recorded, or a key recorded for an event that moved nothing.
//!
//! The table came after schema 4 was fixed: a database written by an older herald has none
//! until its first write, and reads as having applied nothing (redb ignores tables a reader
//! does not open, so older herald versions still open a database that has it).

use std::path::{Path, PathBuf};

use redb::TableDefinition;

use super::{At, StoreError};

/// event key -> nothing
pub(super) const APPLIED: TableDefinition<&[u8], ()> = TableDefinition::new("applied_events");

/// Records the keys, in key order (hashes arrive in random order; one walk of the B-tree).
pub(super) fn record(p: &Path, txn: &redb::WriteTransaction, keys: &mut [Vec<u8>]) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort_unstable();
    let mut table = txn.open_table(APPLIED).at(p)?;
    for key in keys.iter() {
        table.insert(key.as_slice(), ()).at(p)?;
    }
    Ok(())
}

/// The keys of the events applied, as of when it was opened: for many lookups in a row (a read
/// transaction per line costs more, BENCHMARKS.md). Writes made after it was opened are not
/// seen: open it again after each.
pub struct AppliedEvents {
    table: Option<redb::ReadOnlyTable<&'static [u8], ()>>,
    path: PathBuf,
}

impl AppliedEvents {
    pub(super) fn open(p: &Path, db: &super::handle::Handle) -> Result<AppliedEvents, StoreError> {
        let txn = db.begin_read().at(p)?;
        let table = match txn.open_table(APPLIED) {
            Ok(table) => Some(table),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e).at(p),
        };
        Ok(AppliedEvents { table, path: p.to_path_buf() })
    }

    /// Whether an event with this key was applied.
    pub fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        match &self.table {
            Some(table) => Ok(table.get(key).at(&self.path)?.is_some()),
            None => Ok(false),
        }
    }
}
