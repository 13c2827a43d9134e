//! Routes incoming messages to the subscriptions whose filters match, and
//! keeps what a full subscription buffer could not take yet.

use super::inbox::Inbox;
use super::Message;
use crate::codec::SubscriptionOptions;
use crate::session::AckToken;
use crate::topic::{TopicFilter, TopicName};
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;

/// The route id of the unmatched-message stream.
pub(crate) const UNMATCHED: u64 = 0;

/// A message a full buffer could not take: kept, unacknowledged, until the
/// application makes room.
#[derive(Debug)]
pub(crate) struct Held {
    pub message: Message,
    /// The ack owed once every route holding a copy has stored it.
    pub ack: Option<AckToken>,
}

/// One `Subscription` handle's route (or the unmatched stream's).
#[derive(Debug)]
pub(crate) struct Route {
    pub id: u64,
    pub filters: Vec<(TopicFilter, SubscriptionOptions)>,
    pub inbox: Arc<Inbox>,
    /// The v5 subscription identifier the route subscribed with, when the
    /// broker supports them: messages carrying it go to this route alone.
    pub subscription_id: Option<NonZeroU32>,
    /// Messages waiting for room in the inbox, oldest first.
    pub held: VecDeque<Held>,
    /// Whether the inbox was found full since it last had room (reported
    /// once per episode).
    pub full_reported: bool,
    /// A subscription restored from a store that the application has not
    /// subscribed to again yet: it buffers (and holds back) its messages
    /// until then. Its filters carry the options first asked for.
    pub dormant: bool,
}

