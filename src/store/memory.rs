//! A store in memory: what a disk store would hold, kept in maps. It
//! survives a new [`Session`](crate::session::Session) in the same process
//! (tests of the contract use it that way), not a process restart.

use super::{
    expiry_deadline, Clock, MessageStage, Store, StoreError, StoreOp, StoredIdentity,
    StoredMessage, StoredSession,
};
use crate::session::ActiveSubscription;
use crate::topic::TopicFilter;
use std::collections::{BTreeMap, BTreeSet};

/// The in-memory [`Store`].
///
/// ```
/// use tern_mqtt::store::{MemoryStore, Store};
///
/// let mut store = MemoryStore::default();
/// assert!(store.load().unwrap().is_empty());
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    identity: Option<StoredIdentity>,
    messages: BTreeMap<u64, StoredMessage>,
    incoming: BTreeSet<u16>,
    subscriptions: BTreeMap<TopicFilter, ActiveSubscription>,
}

impl Store for MemoryStore {
    fn load(&mut self) -> Result<StoredSession, StoreError> {
        Ok(StoredSession {
            identity: self.identity.clone(),
            messages: self.messages.values().cloned().collect(),
            incoming: self.incoming.iter().copied().collect(),
            subscriptions: self
                .subscriptions
                .iter()
                .map(|(f, s)| (f.clone(), s.clone()))
                .collect(),
        })
    }

    fn apply(&mut self, ops: &[StoreOp], clock: &Clock) -> Result<(), StoreError> {
        for op in ops {
            self.apply_one(op, clock);
        }
        Ok(())
    }
}

impl MemoryStore {
    fn apply_one(&mut self, op: &StoreOp, clock: &Clock) {
        match op {
            StoreOp::PutIdentity(identity) => self.identity = Some(identity.clone()),
            StoreOp::PutMessage {
                key,
                publish,
                queued_at,
            } => {
                let message = StoredMessage {
                    key: *key,
                    publish: (**publish).clone(),
                    stage: MessageStage::Queued,
                    expires_at: expiry_deadline(publish, *queued_at, clock),
                };
                self.messages.insert(*key, message);
            }
            StoreOp::SetStage { key, stage } => {
                if let Some(m) = self.messages.get_mut(key) {
                    m.stage = *stage;
                }
            }
            StoreOp::RemoveMessage { key } => {
                self.messages.remove(key);
            }
            StoreOp::PutIncoming { packet_id } => {
                self.incoming.insert(*packet_id);
            }
            StoreOp::RemoveIncoming { packet_id } => {
                self.incoming.remove(packet_id);
            }
            StoreOp::ClearIncoming => self.incoming.clear(),
            StoreOp::PutSubscription {
                filter,
                subscription,
            } => {
                self.subscriptions
                    .insert(filter.clone(), subscription.clone());
            }
            StoreOp::RemoveSubscription { filter } => {
                self.subscriptions.remove(filter);
            }
            StoreOp::ClearSubscriptions => self.subscriptions.clear(),
        }
    }
}
