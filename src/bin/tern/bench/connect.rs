//! Opening the bench's connections: one client id per connection, starts
//! spaced by the ramp-up across every role, connects in parallel.

use super::BenchArgs;
use crate::common::{connect, usage, CliError};
use crate::conn::ConnArgs;
use crate::props::Properties;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tern_mqtt::client::ConnectOptions;
use tern_mqtt::codec::ProtocolVersion;
use tern_mqtt::Client;
use tokio::task::JoinSet;

/// One open connection.
pub struct Conn {
    /// Its index within its role, from 0.
    pub index: usize,
    /// Its client id.
    pub id: String,
    /// The client.
    pub client: Client,
    /// Bytes written to its socket, when they are counted.
    pub written: Option<Arc<AtomicU64>>,
}

/// How long connecting took, for the connect rate.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnectStats {
    /// Connections tried.
    pub attempted: u64,
    /// Connections the broker accepted.
    pub connected: u64,
    /// From the first start to the last CONNACK (of one `open`; of the
    /// whole run in the summary).
    pub elapsed: Duration,
}

/// Opens connections with the options of the command line.
pub struct Dialer {
    template: ConnectOptions,
    conn: ConnArgs,
    broker: String,
    id_base: String,
    start: Instant,
    step: Duration,
    /// The next ramp-up slot, over every role.
    slot: AtomicU64,
    /// Connections accepted so far, for the progress lines.
    pub connected: Arc<AtomicU64>,
}

impl Dialer {
    /// A dialer for `args`; connections are named after `run` unless -i or
    /// -I was given.
    pub fn new(args: &BenchArgs, version: ProtocolVersion, run: &str) -> Result<Dialer, CliError> {
        let props = Properties::parse(&args.conn.properties, version, &["connect", "will"])?;
        if args.conn.store.is_some() {
            // Every bench connection would need a store of its own.
            return Err(usage("--store is for pub and sub, not bench"));
        }
        let template = args.conn.options(version, &props, false, "")?;
        let id_base = match (&args.conn.client_id, &args.conn.id_prefix) {
            (Some(id), _) => id.clone(),
            (None, Some(prefix)) => format!("{prefix}{}", std::process::id()),
            (None, None) => format!("tern-{run}"),
        };
        Ok(Dialer {
            template,
            conn: args.conn.clone(),
            broker: args.conn.broker_url()?.broker,
            id_base,
            start: Instant::now(),
            step: Duration::from_millis(args.ramp_up),
            slot: AtomicU64::new(0),
            connected: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Time since ramp-up slot 0.
    pub fn since_first_slot(&self) -> Duration {
        self.start.elapsed()
    }

    /// The client id of connection `index` of `role`.
    pub fn client_id(&self, role: &str, index: usize) -> String {
        format!("{}-{role}-{index}", self.id_base)
    }

    /// The options of connection `index` of `role`; with `count`, a
    /// socket that counts its bytes (for mqtt:// and mqtts://) and no
    /// outgoing topic aliases, so that every PUBLISH has the same size.
    fn options(
        &self,
        role: &str,
        index: usize,
        buffer: Option<usize>,
        count: bool,
    ) -> Result<(ConnectOptions, Option<Arc<AtomicU64>>), CliError> {
        let mut opts = self
            .template
            .clone()
            .client_id(&self.client_id(role, index));
        if let Some(bytes) = buffer {
            opts = opts.subscription_buffer_bytes(bytes);
        }
        if !count {
            return Ok((opts, None));
        }
        let written = Arc::new(AtomicU64::new(0));
        match crate::network::count_writes(&self.conn, opts.clone(), &self.broker, written.clone())?
        {
            Some(mut counted) => {
                counted.session_config_mut().outgoing_topic_aliases = false;
                Ok((counted, Some(written)))
            }
            None => Ok((opts, None)),
        }
    }

    /// Opens `n` connections of `role`, each at its ramp-up slot (`count`:
    /// see `options`); returns them in index order with their stats, or
    /// each failure.
    pub async fn open(
        &self,
        role: &str,
        n: usize,
        buffer: Option<usize>,
        count: bool,
    ) -> (Vec<Result<Conn, CliError>>, ConnectStats) {
        let mut set = JoinSet::new();
        let first = Instant::now();
        for index in 0..n {
            let id = self.client_id(role, index);
            let (opts, written) = match self.options(role, index, buffer, count) {
                Ok(o) => o,
                Err(e) => {
                    set.spawn(async move { Err(e) });
                    continue;
                }
            };
            let slot = self.slot.fetch_add(1, Ordering::Relaxed);
            let at = self.start
                + self
                    .step
                    .saturating_mul(u32::try_from(slot).unwrap_or(u32::MAX));
            let connected = self.connected.clone();
            set.spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                let client = connect(opts).await?;
                connected.fetch_add(1, Ordering::Relaxed);
                Ok::<_, CliError>(Conn {
                    index,
                    id,
                    client,
                    written,
                })
            });
        }
        let mut out = Vec::with_capacity(n);
        while let Some(joined) = set.join_next().await {
            out.push(joined.unwrap_or_else(|e| {
                Err(crate::common::failed(format!(
                    "a connection task failed: {e}"
                )))
            }));
        }
        out.sort_by_key(|r| r.as_ref().map(|c| c.index).unwrap_or(usize::MAX));
        let connected = out.iter().filter(|r| r.is_ok()).count();
        let stats = ConnectStats {
            attempted: n as u64,
            connected: connected as u64,
            elapsed: first.elapsed(),
        };
        (out, stats)
    }
}

/// All connections, or the first failure.
pub fn all_or_first_error(conns: Vec<Result<Conn, CliError>>) -> Result<Vec<Conn>, CliError> {
    conns.into_iter().collect()
}
