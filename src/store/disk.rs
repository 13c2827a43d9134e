//! The disk store: one redb database file, `session.redb`, in a directory.
//!
//! redb gives the crash safety: every [`Store::apply`] is one write
//! transaction committed with `Durability::Immediate` (synced before
//! `commit` returns), pages carry checksums, and after a crash the file
//! opens at its last commit. This module adds the record layout
//! ([`super::record`]), a format-version key, and the decoding checks.

use super::record::{
    decode_identity, decode_message, decode_stage, decode_subscription, encode_identity,
    encode_message, encode_stage, encode_subscription,
};
use super::{
    expiry_deadline, Clock, MessageStage, Store, StoreError, StoreErrorKind, StoreOp,
    StoreRecovery, StoredMessage, StoredSession, FORMAT_VERSION,
};
use crate::codec::ProtocolVersion;
use crate::topic::TopicFilter;
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");
const STAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("stages");
const INCOMING: TableDefinition<u16, u8> = TableDefinition::new("incoming");
const SUBSCRIPTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("subscriptions");

const FORMAT_KEY: &str = "format";
const IDENTITY_KEY: &str = "identity";

/// The file name of the database inside the store's directory.
pub const FILE_NAME: &str = "session.redb";

/// The on-disk [`Store`].
///
/// ```
/// use tern_mqtt::codec::ProtocolVersion;
/// use tern_mqtt::store::{DiskStore, Store, StoreRecovery};
///
/// let dir = std::env::temp_dir().join(format!("tern-doc-{}", std::process::id()));
/// let mut store = DiskStore::open(&dir, ProtocolVersion::V5, StoreRecovery::Fail).unwrap();
/// assert!(store.load().unwrap().is_empty());
/// # drop(store); std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct DiskStore {
    db: Database,
    path: PathBuf,
    version: ProtocolVersion,
    recovery: StoreRecovery,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("path", &self.path)
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

impl DiskStore {
    /// Opens (or creates) the store in `dir`, creating the directory if
    /// missing. Messages are written in the encoding of `version`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] naming the file: the directory cannot be made, redb
    /// refuses the file (damaged beyond its repair, not a redb file, open
    /// elsewhere in this process), or the format version is a later one.
    pub fn open(
        dir: impl AsRef<Path>,
        version: ProtocolVersion,
        recovery: StoreRecovery,
    ) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| StoreError::new(dir, e))?;
        let path = dir.join(FILE_NAME);
        // An empty file: a creation cut short before this build made stores
        // atomically, or a store truncated to nothing. Starting afresh on
        // it would be a silent reset unless the application chose so.
        let empty = std::fs::metadata(&path).is_ok_and(|m| m.len() == 0);
        if empty && recovery == StoreRecovery::Fail {
            return Err(StoreError::new(&path, StoreErrorKind::Empty));
        }
        if empty || !path.exists() {
            create_atomically(dir, &path, version)?;
        }
        guarded(&path.clone(), || {
            // `open`, never `create`: redb initializes an empty file.
            let mut db = Database::open(&path).map_err(|e| db_error(&path, e))?;
            check_integrity(&mut db, &path, recovery)?;
            let store = DiskStore {
                db,
                path,
                version,
                recovery,
            };
            store.check_format()?;
            Ok(store)
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl Into<redb::Error>) -> StoreError {
        db_error(&self.path, e)
    }

    /// Creates the tables and the format key of a new store; refuses a
    /// store of a later format, or one with records and no format key.
    fn check_format(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            let found = meta
                .get(FORMAT_KEY)
                .map_err(|e| self.err(e))?
                .map(|v| v.value().to_vec());
            match found {
                Some(bytes) => self.check_version(&bytes)?,
                None if meta.len().map_err(|e| self.err(e))? > 0 => {
                    return Err(self.corrupt("meta", FORMAT_KEY, "missing format version"));
                }
                None => {
                    meta.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes()[..])
                        .map_err(|e| self.err(e))?;
                }
            }
            txn.open_table(MESSAGES).map_err(|e| self.err(e))?;
            txn.open_table(STAGES).map_err(|e| self.err(e))?;
            txn.open_table(INCOMING).map_err(|e| self.err(e))?;
            txn.open_table(SUBSCRIPTIONS).map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    fn check_version(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let found = <[u8; 4]>::try_from(bytes)
            .map(u32::from_be_bytes)
            .map_err(|_| self.corrupt("meta", FORMAT_KEY, "not a 4-byte version"))?;
        if found > FORMAT_VERSION {
            return Err(StoreError::new(
                &self.path,
                StoreErrorKind::FutureVersion {
                    found,
                    supported: FORMAT_VERSION,
                },
            ));
        }
        Ok(())
    }

    fn corrupt(&self, table: &'static str, key: impl ToString, why: impl ToString) -> StoreError {
        StoreError::new(
            &self.path,
            StoreErrorKind::CorruptRecord {
                table,
                key: key.to_string(),
                why: why.to_string(),
            },
        )
    }

    /// A record that does not decode: an error under
    /// [`StoreRecovery::Fail`]; logged and marked for deletion otherwise.
    fn bad_record(
        &self,
        bad: &mut Bad,
        table: &'static str,
        key: String,
        why: String,
    ) -> Result<(), StoreError> {
        if self.recovery == StoreRecovery::Fail {
            return Err(self.corrupt(table, key, why));
        }
        tracing::warn!(path = %self.path.display(), table, key, why, "dropping a record that does not decode");
        bad.push((table, key));
        Ok(())
    }
}

