//! What a database is for: `run`'s real leads on the real clock, or `simulate`'s on a virtual
//! one. `simulate --db` on `run`'s database would advance real leads on the virtual clock (and
//! add simulated contacts), and `run` on a simulation's would act on leads whose replies and
//! outcomes were made up; each refuses the other's.
//!
//! The mark is a `meta` entry, written by the first `run` or `simulate` to use the database. An
//! older herald ignores it. A database from before the mark that already holds campaigns is
//! taken as `run`'s: the two cannot be told apart from their rows, and taking a simulation for
//! real only makes `simulate` refuse it, while the other way round would move real leads.

use std::path::Path;

use redb::ReadableTableMetadata;

use super::{At, CAMPAIGNS, META, Store, StoreError};

/// The `meta` key of the mark.
const PURPOSE_KEY: &str = "purpose";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `herald run` (and the commands after it): real contacts, the real clock.
    Run,
    /// `herald simulate --db`: the virtual clock.
    Simulate,
}

impl Purpose {
    fn code(self) -> u32 {
        match self {
            Purpose::Run => 1,
            Purpose::Simulate => 2,
        }
    }

    fn of(code: u32) -> Option<Purpose> {
        match code {
            1 => Some(Purpose::Run),
            2 => Some(Purpose::Simulate),
            _ => None,
        }
    }
}

/// Why a database of `found`'s kind is refused, and what to do.
pub(super) fn refusal(path: &Path, found: Purpose) -> String {
    let path = path.display();
    match found {
        Purpose::Run => format!(
            "database {path} holds the real leads of `herald run`: `simulate --db` would move them on its virtual clock and add simulated contacts; simulate into another file (or without --db, in a temporary one)"
        ),
        Purpose::Simulate => format!(
            "database {path} holds a simulation (`herald simulate --db`): `run` would act on leads whose replies and outcomes were made up; run with another --db file"
        ),
    }
}

impl Store {
    /// Marks the database as used for `purpose`, or refuses it when it is the other kind's.
    pub fn claim(&self, purpose: Purpose) -> Result<(), StoreError> {
        let p = &self.path;
        let (found, marked) = match self.purpose()? {
            Some(found) => (found, true),
            None if self.has_campaigns()? => (Purpose::Run, false),
            None => (purpose, false),
        };
        if found != purpose {
            return Err(StoreError::WrongPurpose { path: p.clone(), found });
        }
        if marked {
            // Already so: no commit (and no fsync) on every `run --once`.
            return Ok(());
        }
        let txn = self.db.begin_write().at(p)?;
        txn.open_table(META).at(p)?.insert(PURPOSE_KEY, purpose.code()).at(p)?;
        txn.commit().at(p)
    }

    /// The mark; `None` for a new database, or one written before the mark.
    pub fn purpose(&self) -> Result<Option<Purpose>, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let meta = txn.open_table(META).at(&self.path)?;
        match meta.get(PURPOSE_KEY).at(&self.path)? {
            None => Ok(None),
            Some(code) => Purpose::of(code.value()).map(Some).ok_or_else(|| {
                super::corrupt(&self.path, format!("unknown purpose {} in its meta table", code.value()))
            }),
        }
    }

    fn has_campaigns(&self) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let table = txn.open_table(CAMPAIGNS).at(&self.path)?;
        Ok(table.len().at(&self.path)? > 0)
    }
}
