//! A damaged session store: truncated at every offset, a flipped byte, a
//! store from a future format version. Each open gives a typed error
//! naming the file, or the records that are intact; never a panic, never
//! a silent reset.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};
use tern_mqtt::codec::{ProtocolVersion, QoS, SubscriptionOptions};
use tern_mqtt::session::{ActiveSubscription, PublishCommand};
use tern_mqtt::store::{
    Clock, DiskStore, MessageStage, Store, StoreError, StoreErrorKind, StoreOp, StoreRecovery,
    StoredIdentity, StoredSession, FORMAT_VERSION,
};
use tern_mqtt::topic::TopicFilter;

const V5: ProtocolVersion = ProtocolVersion::V5;
const FILE: &str = "session.redb";

fn publish(payload: &str) -> tern_mqtt::codec::Publish {
    let cmd = PublishCommand::to("plant/line1", payload.to_owned(), QoS::AtLeastOnce).unwrap();
    tern_mqtt::codec::Publish {
        dup: false,
        qos: cmd.qos,
        retain: false,
        topic: Some(cmd.topic),
        packet_id: None,
        properties: cmd.properties,
        payload: cmd.payload,
    }
}

/// A small store: an identity, three messages (one sent), an incoming id
/// and a subscription. Returns what it holds.
fn small_store(dir: &Path) -> StoredSession {
    let clock = Clock {
        now: Instant::now(),
        wall: SystemTime::now(),
    };
    let mut store = DiskStore::open(dir, V5, StoreRecovery::Fail).unwrap();
    let mut ops = vec![StoreOp::PutIdentity(StoredIdentity {
        version: V5,
        client_id: "gw".try_into().unwrap(),
        session_expiry: 60,
        resumable: true,
    })];
    for key in 1..=3 {
        ops.push(StoreOp::PutMessage {
            key,
            publish: Box::new(publish(&format!("message {key}"))),
            queued_at: clock.now,
        });
    }
    ops.push(StoreOp::SetStage {
        key: 1,
        stage: MessageStage::AwaitPubAck(std::num::NonZeroU16::MIN),
    });
    ops.push(StoreOp::PutIncoming { packet_id: 9 });
    ops.push(StoreOp::PutSubscription {
        filter: TopicFilter::new("plant/#").unwrap(),
        subscription: ActiveSubscription {
            options: SubscriptionOptions::qos(QoS::AtLeastOnce),
            subscription_id: None,
            requested_qos: QoS::AtLeastOnce,
        },
    });
    store.apply(&ops, &clock).unwrap();
    store.load().unwrap()
}

/// Opens a copy of `bytes` as a store and loads it.
fn open_copy(
    bytes: &[u8],
    recovery: StoreRecovery,
) -> (PathBuf, Result<StoredSession, StoreError>) {
    let dir = tempfile::tempdir().unwrap().keep();
    std::fs::write(dir.join(FILE), bytes).unwrap();
    let result = DiskStore::open(&dir, V5, recovery).and_then(|mut s| s.load());
    (dir, result)
}

/// What a damaged store may give: an error naming its file, or records
/// that are all among the original ones.
fn check(original: &StoredSession, dir: &Path, result: &Result<StoredSession, StoreError>) {
    match result {
        Err(e) => {
            assert_eq!(e.path, dir.join(FILE), "the error names the file");
            assert!(e.to_string().contains(FILE), "{e}");
        }
        Ok(loaded) => {
            for m in &loaded.messages {
                assert!(original.messages.contains(m), "an intact message: {m:?}");
            }
            for s in &loaded.subscriptions {
                assert!(original.subscriptions.contains(s));
            }
            assert!(loaded.identity.is_none() || loaded.identity == original.identity);
        }
    }
}

/// The offsets a truncation test cuts at: every offset of the first
/// page (redb's header lives there), and both sides of every 64 KiB
/// boundary after it. Every offset of the whole file would be millions of
/// opens: redb's smallest file is over 2 MB (it preallocates a region).
fn cut_points(len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..4096.min(len)).collect();
    let mut at = 64 * 1024;
    while at < len {
        cuts.extend([at - 1, at, at + 1]);
        at += 64 * 1024;
    }
    cuts.push(len - 1);
    cuts
}

#[test]
fn a_store_truncated_at_every_cut_point_opens_with_an_error_or_intact_records() {
    let dir = tempfile::tempdir().unwrap();
    let original = small_store(dir.path());
    let bytes = std::fs::read(dir.path().join(FILE)).unwrap();
    let mut errors = 0;
    for len in cut_points(bytes.len()) {
        for recovery in [StoreRecovery::Fail, StoreRecovery::KeepValidPrefix] {
            let (copy, result) = open_copy(&bytes[..len], recovery);
            check(&original, &copy, &result);
            if recovery == StoreRecovery::Fail {
                // Nothing is lost silently: all of it, or an error.
                let whole = result.as_ref().map_or(true, |r| r == &original);
                assert!(whole, "cut at {len}");
            }
            errors += usize::from(result.is_err());
            std::fs::remove_dir_all(copy).unwrap();
        }
    }
    assert!(errors > 0, "truncation is noticed");
    // The whole file is intact.
    let (copy, result) = open_copy(&bytes, StoreRecovery::Fail);
    assert_eq!(result.unwrap(), original);
    std::fs::remove_dir_all(copy).unwrap();
}