/// Records to delete after a load under [`StoreRecovery::KeepValidPrefix`].
type Bad = Vec<(&'static str, String)>;

/// Makes a new store in a temporary file and renames it into place, so
/// that a crash while it is made leaves no store (and a next start makes it
/// again) rather than a half-made file redb refuses to open.
fn create_atomically(dir: &Path, path: &Path, version: ProtocolVersion) -> Result<(), StoreError> {
    let fresh = dir.join(format!("{FILE_NAME}.new"));
    match std::fs::remove_file(&fresh) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(StoreError::new(&fresh, e))
        }
        _ => {}
    }
    guarded(&fresh, || {
        let db = Database::create(&fresh).map_err(|e| db_error(&fresh, e))?;
        let store = DiskStore {
            db,
            path: fresh.clone(),
            version,
            recovery: StoreRecovery::Fail,
        };
        store.check_format()
    })?;
    std::fs::rename(&fresh, path).map_err(|e| StoreError::new(path, e))?;
    // The rename itself must survive a crash: sync the directory.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::new(dir, e))
}

/// Verifies every page checksum (redb checks them on its own only when it
/// recovers from an unclean shutdown): a page changed behind redb's back
/// fails under [`StoreRecovery::Fail`]; under
/// [`StoreRecovery::KeepValidPrefix`] what redb's repair kept is used.
fn check_integrity(
    db: &mut Database,
    path: &Path,
    recovery: StoreRecovery,
) -> Result<(), StoreError> {
    match db.check_integrity() {
        Ok(true) => Ok(()),
        Ok(false) if recovery == StoreRecovery::KeepValidPrefix => {
            tracing::warn!(path = %path.display(), "the store failed its integrity check; going on with what the database repaired");
            Ok(())
        }
        Ok(false) => Err(StoreError::new(
            path,
            StoreErrorKind::Database(
                "a page failed its checksum (the database repaired what it could; open with StoreRecovery::KeepValidPrefix to go on with it)".into(),
            ),
        )),
        Err(e) => Err(db_error(path, e)),
    }
}

/// Runs `f`, turning a panic inside redb into an error naming the file:
/// redb 2 asserts (instead of returning an error) on some damaged files,
/// a truncated one among them. With `panic = "abort"` that assertion
/// aborts the process instead.
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            Err(StoreError::new(
                path,
                StoreErrorKind::Database(format!("the database failed on a damaged file: {why}")),
            ))
        }
    }
}

fn db_error(path: &Path, e: impl Into<redb::Error>) -> StoreError {
    StoreError::new(path, StoreErrorKind::Database(e.into().to_string()))
}

impl Store for DiskStore {
    fn load(&mut self) -> Result<StoredSession, StoreError> {
        let path = self.path.clone();
        guarded(&path, || self.load_all())
    }

    fn apply(&mut self, ops: &[StoreOp], clock: &Clock) -> Result<(), StoreError> {
        let path = self.path.clone();
        guarded(&path, || self.apply_all(ops, clock))
    }
}

