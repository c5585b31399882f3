//! What can go wrong with the database, sorted into what the user can act on.

use std::path::{Path, PathBuf};

use super::{Purpose, SCHEMA_VERSION, purpose};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "database {} is in use by another herald process (a `herald run`? if it serves with --listen, ask it: GET /status, /report/CAMPAIGN, /export/CAMPAIGN; docs/server.md)",
        path.display()
    )]
    Locked { path: PathBuf },
    #[error("the database file {} is damaged or is not a herald database: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "database {} was written by a newer herald (schema version {found}, this herald reads up to {SCHEMA_VERSION}); upgrade herald to open it",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: u32 },
    /// A database of `run` given to `simulate --db`, or the other way round.
    #[error("{}", purpose::refusal(path, *found))]
    WrongPurpose { path: PathBuf, found: Purpose },
    #[error("cannot access database {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// New leads could not be sorted in a temporary file before they were stored.
    #[error("{0}")]
    Temporary(String),
    #[error("internal store error: {0}")]
    Internal(String),
}

pub(super) fn corrupt(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { path: path.to_path_buf(), detail: detail.into() }
}

pub(super) fn internal(detail: impl Into<String>) -> StoreError {
    StoreError::Internal(detail.into())
}

/// Sorts a redb error into what the user can act on.
pub(super) fn classify(path: &Path, error: redb::Error) -> StoreError {
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
pub(super) trait At<T> {
    fn at(self, path: &Path) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> At<T> for Result<T, E> {
    fn at(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|e| classify(path, e.into()))
    }
}
