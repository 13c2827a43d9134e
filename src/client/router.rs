//! Routes incoming messages to the subscriptions whose filters match.

use super::Message;
use crate::codec::SubscriptionOptions;
use crate::topic::{TopicFilter, TopicName};
use tokio::sync::mpsc;

/// One `Subscription` handle's route.
#[derive(Debug)]
pub(crate) struct Route {
    pub id: u64,
    pub filters: Vec<(TopicFilter, SubscriptionOptions)>,
    pub tx: mpsc::Sender<Message>,
    /// The v5 subscription identifier the route subscribed with, when the
    /// broker supports them: messages carrying it go to this route alone.
    pub subscription_id: Option<std::num::NonZeroU32>,
    /// Whether the broker granted it (only granted routes are resubscribed).
    pub confirmed: bool,
}

/// What one route subscribes again with: its filters and its identifier.
pub(crate) type Resubscription = (
    Vec<(TopicFilter, SubscriptionOptions)>,
    Option<std::num::NonZeroU32>,
);

#[derive(Debug, Default)]
pub(crate) struct Router {
    routes: Vec<Route>,
    pub catch_all: Option<mpsc::Sender<Message>>,
}

impl Router {
    pub fn add(&mut self, route: Route) {
        self.routes.push(route);
    }

    /// Removes a route; returns its filters that no other route uses, which
    /// can be unsubscribed.
    pub fn remove(&mut self, id: u64) -> Vec<TopicFilter> {
        let Some(pos) = self.routes.iter().position(|r| r.id == id) else {
            return Vec::new();
        };
        let route = self.routes.swap_remove(pos);
        route
            .filters
            .into_iter()
            .map(|(f, _)| f)
            .filter(|f| {
                !self
                    .routes
                    .iter()
                    .any(|r| r.filters.iter().any(|(g, _)| g == f))
            })
            .collect()
    }

    /// Marks a route granted, keeping only the filters the broker granted.
    pub fn confirm(&mut self, id: u64, results: &[crate::session::SubscribeResult]) {
        if let Some(r) = self.routes.iter_mut().find(|r| r.id == id) {
            let mut granted = results.iter().map(Result::is_ok);
            r.filters.retain(|_| granted.next().unwrap_or(false));
            r.confirmed = true;
        }
    }

    /// The granted routes, for resubscribing: their filters and
    /// subscription identifiers.
    pub fn confirmed(&self) -> Vec<Resubscription> {
        self.routes
            .iter()
            .filter(|r| r.confirmed && !r.filters.is_empty())
            .map(|r| (r.filters.clone(), r.subscription_id))
            .collect()
    }

    /// The senders of the routes a message goes to: by its subscription
    /// identifiers when it carries ours (v5: exact, even when filters
    /// overlap), else every route with a matching filter. Empty when none
    /// matches (the caller then tries [`Router::catch_all`]).
    ///
    /// Without subscription identifiers (3.1.1, or a broker without them),
    /// a broker that sends one copy per matching subscription makes
    /// overlapping routes see a message more than once.
    pub fn targets(
        &self,
        topic: &TopicName,
        subscription_ids: &[std::num::NonZeroU32],
    ) -> Vec<mpsc::Sender<Message>> {
        let by_id: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| {
                r.subscription_id
                    .is_some_and(|id| subscription_ids.contains(&id))
            })
            .collect();
        let chosen: Vec<&Route> = if by_id.is_empty() {
            self.routes
                .iter()
                .filter(|r| r.filters.iter().any(|(f, _)| f.matches(topic)))
                .collect()
        } else {
            by_id
        };
        chosen
            .into_iter()
            .filter(|r| !r.tx.is_closed())
            .map(|r| r.tx.clone())
            .collect()
    }
}