impl DiskStore {
    fn load_all(&mut self) -> Result<StoredSession, StoreError> {
        let mut bad = Bad::new();
        let mut session = StoredSession::default();
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let meta = txn.open_table(META).map_err(|e| self.err(e))?;
        if let Some(v) = meta.get(IDENTITY_KEY).map_err(|e| self.err(e))? {
            match decode_identity(v.value()) {
                Ok(identity) => session.identity = Some(identity),
                Err(why) => self.bad_record(&mut bad, "meta", IDENTITY_KEY.into(), why)?,
            }
        }
        self.load_messages(&txn, &mut session, &mut bad)?;
        let incoming = txn.open_table(INCOMING).map_err(|e| self.err(e))?;
        for row in incoming.iter().map_err(|e| self.err(e))? {
            let (k, _) = row.map_err(|e| self.err(e))?;
            session.incoming.push(k.value());
        }
        let subscriptions = txn.open_table(SUBSCRIPTIONS).map_err(|e| self.err(e))?;
        for row in subscriptions.iter().map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let decoded = TopicFilter::new(k.value())
                .map_err(|e| e.to_string())
                .and_then(|f| Ok((f, decode_subscription(v.value())?)));
            match decoded {
                Ok(s) => session.subscriptions.push(s),
                Err(why) => self.bad_record(&mut bad, "subscriptions", k.value().into(), why)?,
            }
        }
        drop(txn);
        self.delete_bad(bad)?;
        Ok(session)
    }

    fn apply_all(&mut self, ops: &[StoreOp], clock: &Clock) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.set_durability(Durability::Immediate);
        for op in ops {
            self.apply_one(&txn, op, clock)?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    fn load_messages(
        &self,
        txn: &redb::ReadTransaction,
        session: &mut StoredSession,
        bad: &mut Bad,
    ) -> Result<(), StoreError> {
        let messages = txn.open_table(MESSAGES).map_err(|e| self.err(e))?;
        let stages = txn.open_table(STAGES).map_err(|e| self.err(e))?;
        for row in messages.iter().map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let key = k.value();
            let stage = match stages.get(key).map_err(|e| self.err(e))? {
                Some(s) => decode_stage(s.value()),
                None => Ok(MessageStage::Queued),
            };
            match stage.and_then(|stage| Ok((stage, decode_message(v.value())?))) {
                Ok((stage, (publish, expires_at))) => session.messages.push(StoredMessage {
                    key,
                    publish,
                    stage,
                    expires_at,
                }),
                Err(why) => self.bad_record(bad, "messages", key.to_string(), why)?,
            }
        }
        Ok(())
    }

    /// Deletes the records a lenient load dropped, so they are not read
    /// (and reported) again.
    fn delete_bad(&self, bad: Bad) -> Result<(), StoreError> {
        if bad.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            let mut messages = txn.open_table(MESSAGES).map_err(|e| self.err(e))?;
            let mut stages = txn.open_table(STAGES).map_err(|e| self.err(e))?;
            let mut subscriptions = txn.open_table(SUBSCRIPTIONS).map_err(|e| self.err(e))?;
            for (table, key) in &bad {
                match *table {
                    "meta" => meta.remove(key.as_str()).map(drop),
                    "subscriptions" => subscriptions.remove(key.as_str()).map(drop),
                    _ => match key.parse::<u64>() {
                        Ok(k) => messages
                            .remove(k)
                            .map(drop)
                            .and_then(|()| stages.remove(k).map(drop)),
                        Err(_) => Ok(()),
                    },
                }
                .map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }

    fn apply_one(
        &self,
        txn: &redb::WriteTransaction,
        op: &StoreOp,
        clock: &Clock,
    ) -> Result<(), StoreError> {
        let e = |e: redb::StorageError| self.err(e);
        match op {
            StoreOp::PutIdentity(identity) => {
                let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
                meta.insert(IDENTITY_KEY, encode_identity(identity).as_slice())
                    .map_err(e)?;
            }
            StoreOp::PutMessage {
                key,
                publish,
                queued_at,
            } => {
                let expires_at = expiry_deadline(publish, *queued_at, clock);
                let record = encode_message(publish, self.version, expires_at)
                    .map_err(|why| self.corrupt("messages", key, why))?;
                let mut messages = txn.open_table(MESSAGES).map_err(|e| self.err(e))?;
                messages.insert(*key, record.as_slice()).map_err(e)?;
            }
            StoreOp::SetStage { key, stage } => {
                let mut stages = txn.open_table(STAGES).map_err(|e| self.err(e))?;
                match encode_stage(*stage) {
                    Some(record) => stages.insert(*key, &record[..]).map(drop),
                    None => stages.remove(*key).map(drop),
                }
                .map_err(e)?;
            }
            StoreOp::RemoveMessage { key } => {
                let mut messages = txn.open_table(MESSAGES).map_err(|e| self.err(e))?;
                messages.remove(*key).map_err(e)?;
                let mut stages = txn.open_table(STAGES).map_err(|e| self.err(e))?;
                stages.remove(*key).map_err(e)?;
            }
            _ => self.apply_session_op(txn, op)?,
        }
        Ok(())
    }

    /// The ops on incoming ids and subscriptions.
    fn apply_session_op(
        &self,
        txn: &redb::WriteTransaction,
        op: &StoreOp,
    ) -> Result<(), StoreError> {
        let e = |e: redb::StorageError| self.err(e);
        let open_incoming = || txn.open_table(INCOMING).map_err(|e| self.err(e));
        let open_subscriptions = || txn.open_table(SUBSCRIPTIONS).map_err(|e| self.err(e));
        match op {
            StoreOp::PutIncoming { packet_id } => {
                open_incoming()?.insert(*packet_id, 0).map_err(e)?;
            }
            StoreOp::RemoveIncoming { packet_id } => {
                open_incoming()?.remove(*packet_id).map_err(e)?;
            }
            StoreOp::ClearIncoming => open_incoming()?.retain(|_, _| false).map_err(e)?,
            StoreOp::PutSubscription {
                filter,
                subscription,
            } => {
                let record = encode_subscription(subscription);
                open_subscriptions()?
                    .insert(filter.as_str(), &record[..])
                    .map_err(e)?;
            }
            StoreOp::RemoveSubscription { filter } => {
                open_subscriptions()?.remove(filter.as_str()).map_err(e)?;
            }
            StoreOp::ClearSubscriptions => open_subscriptions()?.retain(|_, _| false).map_err(e)?,
            _ => {}
        }
        Ok(())
    }
}
