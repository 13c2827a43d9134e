//! SUBSCRIBE and UNSUBSCRIBE requests, and the subscriptions the server
//! granted, remembered so they can be restored.

use super::event::RequestId;
use crate::codec::{SubscribeProperties, SubscriptionOptions, UnsubscribeProperties};
use crate::topic::TopicFilter;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::num::NonZeroU32;

/// A subscription request, before it has a packet identifier.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    Subscribe {
        req: RequestId,
        properties: SubscribeProperties,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
    },
    Unsubscribe {
        req: RequestId,
        properties: UnsubscribeProperties,
        filters: Vec<TopicFilter>,
    },
}

/// A subscription the server granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSubscription {
    /// Options as requested (QoS capped to what was granted).
    pub options: SubscriptionOptions,
    /// The v5 subscription identifier, if one was set.
    pub subscription_id: Option<NonZeroU32>,
}

#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    /// Granted, by filter.
    pub active: BTreeMap<TopicFilter, ActiveSubscription>,
    /// Sent, awaiting SUBACK/UNSUBACK, by packet id.
    pub sent: HashMap<u16, Request>,
    /// Waiting for a connection or a packet id.
    pub queue: VecDeque<Request>,
}

impl Subscriptions {
    /// On a lost connection, requests in flight go back to the front of the
    /// queue, in their original order, to be sent on the next connection.
    /// Returns the packet ids they held.
    pub fn requeue_sent(&mut self) -> Vec<u16> {
        let mut ids: Vec<u16> = self.sent.keys().copied().collect();
        ids.sort_unstable();
        let mut reqs: Vec<Request> = ids.iter().filter_map(|id| self.sent.remove(id)).collect();
        reqs.sort_by_key(|r| match r {
            Request::Subscribe { req, .. } | Request::Unsubscribe { req, .. } => *req,
        });
        for r in reqs.into_iter().rev() {
            self.queue.push_front(r);
        }
        ids
    }

    pub fn is_idle(&self) -> bool {
        self.sent.is_empty() && self.queue.is_empty()
    }
}
