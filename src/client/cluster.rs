//! Where each connection attempt goes: an ordered list of servers (a
//! cluster), each attempt after a failure moving on to the next, and v5
//! Server References (CONNACK or DISCONNECT 0x9C Use another server, 0x9D
//! Server moved) followed when the application asked for it, at most
//! `max_redirects` times in a row.

use crate::transport::Connector;
use crate::Error;
use std::sync::Arc;

/// Turns a Server Reference into a connector (the current scheme and TLS
/// settings, another host).
pub(crate) type Resolver = Arc<dyn Fn(&str) -> Result<Arc<dyn Connector>, Error> + Send + Sync>;

/// The servers of one client.
pub(crate) struct Servers {
    list: Vec<Arc<dyn Connector>>,
    /// Index in `list` of the server the next attempt goes to.
    next: usize,
    /// A referenced server the next attempt goes to instead.
    redirect: Option<Arc<dyn Connector>>,
    /// Redirects followed since the last accepted connection.
    redirects: u32,
    max_redirects: u32,
    resolve: Option<Resolver>,
}

impl Servers {
    /// `list` must not be empty (the URL of `ConnectOptions::new` is its
    /// first entry); `resolve` is set when references are to be followed.
    pub fn new(
        list: Vec<Arc<dyn Connector>>,
        resolve: Option<Resolver>,
        max_redirects: u32,
    ) -> Self {
        Servers {
            list,
            next: 0,
            redirect: None,
            redirects: 0,
            max_redirects,
            resolve,
        }
    }

    /// The connector of the next attempt.
    pub fn current(&self) -> Option<Arc<dyn Connector>> {
        self.redirect
            .clone()
            .or_else(|| self.list.get(self.next).cloned())
    }

    /// The next attempt's server, for status, events and logs.
    pub fn describe(&self) -> String {
        self.current().map(|c| c.describe()).unwrap_or_default()
    }

    /// An attempt failed or a connection was lost: the next one goes to the
    /// next server of the list (a redirect just set stays in force).
    pub fn advance(&mut self, keep_redirect: bool) {
        if !keep_redirect {
            self.redirect = None;
        }
        if !self.list.is_empty() {
            self.next = (self.next + 1) % self.list.len();
        }
    }

    /// The broker accepted a connection: the redirect count starts again,
    /// and the list resumes from the server that worked.
    pub fn accepted(&mut self) {
        self.redirects = 0;
    }

    /// The broker named another server. Returns it when the next attempt
    /// goes there: references are followed, the bound is not reached, and
    /// the reference resolves.
    pub fn follow(&mut self, reference: &str) -> Option<String> {
        let resolve = self.resolve.as_ref()?;
        if self.redirects >= self.max_redirects {
            tracing::warn!(
                reference,
                max = self.max_redirects,
                "not following another server reference: too many in a row"
            );
            return None;
        }
        match resolve(reference) {
            Ok(connector) => {
                self.redirects += 1;
                let name = connector.describe();
                self.redirect = Some(connector);
                Some(name)
            }
            Err(e) => {
                tracing::warn!(reference, error = %e, "cannot follow the server reference");
                None
            }
        }
    }
}
