//! The receive loop of `tern sub`: each message through mosquitto_sub's
//! steps (--retained-only, -R, -T, --remove-retained, --random-filter,
//! print, -C), until -C, -W, Ctrl-C or the end of the connection.

use super::output::Output;
use super::SubArgs;
use crate::common::{failed, timed_out, CliError};
use bytes::Bytes;
use std::time::Duration;
use tern_mqtt::client::{ConnectionEvent, Message, Subscription};
use tern_mqtt::codec::QoS;
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::TopicFilter;
use tern_mqtt::Client;

/// What to do after a message.
enum Flow {
    Go,
    Stop,
}

/// The state of the receive loop.
pub struct Receiver<'a> {
    args: &'a SubArgs,
    out: Output,
    filter_out: Vec<TopicFilter>,
    client: Client,
    received: u64,
    /// --remove-retained publishes, awaited before exit.
    removals: Vec<tokio::task::JoinHandle<()>>,
}

impl<'a> Receiver<'a> {
    /// A receiver printing with `out`.
    pub fn new(
        args: &'a SubArgs,
        out: Output,
        filter_out: Vec<TopicFilter>,
        client: Client,
    ) -> Self {
        Receiver {
            args,
            out,
            filter_out,
            client,
            received: 0,
            removals: Vec::new(),
        }
    }

    /// Receives from `sub` and from the stream of messages matching no
    /// subscription (a resumed session's), until done.
    pub async fn run(&mut self, sub: &mut Option<Subscription>) -> Result<(), CliError> {
        let mut strays = self
            .client
            .unmatched()
            .await
            .map_err(|e| failed(format!("cannot read messages: {e}")))?;
        let mut events = self.client.events();
        let timeout = self.args.timeout.map(Duration::from_secs);
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let result = loop {
            let msg = tokio::select! {
                msg = async { sub.as_mut()?.recv().await }, if sub.is_some() => msg,
                msg = strays.recv() => msg,
                _ = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } }, if deadline.is_some() => {
                    break Err(timed_out());
                }
                _ = &mut ctrl_c => break Ok(()),
                ev = events.recv() => match report(ev) {
                    Some(e) => break Err(e),
                    None => continue,
                },
            };
            let Some(msg) = msg else {
                break Err(failed("the connection was closed"));
            };
            match self.handle(&msg) {
                Ok(Flow::Go) => {}
                Ok(Flow::Stop) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        for removal in self.removals.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), removal).await;
        }
        result
    }

    /// One message, in mosquitto_sub's order of checks.
    fn handle(&mut self, msg: &Message) -> Result<Flow, CliError> {
        let args = self.args;
        if args.retained_only && !msg.retain {
            return Ok(Flow::Stop);
        }
        if (msg.retain && args.no_retained) || self.filter_out.iter().any(|f| f.matches(&msg.topic))
        {
            return Ok(Flow::Go);
        }
        if args.remove_retained && msg.retain {
            self.remove(msg);
        }
        if !self.out.chosen() {
            return Ok(Flow::Go);
        }
        match self.out.print(msg) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(Flow::Stop),
            Err(e) => return Err(failed(format!("cannot write to stdout: {e}"))),
        }
        self.received += 1;
        match args.count {
            Some(n) if self.received >= n => Ok(Flow::Stop),
            _ => Ok(Flow::Go),
        }
    }

    /// Clears a retained message: an empty retained PUBLISH to its topic.
    fn remove(&mut self, msg: &Message) {
        let cmd =
            PublishCommand::new(msg.topic.clone(), Bytes::new(), QoS::AtLeastOnce).retain(true);
        let client = self.client.clone();
        self.removals.push(tokio::spawn(async move {
            if let Err(e) = client.publish_command(cmd).await {
                crate::common::note(format_args!(
                    "warning: cannot remove a retained message: {e}"
                ));
            }
        }));
    }
}

/// Connection events on stderr; the error that ends the loop, if any.
fn report(ev: Option<ConnectionEvent>) -> Option<CliError> {
    match ev {
        Some(ConnectionEvent::ConnectionLost { reason }) => {
            crate::common::note(format_args!("connection lost: {reason}; reconnecting"));
        }
        Some(ConnectionEvent::DisconnectedByServer {
            reason_code,
            reason_string,
            ..
        }) => {
            let why = reason_string.map(|s| format!(" ({s})")).unwrap_or_default();
            crate::common::note(format_args!(
                "the broker disconnected: {reason_code}{why}; reconnecting"
            ));
        }
        Some(ConnectionEvent::Reconnected { .. }) => crate::common::note("reconnected"),
        Some(ConnectionEvent::GaveUp { attempts }) => {
            return Some(failed(format!(
                "gave up reconnecting after {attempts} attempts"
            )));
        }
        Some(_) => {}
        None => return Some(failed("the connection was closed")),
    }
    None
}
