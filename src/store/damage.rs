//! Damaged database files. redb 4 trusts the bytes it reads back: it verifies its page
//! checksums only in `Database::check_integrity`, so a file damaged on disk can reach an
//! `unwrap()` inside redb, or worse, be written on. Two defences:
//! - a database opened for writing is checked first ([`check`]): nothing is written to a
//!   damaged file (a read-only open cannot run the check, which may repair);
//! - a panic inside redb (a read-only open, or damage the check cannot see) is reported by the
//!   panic hook through [`panic_message`] as the damaged file it is, not as a bug in herald.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use redb::Database;

use super::{StoreError, classify, corrupt};

/// Verifies every page of a database about to be written to. `Ok(false)` from redb means it
/// repaired the file as it does on opening after a crash (its allocator state, or a rollback of
/// a commit that never completed): the same as an open after `kill -9`, so that is accepted.
pub(super) fn check(path: &Path, db: &mut Database) -> Result<(), StoreError> {
    match catch_unwind(AssertUnwindSafe(|| db.check_integrity())) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => match classify(path, error.into()) {
            StoreError::Internal(detail) => Err(corrupt(path, detail)),
            other => Err(other),
        },
        Err(_) => Err(corrupt(path, "its pages could not be read")),
    }
}

/// The database files this process opened, latest last (a process opens one or two).
static OPENED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Notes a database file as open, for [`panic_message`] to name.
pub(super) fn opened(path: &Path) {
    // A poisoned lock only means a panic elsewhere; the list is still whole.
    let mut opened = OPENED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !opened.iter().any(|p| p == path) {
        opened.push(path.to_path_buf());
    }
}

/// The message for a panic raised at `file` (the panic's source location) with `what`: `Some`
/// when it came from inside redb while a database was open, `None` for any other panic.
pub fn panic_message(what: &str, file: &str) -> Option<String> {
    let in_redb = file.contains("/redb-") || file.contains("\\redb-");
    if !in_redb {
        return None;
    }
    let opened = OPENED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let path = opened.last()?;
    Some(format!(
        "the database file {} is damaged: redb could not read it ({what})\n  \
         restore it from a backup (and copy the damaged file aside first)",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_panic_inside_redb_after_an_open_is_taken_for_damage() {
        let registry =
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/redb-4.6.0/src/tree_store/btree_iters.rs";
        assert_eq!(panic_message("x", "src/store/mod.rs"), None);
        opened(Path::new("h.redb"));
        let message = panic_message("slice index starts at 472 but ends at 287", registry).unwrap();
        assert!(
            message.starts_with("the database file h.redb is damaged: redb could not read it (slice index"),
            "{message}"
        );
        assert_eq!(panic_message("x", "src/runtime/advance.rs"), None);
    }
}
