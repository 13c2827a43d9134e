//! The driver's side of durable sessions: a store thread that applies the
//! engine's [`StoreOp`]s under the write policy, and the gate that keeps
//! every byte (and every "accepted") back until the ops before it are
//! durable.
//!
//! The store runs on a thread of its own, so a sync never blocks the
//! runtime: the driver sends numbered batches of ops over a channel, the
//! thread commits them (several batches per commit under group commit)
//! and answers with the number of the last batch made durable, which
//! wakes the connection task.

use super::driver::{now, Driver};
use crate::store::{Clock, DiskStore, Store, StoreError, StoreErrorKind, StoreOp, WritePolicy};
use crate::Error;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::mpsc as std_mpsc;
use std::task::{Context, Poll};
use std::time::SystemTime;
use tokio::sync::{mpsc, oneshot};

/// One step's ops, numbered in the order they were made.
struct Batch {
    seq: u64,
    ops: Vec<StoreOp>,
    clock: Clock,
}

/// The driver's handle on the store thread.
pub(crate) struct StoreWriter {
    to_thread: Option<std_mpsc::Sender<Batch>>,
    durable_rx: mpsc::UnboundedReceiver<Result<u64, StoreError>>,
    /// Fires once the thread has closed the database.
    closed: Option<oneshot::Receiver<()>>,
    path: std::path::PathBuf,
    /// The last batch sent, and the last one made durable.
    submitted: u64,
    durable: u64,
    /// The last batch the bytes written now must wait for.
    gate: u64,
    /// Bytes waiting for the batch they depend on.
    held: VecDeque<(u64, Bytes)>,
    /// "Accepted" signals waiting for their batch.
    accepts: VecDeque<(u64, oneshot::Sender<()>)>,
    failed: Option<StoreError>,
}

impl StoreWriter {
    /// Starts the store thread over an opened store.
    pub(crate) fn spawn(store: DiskStore, policy: WritePolicy) -> Result<Self, StoreError> {
        let path = store.path().to_owned();
        let (to_thread, from_driver) = std_mpsc::channel();
        let (durable_tx, durable_rx) = mpsc::unbounded_channel();
        let (closed_tx, closed) = oneshot::channel();
        std::thread::Builder::new()
            .name("tern-store".into())
            .spawn(move || {
                store_thread(store, policy, &from_driver, &durable_tx);
                let _ = closed_tx.send(());
            })
            .map_err(|e| StoreError::new(&path, e))?;
        Ok(StoreWriter {
            to_thread: Some(to_thread),
            durable_rx,
            closed: Some(closed),
            path,
            submitted: 0,
            durable: 0,
            gate: 0,
            held: VecDeque::new(),
            accepts: VecDeque::new(),
            failed: None,
        })
    }

    fn submit(&mut self, ops: Vec<StoreOp>) {
        self.submitted += 1;
        if gates_bytes(&ops) {
            self.gate = self.submitted;
        }
        let batch = Batch {
            seq: self.submitted,
            ops,
            clock: Clock {
                now: now(),
                wall: SystemTime::now(),
            },
        };
        let sent = self.to_thread.as_ref().map(|tx| tx.send(batch).is_ok());
        if sent != Some(true) && self.failed.is_none() {
            self.failed = Some(StoreError::new(&self.path, StoreErrorKind::Closed));
        }
    }

    /// Fires `accepted` once every batch sent so far is durable.
    fn accept_after_submitted(&mut self, accepted: oneshot::Sender<()>) {
        if self.submitted <= self.durable {
            let _ = accepted.send(());
        } else {
            self.accepts.push_back((self.submitted, accepted));
        }
    }

    /// Takes what the thread reports. True when anything came.
    fn poll_durable(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Poll::Ready(report) = self.durable_rx.poll_recv(cx) {
            progress = true;
            if !self.take_report(report) {
                break;
            }
        }
        self.fire_accepts();
        progress
    }

    /// One report of the thread (`None`: it has ended). False once no
    /// more can come.
    fn take_report(&mut self, report: Option<Result<u64, StoreError>>) -> bool {
        match report {
            Some(Ok(seq)) => self.durable = self.durable.max(seq),
            Some(Err(e)) => {
                self.failed.get_or_insert(e);
            }
            None => {
                if self.to_thread.is_some() {
                    let closed = StoreError::new(&self.path, StoreErrorKind::Closed);
                    self.failed.get_or_insert(closed);
                }
                return false;
            }
        }
        true
    }

    /// Tells every message whose batch is durable that it is accepted.
    fn fire_accepts(&mut self) {
        while let Some((seq, _)) = self.accepts.front() {
            if *seq > self.durable {
                break;
            }
            if let Some((_, accepted)) = self.accepts.pop_front() {
                let _ = accepted.send(());
            }
        }
    }

    /// Moves the bytes whose batch is durable to `out`.
    fn release(&mut self, out: &mut BytesMut) {
        while self
            .held
            .front()
            .is_some_and(|(seq, _)| *seq <= self.durable)
        {
            if let Some((_, bytes)) = self.held.pop_front() {
                out.extend_from_slice(&bytes);
            }
        }
    }

