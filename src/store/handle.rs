//! The redb database behind a `Store`: opened for writing, or read-only for a file herald may
//! not write (a read-only copy, a backup), so that `status` and `export` can still read it.

use redb::{Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, WriteTransaction};

pub(super) enum Handle {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
}

impl Handle {
    pub(super) fn begin_read(&self) -> Result<ReadTransaction, redb::TransactionError> {
        match self {
            Handle::Writable(db) => db.begin_read(),
            Handle::ReadOnly(db) => db.begin_read(),
        }
    }

    /// A write on a read-only database is refused as the file system would refuse it.
    pub(super) fn begin_write(&self) -> Result<WriteTransaction, redb::Error> {
        match self {
            Handle::Writable(db) => Ok(db.begin_write()?),
            Handle::ReadOnly(_) => Err(redb::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "it can only be read (herald may not write the file)",
            ))),
        }
    }

    pub(super) fn close(self) -> Result<(), redb::DatabaseError> {
        match self {
            Handle::Writable(db) => db.close(),
            Handle::ReadOnly(db) => db.close(),
        }
    }
}
