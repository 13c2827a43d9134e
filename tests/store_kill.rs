//! The disk store under SIGKILL: a child process commits one message per
//! transaction and reports each commit once `apply` returned; it is killed
//! at several moments. The store then opens under the default
//! `StoreRecovery::Fail` (a crash is not damage) and holds every reported
//! commit, in order, and nothing else.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};
use tern_mqtt::codec::{ProtocolVersion, QoS};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::store::{Clock, DiskStore, Store, StoreOp, StoreRecovery};

const CHILD_ENV: &str = "TERN_STORE_KILL_CHILD";
const TEST_NAME: &str = "a_store_killed_while_committing_keeps_every_reported_commit";

/// The child: commits message after message, forever, reporting each.
fn child_writer(dir: &str) {
    let mut store = DiskStore::open(dir, ProtocolVersion::V5, StoreRecovery::Fail).unwrap();
    let first = store
        .load()
        .unwrap()
        .messages
        .last()
        .map_or(1, |m| m.key + 1);
    let cmd = PublishCommand::to("kill/t", vec![7u8; 64], QoS::AtLeastOnce).unwrap();
    let publish = tern_mqtt::codec::Publish {
        dup: false,
        qos: cmd.qos,
        retain: false,
        topic: Some(cmd.topic),
        packet_id: None,
        properties: cmd.properties,
        payload: cmd.payload,
    };
    for key in first.. {
        let clock = Clock {
            now: Instant::now(),
            wall: SystemTime::now(),
        };
        let op = StoreOp::PutMessage {
            key,
            publish: Box::new(publish.clone()),
            queued_at: clock.now,
        };
        store.apply(&[op], &clock).unwrap();
        println!("committed {key}");
    }
}

#[test]
fn a_store_killed_while_committing_keeps_every_reported_commit() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        return child_writer(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut reported = 0;
    // Killed after a different number of commits each time.
    for (round, after) in [1, 7, 3, 20, 12].into_iter().enumerate() {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut committed = |line: std::io::Result<String>| {
            let line = line.unwrap();
            let key = line.strip_prefix("committed ")?.parse::<u64>().ok()?;
            reported = key;
            Some(key)
        };
        let mut seen = 0;
        for line in lines.by_ref() {
            seen += usize::from(committed(line).is_some());
            if seen == after {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // What it reported before it died, still in the pipe.
        for line in lines {
            committed(line);
        }
        let mut store = DiskStore::open(dir.path(), ProtocolVersion::V5, StoreRecovery::Fail)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let keys: Vec<u64> = store
            .load()
            .unwrap()
            .messages
            .iter()
            .map(|m| m.key)
            .collect();
        // Every reported commit is there; at most the one in flight more.
        assert!(keys.len() as u64 >= reported, "round {round}: {keys:?}");
        assert!(keys.len() as u64 <= reported + 1, "round {round}");
        assert!(keys.iter().copied().eq(1..=keys.len() as u64), "in order");
        reported = keys.len() as u64;
    }
}