    /// Stops the thread once it has committed what was sent, and waits
    /// until it has closed the database (so that another client may open
    /// it).
    async fn close(&mut self) {
        self.to_thread = None;
        if let Some(closed) = self.closed.take() {
            let _ = closed.await;
        }
        // What the last commits made durable is accepted, even now.
        while let Ok(report) = self.durable_rx.try_recv() {
            self.take_report(Some(report));
        }
        self.fire_accepts();
    }
}

/// The thread: commits batches under the policy until the driver hangs up
/// or a commit fails.
fn store_thread(
    mut store: DiskStore,
    policy: WritePolicy,
    from_driver: &std_mpsc::Receiver<Batch>,
    durable: &mpsc::UnboundedSender<Result<u64, StoreError>>,
) {
    while let Ok(first) = from_driver.recv() {
        let group = gather(first, policy, from_driver);
        let Some(last) = group.last() else { break };
        let (seq, clock) = (last.seq, last.clock);
        let ops: Vec<StoreOp> = group.into_iter().flat_map(|b| b.ops).collect();
        let result = store.apply(&ops, &clock);
        let failed = result.is_err();
        if durable.send(result.map(|()| seq)).is_err() || failed {
            break;
        }
    }
}

fn puts(batch: &Batch) -> usize {
    batch
        .ops
        .iter()
        .filter(|op| matches!(op, StoreOp::PutMessage { .. }))
        .count()
}

/// Whether a batch concerns outgoing messages (a new one, a stage, one
/// done): those may wait for a group.
fn about_messages(batch: &Batch) -> bool {
    batch.ops.iter().any(|op| {
        matches!(
            op,
            StoreOp::PutMessage { .. } | StoreOp::SetStage { .. } | StoreOp::RemoveMessage { .. }
        )
    })
}

/// Whether the bytes written after this batch must wait for it. A batch
/// that only removes finished messages need not hold anything back: if a
/// crash loses it, the next process sends a QoS 1 message again (allowed
/// duplicate) or a PUBREL the broker answers as unknown.
fn gates_bytes(ops: &[StoreOp]) -> bool {
    ops.iter()
        .any(|op| !matches!(op, StoreOp::RemoveMessage { .. }))
}

/// The batches one commit takes: under group commit, every batch already
/// waiting, then more until `max_messages` new messages wait or
/// `max_delay` has passed since the first (no wait when no outgoing
/// message is concerned: incoming acks and subscriptions go at once);
/// otherwise one batch.
fn gather(first: Batch, policy: WritePolicy, rx: &std_mpsc::Receiver<Batch>) -> Vec<Batch> {
    let WritePolicy::GroupCommit {
        max_delay,
        max_messages,
    } = policy
    else {
        return vec![first];
    };
    let started = std::time::Instant::now();
    let mut count = puts(&first);
    let mut waits = about_messages(&first);
    let mut group = vec![first];
    while count < max_messages {
        let next = match rx.try_recv() {
            Ok(b) => b,
            Err(std_mpsc::TryRecvError::Disconnected) => break,
            Err(std_mpsc::TryRecvError::Empty) if !waits => break,
            Err(std_mpsc::TryRecvError::Empty) => {
                let left = max_delay.saturating_sub(started.elapsed());
                match rx.recv_timeout(left) {
                    Ok(b) => b,
                    Err(_) => break,
                }
            }
        };
        count += puts(&next);
        waits |= about_messages(&next);
        group.push(next);
    }
    group
}

/// Opens the store in `dir` and reads it back (on a blocking thread), then
/// starts the store thread.
pub(crate) async fn open_store(
    dir: std::path::PathBuf,
    version: crate::codec::ProtocolVersion,
    recovery: crate::store::StoreRecovery,
    policy: WritePolicy,
) -> Result<(StoreWriter, crate::store::StoredSession), Error> {
    let opened = tokio::task::spawn_blocking(move || {
        let mut store = DiskStore::open(&dir, version, recovery)?;
        let stored = store.load()?;
        Ok::<_, StoreError>((store, stored))
    })
    .await
    .map_err(|_| Error::Closed)??;
    let (store, stored) = opened;
    Ok((StoreWriter::spawn(store, policy)?, stored))
}

