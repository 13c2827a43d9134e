//! The child processes of the crash test (tests/crash.rs): a publisher and a
//! subscriber, each one life of a client that the test kills with SIGKILL
//! and starts again with the same store directory.
//!
//! The test re-runs its own binary with `CRASH_ROLE` set (see
//! [`ChildEnv`]); the child talks to the parent only through lines on
//! stdout ([`Report`], each written and flushed before the step it reports
//! is taken further) and lines on stdin (`marker`; end of input = disconnect
//! and exit). A child never sleeps: it reconnects at once when its first
//! connect is cut, and otherwise waits on the client or on stdin.
#![allow(dead_code)]

use super::delivery::{parse_payload, payload, persistent_session};
use futures_util::SinkExt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tern_mqtt::client::{Message, OfflinePolicy};
use tern_mqtt::codec::QoS;
use tern_mqtt::prelude::{PublishCommand, WritePolicy};
use tern_mqtt::{Client, ConnectOptions};
use tokio::io::AsyncBufReadExt;

/// Topic of the QoS 1 messages.
pub const TOPIC_Q1: &str = "crash/q1";
/// QoS 2 message `n` goes to `crash/q2/<n>`, so the broker log (which
/// shows topics, not payloads) tells which message a packet id carried.
pub const PREFIX_Q2: &str = "crash/q2/";
/// Published once at the end, after everything else, to flush out late
/// redeliveries.
pub const TOPIC_MARKER: &str = "crash/marker";
/// The subscriber's filter: every topic above.
pub const FILTER_ALL: &str = "crash/#";
/// Connect attempts of one life before it gives up (each attempt may be
/// cut by the proxy at any byte, CONNECT and CONNACK included).
const CONNECT_ATTEMPTS: u32 = 200;

/// What a child prints on stdout, one line each, prefixed `crash: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Connected (and, for the subscriber, subscribed).
    Ready,
    /// Publisher: about to feed message `(qos, seq)` to the sink (printed
    /// first, so a message the client may hold was always announced).
    Feeding(u8, u32),
    /// Publisher: the enqueue of message `(qos, seq)` completed (the sink
    /// flushed it): the client holds it and must not lose it.
    Accepted(u8, u32),
    /// Publisher: the publish of `(qos, seq)` completed (PUBACK / PUBCOMP)
    /// with success, or failed (`false`).
    Done(u8, u32, bool),
    /// Publisher: every message of this life's list is accepted and done.
    Finished,
    /// Publisher: the end marker is published. Subscriber: it arrived.
    Marker,
    /// Subscriber: message `(qos, seq)` arrived, with its DUP flag; printed
    /// before it is acknowledged.
    Got(u8, u32, bool),
    /// Subscriber: a message whose topic or payload is not one we sent.
    Corrupt(String),
}

impl Report {
    /// The line for this report (without the newline).
    pub fn line(&self) -> String {
        match self {
            Report::Ready => "crash: ready".into(),
            Report::Feeding(q, s) => format!("crash: feeding {q} {s}"),
            Report::Accepted(q, s) => format!("crash: accepted {q} {s}"),
            Report::Done(q, s, ok) => format!("crash: done {q} {s} {}", u8::from(*ok)),
            Report::Finished => "crash: finished".into(),
            Report::Marker => "crash: marker".into(),
            Report::Got(q, s, dup) => format!("crash: got {q} {s} {}", u8::from(*dup)),
            Report::Corrupt(what) => format!("crash: corrupt {what}"),
        }
    }

    /// Parses a line made by [`line`](Self::line); other lines (the test
    /// harness's own) give `None`.
    pub fn parse(line: &str) -> Option<Report> {
        let rest = line.strip_prefix("crash: ")?;
        let mut words = rest.split(' ');
        let kind = words.next()?;
        if kind == "corrupt" {
            return Some(Report::Corrupt(rest["corrupt".len()..].trim().to_string()));
        }
        let mut num = || -> Option<u32> { words.next()?.parse().ok() };
        let report = match kind {
            "ready" => Report::Ready,
            "finished" => Report::Finished,
            "marker" => Report::Marker,
            "feeding" => Report::Feeding(u8::try_from(num()?).ok()?, num()?),
            "accepted" => Report::Accepted(u8::try_from(num()?).ok()?, num()?),
            "done" => Report::Done(u8::try_from(num()?).ok()?, num()?, num()? == 1),
            "got" => Report::Got(u8::try_from(num()?).ok()?, num()?, num()? == 1),
            _ => return None,
        };
        Some(report)
    }
}