impl Route {
    pub fn new(
        id: u64,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        inbox: Arc<Inbox>,
    ) -> Self {
        Route {
            id,
            filters,
            inbox,
            subscription_id: None,
            held: VecDeque::new(),
            full_reported: false,
            dormant: false,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Router {
    routes: Vec<Route>,
    unmatched: Route,
    /// The `Client::messages` streams: every message, once each.
    taps: Vec<Route>,
    /// Whether the application asked for the unmatched stream.
    unmatched_claimed: bool,
}

impl Router {
    pub fn new(unmatched: Arc<Inbox>) -> Self {
        Router {
            routes: Vec::new(),
            unmatched: Route::new(UNMATCHED, Vec::new(), unmatched),
            taps: Vec::new(),
            unmatched_claimed: false,
        }
    }

    /// Adds a stream of every message.
    pub fn add_tap(&mut self, tap: Route) {
        self.taps.push(tap);
    }

    /// The application reads the unmatched stream: it gets what matches no
    /// subscription even while `messages()` streams are live.
    pub fn claim_unmatched(&mut self) {
        self.unmatched_claimed = true;
    }

    pub fn add(&mut self, route: Route) {
        self.routes.push(route);
    }

    /// The restored route whose filters are exactly `filters` (options
    /// aside), while the application has not claimed it.
    pub fn dormant_for(&self, filters: &[(TopicFilter, SubscriptionOptions)]) -> Option<u64> {
        let same = |r: &Route| {
            r.filters.len() == filters.len()
                && filters
                    .iter()
                    .all(|(f, _)| r.filters.iter().any(|(g, _)| g == f))
        };
        self.routes
            .iter()
            .find(|r| r.dormant && !r.inbox.is_closed() && same(r))
            .map(|r| r.id)
    }

    /// The filter of `filters` that a live route already subscribes to.
    pub fn taken_filter<'a>(
        &self,
        filters: &'a [(TopicFilter, SubscriptionOptions)],
    ) -> Option<&'a TopicFilter> {
        filters.iter().map(|(f, _)| f).find(|f| {
            self.routes
                .iter()
                .any(|r| !r.inbox.is_closed() && r.filters.iter().any(|(g, _)| g == *f))
        })
    }

    /// Removes a route; returns its filters that no other route uses, which
    /// can be unsubscribed, the acks of the messages it still held (those
    /// messages are gone with the subscription; their acks must not block
    /// the ones after them), and how many messages went with it.
    pub fn remove(&mut self, id: u64) -> (Vec<TopicFilter>, Vec<AckToken>, u64) {
        let Some(pos) = self.routes.iter().position(|r| r.id == id) else {
            return (Vec::new(), self.remove_tap(id), 0);
        };
        let route = self.routes.swap_remove(pos);
        let held = u64::try_from(route.held.len()).unwrap_or(u64::MAX);
        let dropped = route.inbox.abandon().saturating_add(held);
        let acks = route.held.into_iter().filter_map(|h| h.ack).collect();
        let unused = route
            .filters
            .into_iter()
            .map(|(f, _)| f)
            .filter(|f| {
                !self
                    .routes
                    .iter()
                    .any(|r| r.filters.iter().any(|(g, _)| g == f))
            })
            .collect();
        (unused, acks, dropped)
    }

    /// Removes a `messages()` stream; returns the acks its held messages owed.
    fn remove_tap(&mut self, id: u64) -> Vec<AckToken> {
        let Some(pos) = self.taps.iter().position(|r| r.id == id) else {
            return Vec::new();
        };
        let tap = self.taps.swap_remove(pos);
        tap.inbox.abandon();
        tap.held.into_iter().filter_map(|h| h.ack).collect()
    }

    /// Keeps only the filters the broker granted.
    pub fn confirm(&mut self, id: u64, results: &[crate::session::SubscribeResult]) {
        if let Some(r) = self.get_mut(id) {
            let mut granted = results.iter().map(Result::is_ok);
            r.filters.retain(|_| granted.next().unwrap_or(false));
        }
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut Route> {
        if id == UNMATCHED {
            return Some(&mut self.unmatched);
        }
        self.routes
            .iter_mut()
            .chain(self.taps.iter_mut())
            .find(|r| r.id == id)
    }

    /// The ids of the routes a message goes to: by its subscription
    /// identifiers when it carries ours (v5: exact, even when filters
    /// overlap), else every route with a matching filter, else the
    /// unmatched stream.
    ///
    /// Without subscription identifiers (3.1.1, or a broker without them),
    /// a broker that sends one copy per matching subscription makes
    /// overlapping routes see a message more than once.
    ///
    /// Every live `messages()` stream gets the message too, once; a message
    /// that matches no subscription goes to the unmatched stream only when
    /// no `messages()` stream is live or the application asked for it.
    pub fn targets(&self, topic: &TopicName, subscription_ids: &[NonZeroU32]) -> Vec<u64> {
        let mut targets = self.subscription_targets(topic, subscription_ids);
        if !self.first_copy(topic, subscription_ids) {
            return targets;
        }
        let taps = self.taps.iter().filter(|r| !r.inbox.is_closed());
        let tapped = taps.clone().next().is_some();
        if tapped && !self.unmatched_claimed {
            targets.retain(|&id| id != UNMATCHED);
        }
        targets.extend(taps.map(|r| r.id));
        targets
    }

    /// Whether this PUBLISH is the copy `messages()` streams take. A broker
    /// may send one copy per matching subscription, each with its own
    /// identifier (mosquitto does): only the copy that carries the
    /// identifier of the first matching subscription counts. A copy
    /// without our identifiers always counts.
    fn first_copy(&self, topic: &TopicName, subscription_ids: &[NonZeroU32]) -> bool {
        let first = self
            .routes
            .iter()
            .filter(|r| !r.inbox.is_closed())
            .filter(|r| r.filters.iter().any(|(f, _)| f.matches(topic)))
            .filter_map(|r| r.subscription_id)
            .min();
        match first {
            Some(id) if subscription_ids.iter().any(|s| self.is_ours(*s)) => {
                subscription_ids.contains(&id)
            }
            _ => true,
        }
    }

    fn is_ours(&self, id: NonZeroU32) -> bool {
        self.routes.iter().any(|r| r.subscription_id == Some(id))
    }

    fn subscription_targets(&self, topic: &TopicName, subscription_ids: &[NonZeroU32]) -> Vec<u64> {
        let live = self.routes.iter().filter(|r| !r.inbox.is_closed());
        let by_id: Vec<u64> = live
            .clone()
            .filter(|r| {
                r.subscription_id
                    .is_some_and(|id| subscription_ids.contains(&id))
            })
            .map(|r| r.id)
            .collect();
        if !by_id.is_empty() {
            return by_id;
        }
        let by_filter: Vec<u64> = live
            .filter(|r| r.filters.iter().any(|(f, _)| f.matches(topic)))
            .map(|r| r.id)
            .collect();
        if by_filter.is_empty() {
            vec![UNMATCHED]
        } else {
            by_filter
        }
    }

    /// Ends every stream: readers get what is buffered, then the end.
    pub fn close_all(&mut self) {
        let all = self.routes.iter().chain(&self.taps);
        for r in all.chain(std::iter::once(&self.unmatched)) {
            r.inbox.close();
        }
    }
}

impl Router {
    /// The unmatched stream's buffer.
    pub fn unmatched_inbox(&self) -> Arc<Inbox> {
        Arc::clone(&self.unmatched.inbox)
    }

    /// Filters the application unsubscribed from by name: no route
    /// matches on them any more.
    pub fn forget_filters(&mut self, filters: &[TopicFilter]) {
        for r in &mut self.routes {
            r.filters.retain(|(f, _)| !filters.contains(f));
        }
    }
}
