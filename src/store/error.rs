//! Why a store could not be opened, read or written: always with the file
//! it concerns.

use std::path::PathBuf;

/// Why a store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[error("session store {}: {kind}", path.display())]
pub struct StoreError {
    /// The file (or directory) concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: StoreErrorKind,
}

/// What went wrong with a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The directory could not be created, or a file operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The database refused the file or an operation (corruption found by
    /// its checksums, a file that is no redb database, a second open in
    /// this process).
    #[error("database error: {0}")]
    Database(String),
    /// The store was written by a later version of this crate.
    #[error("format version {found} is newer than the {supported} this build reads")]
    FutureVersion {
        /// The version found in the store.
        found: u32,
        /// [`FORMAT_VERSION`](super::FORMAT_VERSION).
        supported: u32,
    },
    /// A record does not decode (with [`StoreRecovery::Fail`](super::StoreRecovery::Fail)).
    #[error("corrupt {table} record {key}: {why}")]
    CorruptRecord {
        /// Which kind of record.
        table: &'static str,
        /// Its key, as text.
        key: String,
        /// What is wrong with it.
        why: String,
    },
    /// The database file exists but is empty: a store whose creation was
    /// cut short, or one truncated to nothing (with
    /// [`StoreRecovery::Fail`](super::StoreRecovery::Fail); delete the file,
    /// or use `KeepValidPrefix`, to start afresh).
    #[error("the database file is empty (its creation was cut short, or it was truncated)")]
    Empty,
    /// The store thread is gone (it failed earlier).
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    pub(crate) fn new(path: impl Into<PathBuf>, kind: impl Into<StoreErrorKind>) -> Self {
        StoreError {
            path: path.into(),
            kind: kind.into(),
        }
    }

    /// A copy for one more waiter (I/O errors keep their kind and text).
    pub(crate) fn duplicate(&self) -> StoreError {
        let kind = match &self.kind {
            StoreErrorKind::Io(e) => {
                StoreErrorKind::Io(std::io::Error::new(e.kind(), e.to_string()))
            }
            StoreErrorKind::Database(s) => StoreErrorKind::Database(s.clone()),
            StoreErrorKind::FutureVersion { found, supported } => StoreErrorKind::FutureVersion {
                found: *found,
                supported: *supported,
            },
            StoreErrorKind::CorruptRecord { table, key, why } => StoreErrorKind::CorruptRecord {
                table,
                key: key.clone(),
                why: why.clone(),
            },
            StoreErrorKind::Empty => StoreErrorKind::Empty,
            StoreErrorKind::Closed => StoreErrorKind::Closed,
        };
        StoreError {
            path: self.path.clone(),
            kind,
        }
    }
}