/// Writes a report and flushes it: once `say` returns, the parent sees the
/// line even if this process is killed the next instant.
pub fn say(report: &Report) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", report.line()).expect("write a report to stdout");
    out.flush().expect("flush stdout");
}

/// The child's settings, from environment variables the parent sets.
#[derive(Debug, Clone)]
pub struct ChildEnv {
    /// `CRASH_ROLE`: `publisher` or `subscriber`.
    pub role: String,
    /// `CRASH_URL`: the proxy in front of the broker.
    pub url: String,
    /// `CRASH_CLIENT_ID`.
    pub client_id: String,
    /// `CRASH_STORE_DIR`: the client's store directory (without it: the
    /// in-memory client).
    pub store_dir: Option<PathBuf>,
    /// `CRASH_GROUP_COMMIT`: `0` for a store write per message, else the
    /// group commit's message count (with a 2 ms delay).
    pub group_commit: usize,
    /// `CRASH_TODO`: publisher only: a file of `qos seq` lines to publish.
    pub todo: Option<PathBuf>,
    /// `CRASH_BATCH`: publisher only: messages fed to the sink per flush.
    pub batch: usize,
}

impl ChildEnv {
    /// The settings, or `None` when `CRASH_ROLE` is not set (the child
    /// entry point is then run by hand or by `--include-ignored`).
    pub fn from_env() -> Option<ChildEnv> {
        let role = std::env::var("CRASH_ROLE").ok()?;
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
        let number = |name: &str| -> usize {
            var(name)
                .parse()
                .unwrap_or_else(|e| panic!("{name} is a number: {e}"))
        };
        Some(ChildEnv {
            role,
            url: var("CRASH_URL"),
            client_id: var("CRASH_CLIENT_ID"),
            store_dir: std::env::var_os("CRASH_STORE_DIR").map(PathBuf::from),
            group_commit: number("CRASH_GROUP_COMMIT"),
            todo: std::env::var_os("CRASH_TODO").map(PathBuf::from),
            batch: std::env::var("CRASH_BATCH")
                .ok()
                .and_then(|b| b.parse().ok())
                .unwrap_or(1),
        })
    }

    /// The variables that make a child with these settings.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("CRASH_ROLE", self.role.clone()),
            ("CRASH_URL", self.url.clone()),
            ("CRASH_CLIENT_ID", self.client_id.clone()),
            ("CRASH_GROUP_COMMIT", self.group_commit.to_string()),
            ("CRASH_BATCH", self.batch.to_string()),
        ];
        if let Some(dir) = &self.store_dir {
            v.push(("CRASH_STORE_DIR", dir.display().to_string()));
        }
        if let Some(todo) = &self.todo {
            v.push(("CRASH_TODO", todo.display().to_string()));
        }
        v
    }

    /// Options of this life's client: a persistent session on the store,
    /// quick reconnects.
    fn options(&self) -> ConnectOptions {
        let options = persistent_session(&self.url, &self.client_id);
        let Some(dir) = &self.store_dir else {
            return options;
        };
        let policy = match self.group_commit {
            0 => WritePolicy::EveryMessage,
            n => WritePolicy::GroupCommit {
                max_delay: Duration::from_millis(2),
                max_messages: n,
            },
        };
        options.persist_to(dir).write_policy(policy)
    }
}

