//! Subscriptions restored from a session store: routes that buffer their
//! messages (holding back the acks once full, as any subscription does)
//! until the application subscribes to the same filters again, which
//! claims them instead of failing with `AlreadySubscribed`.

use super::driver::{now, Driver, SubscribeReply};
use super::inbox::Inbox;
use super::router::Route;
use crate::codec::{SubscribeProperties, SubscriptionOptions};
use crate::session::{ActiveSubscription, SubscribeResult};
use crate::topic::TopicFilter;
use crate::Error;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use tokio::sync::oneshot;

type Filters = Vec<(TopicFilter, SubscriptionOptions)>;

impl Driver {
    /// One dormant route per restored subscription: the filters sharing a
    /// subscription identifier (one earlier `subscribe_many`) together,
    /// under that identifier as route id, so the broker's messages route
    /// to it exactly; each filter without one on its own.
    pub(super) fn add_dormant_routes(&mut self, restored: Vec<(TopicFilter, ActiveSubscription)>) {
        let mut by_id: BTreeMap<NonZeroU32, Filters> = BTreeMap::new();
        let mut plain = Vec::new();
        for (filter, s) in restored {
            let options = s.requested_options();
            match s.subscription_id {
                Some(id) => by_id.entry(id).or_default().push((filter, options)),
                None => plain.push(vec![(filter, options)]),
            }
        }
        if let Some(highest) = by_id.keys().next_back() {
            // New routes (and their identifiers) continue past these.
            self.next_route = self.next_route.max(u64::from(highest.get()));
        }
        for (id, filters) in by_id {
            self.add_dormant(u64::from(id.get()), Some(id), filters);
        }
        for filters in plain {
            self.next_route += 1;
            self.add_dormant(self.next_route, None, filters);
        }
    }

    fn add_dormant(&mut self, id: u64, subscription_id: Option<NonZeroU32>, filters: Filters) {
        let inbox = Inbox::new(
            id,
            self.settings.subscription_budget,
            self.commands.clone(),
            self.metrics.buffered.clone(),
        );
        let mut route = Route::new(id, filters, inbox);
        route.subscription_id = subscription_id;
        route.dormant = true;
        self.router.add(route);
    }

    /// The application subscribes again to a restored subscription: its
    /// route (with what it buffered) becomes the new `Subscription`. Same
    /// options and no properties: no SUBSCRIBE is sent, the answer is the
    /// stored grant. Otherwise a SUBSCRIBE under the route's identifier
    /// updates the broker's options, and the SUBACK answers.
    pub(super) fn reattach(
        &mut self,
        route_id: u64,
        filters: Filters,
        mut properties: SubscribeProperties,
        reply: oneshot::Sender<Result<SubscribeReply, Error>>,
    ) {
        let granted = self.session.subscriptions();
        let Some(route) = self.router.get_mut(route_id) else {
            let _ = reply.send(Err(Error::Closed));
            return;
        };
        route.dormant = false;
        let unchanged = properties.is_empty()
            && filters
                .iter()
                .all(|(f, o)| route.filters.iter().any(|(g, p)| g == f && p == o));
        if unchanged {
            let results: Vec<SubscribeResult> = filters
                .iter()
                .map(|(f, o)| Ok(granted.get(f).map_or(o.qos, |a| a.options.qos)))
                .collect();
            let inbox = std::sync::Arc::clone(&route.inbox);
            if reply.send(Ok((route_id, results, inbox))).is_err() {
                self.drop_route(route_id);
            }
            return;
        }
        if properties.subscription_identifier.is_none() {
            properties.subscription_identifier = route.subscription_id;
        }
        route.filters = filters.clone();
        match self.session.subscribe(now(), filters, properties) {
            Ok(id) => {
                self.pending.subscribes.insert(id, (route_id, reply));
            }
            Err(e) => {
                if let Some(route) = self.router.get_mut(route_id) {
                    route.dormant = true;
                }
                let _ = reply.send(Err(Error::Command(e)));
            }
        }
    }
}
