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
    /// Whether the broker granted it (only granted routes are resubscribed).
    pub confirmed: bool,
}

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
            .filter(|f| !self.routes.iter().any(|r| r.filters.iter().any(|(g, _)| g == f)))
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

    /// Every granted filter still wanted, once each, for resubscribing.
    pub fn confirmed_filters(&self) -> Vec<(TopicFilter, SubscriptionOptions)> {
        let mut out: Vec<(TopicFilter, SubscriptionOptions)> = Vec::new();
        for (f, o) in self.routes.iter().filter(|r| r.confirmed).flat_map(|r| r.filters.iter()) {
            if !out.iter().any(|(g, _)| g == f) {
                out.push((f.clone(), *o));
            }
        }
        out
    }

    /// The senders of every route with a filter matching `topic`; the
    /// catch-all when none matches.
    pub fn targets(&self, topic: &TopicName) -> Vec<mpsc::Sender<Message>> {
        let mut out: Vec<mpsc::Sender<Message>> = self
            .routes
            .iter()
            .filter(|r| !r.tx.is_closed() && r.filters.iter().any(|(f, _)| f.matches(topic)))
            .map(|r| r.tx.clone())
            .collect();
        if out.is_empty() {
            if let Some(c) = self.catch_all.as_ref().filter(|c| !c.is_closed()) {
                out.push(c.clone());
            }
        }
        out
    }
}