/// Runs the role the environment names; returns at once without one.
pub fn run_child() {
    let Some(env) = ChildEnv::from_env() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("child runtime");
    match env.role.as_str() {
        "publisher" => rt.block_on(publisher(env)),
        "subscriber" => rt.block_on(subscriber(env)),
        other => panic!("CRASH_ROLE={other}: not a role"),
    }
    // The stdin reader thread may still be parked in a read.
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// Connects, trying again at once while the proxy cuts the first
/// connection (reconnects after that are the client's).
async fn connect(options: ConnectOptions) -> Client {
    let mut last = None;
    for _ in 0..CONNECT_ATTEMPTS {
        match Client::connect(options.clone()).await {
            Ok(client) => return client,
            Err(e) => last = Some(e),
        }
    }
    panic!("no connection in {CONNECT_ATTEMPTS} attempts, last error: {last:?}");
}

/// The `(qos, seq)` list of this life.
fn read_todo(env: &ChildEnv) -> Vec<(u8, u32)> {
    let path = env.todo.as_ref().expect("CRASH_TODO for the publisher");
    let text = std::fs::read_to_string(path).expect("read the todo list");
    text.lines()
        .filter_map(|l| {
            let (q, s) = l.split_once(' ')?;
            Some((q.parse().ok()?, s.parse().ok()?))
        })
        .collect()
}

/// The command of message `(qos, seq)`.
pub fn message(qos: u8, seq: u32) -> PublishCommand {
    let (topic, q) = if qos == 1 {
        (TOPIC_Q1.to_string(), QoS::AtLeastOnce)
    } else {
        (format!("{PREFIX_Q2}{seq}"), QoS::ExactlyOnce)
    };
    PublishCommand::to(&topic, payload(qos, seq), q).expect("valid topic")
}

/// Publishes the todo list through the `Publisher` sink, `batch` messages
/// per flush, reporting each message accepted once the flush returned and
/// done once its outcome came; then waits for stdin.
async fn publisher(env: ChildEnv) {
    let todo = Arc::new(read_todo(&env));
    // A gateway's publisher waits out a disconnection instead of failing.
    let client = connect(env.options().offline_policy(OfflinePolicy::Wait)).await;
    say(&Report::Ready);
    let mut sink = client.publisher();
    let mut completions = sink.completions();
    let list = Arc::clone(&todo);
    let outcomes = tokio::spawn(async move {
        for _ in 0..list.len() {
            let (sequence, outcome) = completions.recv().await.expect("an outcome per message");
            let (q, s) = usize::try_from(sequence)
                .ok()
                .and_then(|i| list.get(i).copied())
                .expect("the sink numbers messages in order");
            let ok = match outcome {
                Ok(o) if o.reason_code.is_success() => true,
                Ok(o) => {
                    eprintln!("crash: QoS {q} #{s} refused: {o}");
                    false
                }
                Err(e) => {
                    eprintln!("crash: QoS {q} #{s} failed: {e}");
                    false
                }
            };
            say(&Report::Done(q, s, ok));
        }
    });
    for chunk in todo.chunks(env.batch.max(1)) {
        for &(q, s) in chunk {
            say(&Report::Feeding(q, s));
            sink.feed(message(q, s)).await.expect("sink accepts");
        }
        sink.flush().await.expect("sink flushes");
        for &(q, s) in chunk {
            say(&Report::Accepted(q, s));
        }
    }
    outcomes.await.expect("outcome reader");
    say(&Report::Finished);
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = stdin.next_line().await {
        if line == "marker" {
            client
                .publish(TOPIC_MARKER, "end", QoS::ExactlyOnce, false)
                .await
                .expect("marker published");
            say(&Report::Marker);
        }
    }
    sink.close().await.expect("sink closes");
    client.disconnect().await.expect("publisher disconnects");
}

/// Reads every message (from its subscription, or from the unmatched
/// stream when it came before the subscription was made again), printing
/// each before it acknowledges it, until stdin ends.
async fn subscriber(env: ChildEnv) {
    let mut options = env.options().manual_acks(true);
    // CRASH_SUB_RECEIVE_MAXIMUM: a Receive Maximum below the default, to
    // reproduce how a broker that exceeds it meets the client.
    if let Some(max) = std::env::var("CRASH_SUB_RECEIVE_MAXIMUM")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        options = options.receive_maximum(max);
    }
    let client = connect(options).await;
    let mut unmatched = client.unmatched().await.expect("unmatched stream");
    let mut all = client
        .subscribe(FILTER_ALL, QoS::ExactlyOnce)
        .await
        .expect("subscribe");
    say(&Report::Ready);
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        let message = tokio::select! {
            m = all.recv() => m,
            m = unmatched.recv() => m,
            line = stdin.next_line() => match line {
                Ok(Some(_)) => continue,
                _ => break,
            },
        };
        let message = message.expect("streams stay open while the client lives");
        say(&report_of(&message));
        message.ack();
    }
    // Disconnect first: dropping a subscription unsubscribes, and the
    // session's subscription must outlive this process.
    client.disconnect().await.expect("subscriber disconnects");
    drop((all, unmatched));
}

/// What the subscriber prints about a message.
fn report_of(m: &Message) -> Report {
    let topic = m.topic.as_str();
    if topic == TOPIC_MARKER {
        return Report::Marker;
    }
    let qos = if topic == TOPIC_Q1 { 1 } else { 2 };
    let expected_topic = qos == 1 || topic.strip_prefix(PREFIX_Q2).is_some();
    match parse_payload(qos, &m.payload) {
        Some(seq) if expected_topic && (qos == 1 || topic == format!("{PREFIX_Q2}{seq}")) => {
            Report::Got(qos, seq, m.dup)
        }
        _ => Report::Corrupt(format!("{topic} ({} bytes)", m.payload.len())),
    }
}