#[test]
fn a_flipped_byte_in_a_record_is_refused_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let original = small_store(dir.path());
    let mut bytes = std::fs::read(dir.path().join(FILE)).unwrap();
    let at = bytes
        .windows(9)
        .position(|w| w == b"message 2")
        .expect("the record's payload is in the file");
    bytes[at] ^= 0x01;
    let (copy, result) = open_copy(&bytes, StoreRecovery::Fail);
    let error = result.expect_err("a changed page fails its checksum");
    assert_eq!(error.path, copy.join(FILE));
    let text = error.to_string().to_lowercase();
    assert!(
        text.contains("checksum") || text.contains("corrupt"),
        "{error}"
    );
    let (copy, result) = open_copy(&bytes, StoreRecovery::KeepValidPrefix);
    check(&original, &copy, &result);
}

#[test]
fn a_store_from_a_future_format_version_is_refused_with_both_recoveries() {
    let dir = tempfile::tempdir().unwrap();
    small_store(dir.path());
    {
        let db = redb::Database::open(dir.path().join(FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
            let mut meta = txn.open_table(meta).unwrap();
            meta.insert("format", &(FORMAT_VERSION + 1).to_be_bytes()[..])
                .unwrap();
        }
        txn.commit().unwrap();
    }
    for recovery in [StoreRecovery::Fail, StoreRecovery::KeepValidPrefix] {
        let error = DiskStore::open(dir.path(), V5, recovery).expect_err("a future version");
        assert!(matches!(
            error.kind,
            StoreErrorKind::FutureVersion { found, supported: FORMAT_VERSION } if found == FORMAT_VERSION + 1
        ));
        assert_eq!(error.path, dir.path().join(FILE));
    }
}

#[test]
fn keep_valid_prefix_drops_the_records_that_do_not_decode_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let original = small_store(dir.path());
    {
        let db = redb::Database::open(dir.path().join(FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let messages: redb::TableDefinition<u64, &[u8]> =
                redb::TableDefinition::new("messages");
            let mut messages = txn.open_table(messages).unwrap();
            // A record in a layout no version wrote: protocol level 9.
            messages.insert(2, &[9u8, 0, 0][..]).unwrap();
        }
        txn.commit().unwrap();
    }
    let error = DiskStore::open(dir.path(), V5, StoreRecovery::Fail)
        .and_then(|mut s| s.load())
        .expect_err("Fail refuses it");
    assert!(
        matches!(&error.kind, StoreErrorKind::CorruptRecord { table: "messages", key, .. } if key == "2"),
        "{error}"
    );
    let mut store = DiskStore::open(dir.path(), V5, StoreRecovery::KeepValidPrefix).unwrap();
    let kept = store.load().unwrap();
    let keys: Vec<u64> = kept.messages.iter().map(|m| m.key).collect();
    assert_eq!(keys, vec![1, 3]);
    assert_eq!(kept.subscriptions, original.subscriptions);
    assert_eq!(kept.identity, original.identity);
    drop(store);
    // The bad record was deleted: a strict open now succeeds.
    let mut store = DiskStore::open(dir.path(), V5, StoreRecovery::Fail).unwrap();
    assert_eq!(store.load().unwrap(), kept);
}

#[tokio::test]
async fn connect_on_a_damaged_store_fails_with_a_store_error_before_any_io() {
    let dir = tempfile::tempdir().unwrap();
    small_store(dir.path());
    let bytes = std::fs::read(dir.path().join(FILE)).unwrap();
    std::fs::write(dir.path().join(FILE), &bytes[..100]).unwrap();
    // Port 9 on loopback: nothing listens, and nothing is tried.
    let options = tern_mqtt::ConnectOptions::new("mqtt://127.0.0.1:9")
        .unwrap()
        .persist_to(dir.path());
    match tern_mqtt::Client::connect(options).await {
        Err(tern_mqtt::Error::Store(e)) => assert_eq!(e.path, dir.path().join(FILE)),
        other => panic!("expected a store error, got {other:?}"),
    }
    // Nothing was reset: the damaged file is as it was.
    assert_eq!(std::fs::read(dir.path().join(FILE)).unwrap(), &bytes[..100]);
}

#[test]
fn a_store_whose_creation_was_cut_short_is_made_again_and_an_empty_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A crash while the store was first made leaves only the temporary
    // file, half written: the next start makes the store again.
    std::fs::write(dir.path().join(format!("{FILE}.new")), b"redb\x1a half").unwrap();
    let mut store = DiskStore::open(dir.path(), V5, StoreRecovery::Fail).unwrap();
    assert!(store.load().unwrap().is_empty());
    drop(store);
    // An empty store file is no store the client made: refused by default.
    std::fs::write(dir.path().join(FILE), b"").unwrap();
    let error = DiskStore::open(dir.path(), V5, StoreRecovery::Fail).unwrap_err();
    assert!(matches!(error.kind, StoreErrorKind::Empty), "{error}");
    let mut store = DiskStore::open(dir.path(), V5, StoreRecovery::KeepValidPrefix).unwrap();
    assert!(store.load().unwrap().is_empty(), "started afresh, as asked");
}

#[test]
fn a_store_left_by_a_crash_opens_with_everything_committed_under_fail() {
    let dir = tempfile::tempdir().unwrap();
    let original = small_store(dir.path());
    // The file as a crash leaves it: copied while the database is open
    // (redb marks it as needing recovery until a clean close).
    let store = DiskStore::open(dir.path(), V5, StoreRecovery::Fail).unwrap();
    let bytes = std::fs::read(dir.path().join(FILE)).unwrap();
    let (copy, result) = open_copy(&bytes, StoreRecovery::Fail);
    assert_eq!(result.expect("recovered by redb, not refused"), original);
    drop(store);
    std::fs::remove_dir_all(copy).unwrap();
}