impl Driver {
    /// Sends the ops the engine holds to the store as one batch.
    pub(super) fn submit_store_ops(&mut self) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        let mut ops = Vec::new();
        while let Some(op) = self.session.poll_store_op() {
            ops.push(op);
        }
        if !ops.is_empty() {
            store.submit(ops);
        }
    }

    /// Reports the message just handed to the engine as accepted once it
    /// (and everything before it) is durable; at once without a store.
    pub(super) fn accept_when_durable(&mut self, accepted: Option<oneshot::Sender<()>>) {
        self.submit_store_ops();
        let Some(accepted) = accepted else { return };
        match self.store.as_mut() {
            Some(store) => store.accept_after_submitted(accepted),
            None => {
                let _ = accepted.send(());
            }
        }
    }

    /// Takes the store thread's reports. True when any came.
    pub(super) fn poll_store(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(store) = self.store.as_mut() else {
            return false;
        };
        let progress = store.poll_durable(cx);
        if let Some(e) = store.failed.as_ref() {
            if self.final_error.is_none() {
                tracing::error!(error = %e, "the session store failed: the client stops");
                self.final_error = Some(Error::Store(e.duplicate()));
            }
        }
        progress
    }

    /// True once the store failed: the client stops.
    pub(super) fn store_failed(&self) -> bool {
        self.store.as_ref().is_some_and(|s| s.failed.is_some())
    }

    /// Moves what the engine wrote to `out`: at once without a store; with
    /// one, after the ops of the same step are sent to the store, and only
    /// once they are durable.
    /// Returns how many bytes it took from the engine (held ones
    /// included).
    pub(super) fn collect_transmit(&mut self, out: &mut BytesMut) -> usize {
        self.submit_store_ops();
        let Some(store) = self.store.as_mut() else {
            let before = out.len();
            self.session.transmit_into(out);
            return out.len().saturating_sub(before);
        };
        let mut taken = 0;
        while let Some(bytes) = self.session.poll_transmit() {
            taken += bytes.len();
            store.held.push_back((store.gate, bytes));
        }
        store.release(out);
        taken
    }

    /// Whether bytes wait for the store.
    pub(super) fn holds_bytes(&self) -> bool {
        self.store.as_ref().is_some_and(|s| !s.held.is_empty())
    }

    /// The connection is gone: the bytes held for it go with it.
    pub(super) fn discard_held(&mut self) {
        if let Some(store) = self.store.as_mut() {
            store.held.clear();
        }
    }

    /// Commits what is left and closes the store.
    pub(super) async fn close_store(&mut self) {
        self.submit_store_ops();
        if let Some(store) = self.store.as_mut() {
            store.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn batch(seq: u64, messages: u64) -> Batch {
        let cmd = crate::PublishCommand::to("t", "x", crate::QoS::AtLeastOnce).unwrap();
        let publish = crate::codec::Publish {
            dup: false,
            qos: cmd.qos,
            retain: false,
            topic: Some(cmd.topic),
            packet_id: None,
            properties: cmd.properties,
            payload: cmd.payload,
        };
        let ops = (0..messages)
            .map(|key| StoreOp::PutMessage {
                key,
                publish: Box::new(publish.clone()),
                queued_at: Instant::now(),
            })
            .collect();
        Batch {
            seq,
            ops,
            clock: Clock {
                now: Instant::now(),
                wall: SystemTime::now(),
            },
        }
    }

    #[test]
    fn group_commit_takes_what_waits_up_to_max_messages() {
        let policy = WritePolicy::GroupCommit {
            max_delay: Duration::from_secs(3600),
            max_messages: 3,
        };
        let (tx, rx) = std_mpsc::channel();
        for seq in 2..=6 {
            tx.send(batch(seq, 1)).unwrap();
        }
        let group = gather(batch(1, 1), policy, &rx);
        assert_eq!(group.iter().map(|b| b.seq).collect::<Vec<_>>(), [1, 2, 3]);
        let group = gather(rx.recv().unwrap(), policy, &rx);
        assert_eq!(group.iter().map(|b| b.seq).collect::<Vec<_>>(), [4, 5, 6]);
    }

    #[test]
    fn group_commit_does_not_wait_without_messages_and_every_message_never_groups() {
        let policy = WritePolicy::GroupCommit {
            max_delay: Duration::from_secs(3600),
            max_messages: 64,
        };
        let (tx, rx) = std_mpsc::channel();
        // Nothing about outgoing messages: committed at once, no hour-long wait.
        assert_eq!(gather(batch(1, 0), policy, &rx).len(), 1);
        tx.send(batch(3, 1)).unwrap();
        let group = gather(batch(2, 1), WritePolicy::EveryMessage, &rx);
        assert_eq!(group.iter().map(|b| b.seq).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn only_removals_of_finished_messages_let_bytes_pass_before_they_are_durable() {
        assert!(!gates_bytes(&[StoreOp::RemoveMessage { key: 1 }]));
        let stage = StoreOp::SetStage {
            key: 1,
            stage: crate::store::MessageStage::Queued,
        };
        assert!(gates_bytes(&[StoreOp::RemoveMessage { key: 1 }, stage]));
        assert!(gates_bytes(&[StoreOp::RemoveIncoming { packet_id: 1 }]));
    }

    #[test]
    fn group_commit_stops_waiting_after_max_delay() {
        let policy = WritePolicy::GroupCommit {
            max_delay: Duration::from_millis(1),
            max_messages: 64,
        };
        let (_tx, rx) = std_mpsc::channel();
        let group = gather(batch(1, 1), policy, &rx);
        assert_eq!(
            group.len(),
            1,
            "the lone message is committed after the delay"
        );
    }
}
