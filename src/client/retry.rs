//! The reconnect decision of the connection task: after each connection
//! ends, the policy of [`super::reconnect`] decides; this part carries it
//! out: the version fallback, the reconnect hook (awaited while commands
//! are still taken), the next server of the cluster, the events and the
//! error that pending commands get when the client stops.

use super::driver::Driver;
use super::metrics::Cause;
use super::options::Credentials;
use super::reconnect::{Decision, End, Stop};
use super::{ConnectionEvent, ConnectionStatus, ReconnectAttempt};
use crate::codec::{MqttString, ProtocolVersion, ReasonCode};
use crate::Error;
use std::time::Duration;

impl Driver {
    /// With [`ConnectOptions::version_fallback`], a v5 CONNECT refused as
    /// an unsupported protocol version is tried again at once at 3.1.1.
    pub(super) fn falls_back(&mut self, end: End) -> bool {
        let refused = end == End::Refused(ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
        if refused
            && self.settings.version_fallback
            && self.session.version() == ProtocolVersion::V5
        {
            tracing::info!("the broker does not speak MQTT 5.0: falling back to 3.1.1");
            self.session.config_mut().version = ProtocolVersion::V311;
            self.last_error = None;
            return true;
        }
        false
    }

    /// Asks the policy (and the reconnect hook); reports and returns the
    /// delay before the next attempt, or stops.
    pub(super) async fn decide(&mut self, end: End) -> Option<Duration> {
        let cause = match end {
            End::Unreachable => Cause::Unreachable,
            End::Refused(_) => Cause::Refused,
            End::Lost {
                reason_code: Some(_),
                ..
            } => Cause::ServerDisconnect,
            End::Lost { .. } => Cause::Lost,
        };
        let decision = self.backoff.next(end);
        if !matches!(decision, Decision::Stop(_)) {
            self.metrics.reconnect(cause);
        }
        match decision {
            Decision::Retry { attempt, delay } => {
                self.report_retry(attempt, delay);
                let context = ReconnectAttempt {
                    attempt,
                    refused: None,
                };
                if let Some(c) = self.ask_hook(context).await {
                    self.apply_credentials(c);
                }
                Some(delay)
            }
            Decision::RetryWithNewCredentials {
                attempt,
                delay,
                reason_code,
            } => {
                let context = ReconnectAttempt {
                    attempt,
                    refused: Some(reason_code),
                };
                let fresh = self.ask_hook(context).await;
                if self.is_done() {
                    return None;
                }
                if fresh.is_some_and(|c| self.apply_credentials(c)) {
                    self.report_retry(attempt, delay);
                    Some(delay)
                } else {
                    self.stop(Stop::Refused(reason_code));
                    None
                }
            }
            Decision::Stop(stop) => {
                self.stop(stop);
                None
            }
        }
    }

    /// Picks the server of the coming attempt and reports it.
    fn report_retry(&mut self, attempt: u32, delay: Duration) {
        let followed = self
            .facts
            .server_reference
            .take()
            .and_then(|r| self.servers.follow(&r));
        self.servers.advance(followed.is_some());
        let server = self.servers.describe();
        self.set_status(ConnectionStatus::Reconnecting {
            attempt,
            server: server.clone(),
        });
        self.emit(ConnectionEvent::Reconnecting {
            attempt,
            delay,
            server,
        });
    }

    /// Awaits the reconnect hook, if there is one, while still taking
    /// commands, for at most the connect timeout (a hook that takes longer
    /// counts as one that returned nothing).
    async fn ask_hook(&mut self, context: ReconnectAttempt) -> Option<Credentials> {
        let hook = self.reconnect.hook.clone()?;
        let timeout = self.session.config().connect_timeout;
        match self
            .while_offline(tokio::time::timeout(timeout, hook(context)))
            .await?
        {
            Ok(credentials) => credentials,
            Err(_) => {
                tracing::warn!(
                    ?timeout,
                    "the reconnect hook did not answer within the connect timeout"
                );
                None
            }
        }
    }

    /// Puts the hook's credentials in force; false (and nothing changed)
    /// when they are not valid MQTT values, which are refused, not altered.
    fn apply_credentials(&mut self, c: Credentials) -> bool {
        let username = match c.username.map(MqttString::try_from).transpose() {
            Ok(u) => u,
            Err(why) => {
                tracing::warn!(%why, "the reconnect hook returned an invalid user name: refused");
                return false;
            }
        };
        if c.password
            .as_ref()
            .is_some_and(|p| p.len() > usize::from(u16::MAX))
        {
            tracing::warn!("the reconnect hook returned a password over 65,535 bytes: refused");
            return false;
        }
        let cfg = self.session.config_mut();
        cfg.username = username;
        cfg.password = c.password;
        true
    }

    /// Stops reconnecting for good, with an event and the error that
    /// pending commands get.
    fn stop(&mut self, stop: Stop) {
        let error = match stop {
            Stop::TakenOver => {
                self.emit(ConnectionEvent::SessionTakenOver);
                Error::SessionTakenOver
            }
            Stop::GaveUp { attempts } => {
                self.emit(ConnectionEvent::GaveUp { attempts });
                Error::ReconnectGaveUp { attempts }
            }
            Stop::Refused(reason_code) => {
                let attempts = self.backoff.failures();
                self.emit(ConnectionEvent::GaveUp { attempts });
                Error::ConnectionRefused {
                    reason_code,
                    reason_string: None,
                }
            }
        };
        self.final_error = Some(error);
    }
}
