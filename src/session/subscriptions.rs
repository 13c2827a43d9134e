//! SUBSCRIBE and UNSUBSCRIBE requests, and the subscriptions the server
//! granted, remembered so they can be restored.

use super::event::RequestId;
use crate::codec::{
    QoS, ReasonCode, SubscribeProperties, SubscriptionOptions, UnsubscribeProperties,
};
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
    /// A SUBSCRIBE the session sends by itself to restore subscriptions a
    /// server lost: it completes with no event of its own, only as part of
    /// [`Event::SubscriptionsRestored`](super::Event::SubscriptionsRestored).
    Restore {
        properties: SubscribeProperties,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
    },
}

impl Request {
    /// A SUBSCRIBE's properties and filters (the application's or a
    /// restoration); `None` for an UNSUBSCRIBE.
    pub(crate) fn subscribe_parts(
        &self,
    ) -> Option<(&SubscribeProperties, &[(TopicFilter, SubscriptionOptions)])> {
        match self {
            Request::Subscribe {
                properties,
                filters,
                ..
            }
            | Request::Restore {
                properties,
                filters,
            } => Some((properties, filters)),
            Request::Unsubscribe { .. } => None,
        }
    }

    /// The order requests go back into the queue on a lost connection:
    /// restorations first (they rebuild what the server had before anything
    /// newer), then the application's by the order they were made.
    fn requeue_key(&self) -> (bool, RequestId) {
        match self {
            Request::Restore { .. } => (false, RequestId(0)),
            Request::Subscribe { req, .. } | Request::Unsubscribe { req, .. } => (true, *req),
        }
    }
}

/// A restoration of subscriptions under way: what its event will report.
#[derive(Debug, Default)]
pub(crate) struct Restoring {
    /// How many filters it re-subscribes.
    pub filters: usize,
    /// The filters refused so far.
    pub refused: Vec<(TopicFilter, ReasonCode)>,
}

/// A subscription the server granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSubscription {
    /// Options as requested (QoS capped to what was granted).
    pub options: SubscriptionOptions,
    /// The v5 subscription identifier, if one was set.
    pub subscription_id: Option<NonZeroU32>,
    /// The QoS asked for (which the server may have lowered in `options`);
    /// a restoration asks for it again.
    pub requested_qos: QoS,
}

impl ActiveSubscription {
    /// The options as first requested (QoS not capped).
    pub(crate) fn requested_options(&self) -> SubscriptionOptions {
        SubscriptionOptions {
            qos: self.requested_qos,
            ..self.options
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    /// Granted, by filter.
    pub active: BTreeMap<TopicFilter, ActiveSubscription>,
    /// Sent, awaiting SUBACK/UNSUBACK, by packet id.
    pub sent: HashMap<u16, Request, foldhash::fast::RandomState>,
    /// Waiting for a connection or a packet id.
    pub queue: VecDeque<Request>,
    /// A restoration under way, until its last SUBACK.
    pub restoring: Option<Restoring>,
}

impl Subscriptions {
    /// On a lost connection, requests in flight go back to the front of the
    /// queue, in their original order, to be sent on the next connection.
    /// Returns the packet ids they held.
    pub fn requeue_sent(&mut self) -> Vec<u16> {
        let mut ids: Vec<u16> = self.sent.keys().copied().collect();
        ids.sort_unstable();
        let mut reqs: Vec<Request> = ids.iter().filter_map(|id| self.sent.remove(id)).collect();
        reqs.sort_by_key(Request::requeue_key);
        for r in reqs.into_iter().rev() {
            self.queue.push_front(r);
        }
        ids
    }

    /// Takes every restoration request still queued (after
    /// [`requeue_sent`](Self::requeue_sent), that is all of them), as
    /// `(filter, options, identifier)`.
    pub fn take_restores(&mut self) -> Vec<(TopicFilter, SubscriptionOptions, Option<NonZeroU32>)> {
        let mut out = Vec::new();
        let mut keep = VecDeque::with_capacity(self.queue.len());
        for r in std::mem::take(&mut self.queue) {
            match r {
                Request::Restore {
                    properties,
                    filters,
                } => out.extend(
                    filters
                        .into_iter()
                        .map(|(f, o)| (f, o, properties.subscription_identifier)),
                ),
                other => keep.push_back(other),
            }
        }
        self.queue = keep;
        out
    }

    /// Whether a restoration request is still queued or awaits its SUBACK.
    pub fn restore_pending(&self) -> bool {
        let is_restore = |r: &Request| matches!(r, Request::Restore { .. });
        self.queue.iter().any(is_restore) || self.sent.values().any(is_restore)
    }

    pub fn is_idle(&self) -> bool {
        self.sent.is_empty() && self.queue.is_empty()
    }
}
