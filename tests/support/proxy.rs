//! A fault-injecting TCP proxy for tests, on tokio: it sits between a client
//! and a broker, listens on `127.0.0.1:0`, and for every accepted connection
//! opens one to the upstream address and copies bytes both ways, while it
//!
//! * cuts the connection after exactly N bytes in one direction
//!   ([`Cut::At`]) or after a seeded random number of bytes in a random or
//!   chosen direction ([`Cut::Random`]); the cut plan is drawn when the
//!   connection is accepted, from the settings current at that moment;
//! * delays every chunk it forwards ([`Delay::Fixed`], [`Delay::Random`]);
//! * splits its writes into 1-byte chunks ([`ProxyHandle::set_one_byte_chunks`]);
//! * cuts every live connection at once ([`ProxyHandle::cut_all`]).
//!
//! Delay and chunking are read for every chunk, so changing them affects
//! live connections. A cut closes both sockets (the peers see EOF, or a
//! reset when unread data was pending); when either peer closes, the proxy
//! closes the other side too (MQTT does not use half-closed connections).
//!
//! Randomness comes from [`XorShift`], seeded by the caller, so a failing
//! run can be replayed with the same plan (scheduling may still differ).
//!
//! ```ignore
//! #[path = "support/proxy.rs"]
//! mod proxy;
//! let proxy = proxy::Proxy::start(broker_addr, seed).await;
//! let h = proxy.handle();
//! h.set_cut(proxy::Cut::Random { direction: None, max_offset: 16 * 1024 });
//! // connect the client to proxy.addr() ...
//! h.cut_all();
//! assert!(h.cuts() > 0);
//! ```
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A tiny xorshift64* generator: reproducible from its seed, good enough
/// for fault plans (not for anything else).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from any seed (spread with splitmix64, so 0 and small
    /// seeds are fine).
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift(if z == 0 { 1 } else { z })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// Log-uniform in `0..=max`: every power-of-two scale is about equally
    /// likely, so tiny offsets (inside a CONNECT) and large ones (deep in a
    /// burst of publishes) both come up.
    pub fn log_uniform(&mut self, max: u64) -> u64 {
        let bits = 64 - max.leading_zeros() as u64;
        let scale = self.below(bits + 1);
        let ceiling = if scale >= 63 {
            max
        } else {
            (1u64 << scale).min(max)
        };
        self.range(0, ceiling)
    }
}

/// The seed from environment variable `var` (decimal or `0x` hex), else a
/// fresh one from the clock and the process id.
pub fn seed_from_env(var: &str) -> u64 {
    if let Ok(s) = std::env::var(var) {
        let s = s.trim();
        let parsed = match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        };
        return parsed.unwrap_or_else(|e| panic!("{var}={s:?} is not a u64: {e}"));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    XorShift::new(nanos ^ u64::from(std::process::id()).rotate_left(32)).next_u64()
}

/// Which way bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the broker.
    ClientToBroker,
    /// From the broker to the client.
    BrokerToClient,
}

/// When new connections get cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Never (only [`ProxyHandle::cut_all`] cuts).
    Never,
    /// After exactly `offset` bytes in `direction`: the connection is cut
    /// when byte `offset + 1` would be forwarded.
    At {
        /// Which way the bytes are counted.
        direction: Direction,
        /// Bytes forwarded before the cut.
        offset: u64,
    },
    /// After a random offset drawn log-uniformly from `0..=max_offset`
    /// ([`XorShift::log_uniform`]), in `direction` or, if `None`, a random
    /// one.
    Random {
        /// Fixed direction, or random per connection.
        direction: Option<Direction>,
        /// Largest offset.
        max_offset: u64,
    },
}

/// How long each forwarded chunk waits before it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delay {
    /// No delay.
    None,
    /// The same delay for every chunk.
    Fixed(Duration),
    /// Uniform in `0..=max` per chunk.
    Random {
        /// Largest delay.
        max: Duration,
    },
}

#[derive(Clone, Copy, Debug)]
struct Settings {
    cut: Cut,
    delay: Delay,
    one_byte_chunks: bool,
}

#[derive(Default, Debug)]
struct Counters {
    connections: AtomicU64,
    active: AtomicU64,
    upstream_failures: AtomicU64,
    cuts_c2b: AtomicU64,
    cuts_b2c: AtomicU64,
    killed: AtomicU64,
    bytes_c2b: AtomicU64,
    bytes_b2c: AtomicU64,
    writes: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    settings: Mutex<Settings>,
    rng: Mutex<XorShift>,
    kill: watch::Sender<u64>,
    counters: Counters,
}

/// Controls a running [`Proxy`]; cheap to clone, usable from any task.
#[derive(Clone)]
pub struct ProxyHandle {
    shared: Arc<Shared>,
}

/// A running proxy. Dropping it stops accepting and cuts every connection.
pub struct Proxy {
    addr: SocketAddr,
    handle: ProxyHandle,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to
    /// `upstream`. No faults until the handle sets some.
    pub async fn start(upstream: SocketAddr, seed: u64) -> Proxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the proxy on 127.0.0.1:0");
        let addr = listener.local_addr().expect("proxy local_addr");
        let (kill, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            upstream,
            settings: Mutex::new(Settings {
                cut: Cut::Never,
                delay: Delay::None,
                one_byte_chunks: false,
            }),
            rng: Mutex::new(XorShift::new(seed)),
            kill,
            counters: Counters::default(),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let shared = Arc::clone(&accept_shared);
                let kill = shared.kill.subscribe();
                tokio::spawn(serve(shared, client, kill));
            }
        });
        Proxy {
            addr,
            handle: ProxyHandle { shared },
            accept,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `mqtt://127.0.0.1:<port>` of [`addr`](Self::addr).
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.addr.port())
    }

    /// A handle to control and observe the proxy.
    pub fn handle(&self) -> ProxyHandle {
        self.handle.clone()
    }
}

impl std::ops::Deref for Proxy {
    type Target = ProxyHandle;
    fn deref(&self) -> &ProxyHandle {
        &self.handle
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.handle.shared.kill.send_modify(|e| *e += 1);
    }
}

impl ProxyHandle {
    /// The cut plan for connections accepted from now on.
    pub fn set_cut(&self, cut: Cut) {
        self.settings().cut = cut;
    }

    /// The delay per forwarded chunk (live connections too).
    pub fn set_delay(&self, delay: Delay) {
        self.settings().delay = delay;
    }

    /// Whether to write one byte at a time (live connections too).
    pub fn set_one_byte_chunks(&self, on: bool) {
        self.settings().one_byte_chunks = on;
    }

    /// Cuts every live connection now; returns at once (the connections
    /// close as their tasks wake). Counted in [`killed`](Self::killed).
    pub fn cut_all(&self) {
        self.shared.kill.send_modify(|e| *e += 1);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.counters.connections.load(Ordering::SeqCst)
    }

    /// Connections open to both sides right now.
    pub fn active(&self) -> u64 {
        self.shared.counters.active.load(Ordering::SeqCst)
    }

    /// Accepted connections whose upstream connect failed (broker down).
    pub fn upstream_failures(&self) -> u64 {
        self.shared
            .counters
            .upstream_failures
            .load(Ordering::SeqCst)
    }

    /// Connections cut at their planned offset in `direction`.
    pub fn cuts_in(&self, direction: Direction) -> u64 {
        let c = &self.shared.counters;
        match direction {
            Direction::ClientToBroker => c.cuts_c2b.load(Ordering::SeqCst),
            Direction::BrokerToClient => c.cuts_b2c.load(Ordering::SeqCst),
        }
    }

    /// Connections cut by [`cut_all`](Self::cut_all).
    pub fn killed(&self) -> u64 {
        self.shared.counters.killed.load(Ordering::SeqCst)
    }

    /// Every cut: at an offset (both directions) or by `cut_all`.
    pub fn cuts(&self) -> u64 {
        self.cuts_in(Direction::ClientToBroker)
            + self.cuts_in(Direction::BrokerToClient)
            + self.killed()
    }

    /// Bytes forwarded in `direction`.
    pub fn bytes(&self, direction: Direction) -> u64 {
        let c = &self.shared.counters;
        match direction {
            Direction::ClientToBroker => c.bytes_c2b.load(Ordering::SeqCst),
            Direction::BrokerToClient => c.bytes_b2c.load(Ordering::SeqCst),
        }
    }

    /// Write calls made (both directions): equals the bytes forwarded when
    /// every write was a 1-byte chunk.
    pub fn writes(&self) -> u64 {
        self.shared.counters.writes.load(Ordering::SeqCst)
    }

    /// One line with every counter, for logs.
    pub fn summary(&self) -> String {
        format!(
            "connections {} (upstream down {}), cuts c2b {} b2c {} cut_all {}, bytes c2b {} b2c {}",
            self.connections(),
            self.upstream_failures(),
            self.cuts_in(Direction::ClientToBroker),
            self.cuts_in(Direction::BrokerToClient),
            self.killed(),
            self.bytes(Direction::ClientToBroker),
            self.bytes(Direction::BrokerToClient),
        )
    }

    fn settings(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.shared
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl Shared {
    fn settings(&self) -> Settings {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rng<T>(&self, f: impl FnOnce(&mut XorShift) -> T) -> T {
        f(&mut self.rng.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The (direction, offset) this connection is cut at, if any.
    fn plan(&self) -> Option<(Direction, u64)> {
        match self.settings().cut {
            Cut::Never => None,
            Cut::At { direction, offset } => Some((direction, offset)),
            Cut::Random {
                direction,
                max_offset,
            } => self.rng(|r| {
                let d = direction.unwrap_or(if r.chance(1, 2) {
                    Direction::ClientToBroker
                } else {
                    Direction::BrokerToClient
                });
                Some((d, r.log_uniform(max_offset)))
            }),
        }
    }
}

enum PumpEnd {
    /// A peer closed, or a socket failed.
    Closed,
    /// The planned cut happened.
    Cut,
}

async fn serve(shared: Arc<Shared>, client: TcpStream, mut kill: watch::Receiver<u64>) {
    let counters = &shared.counters;
    counters.connections.fetch_add(1, Ordering::SeqCst);
    let upstream = tokio::select! {
        r = TcpStream::connect(shared.upstream) => r,
        _ = kill.changed() => return,
    };
    let Ok(upstream) = upstream else {
        counters.upstream_failures.fetch_add(1, Ordering::SeqCst);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let plan = shared.plan();
    let cut_at = |d: Direction| plan.filter(|(pd, _)| *pd == d).map(|(_, o)| o);
    // The halves live here, so the sockets close only when this function
    // returns, after the counters are up to date.
    let (mut cr, mut cw) = client.into_split();
    let (mut br, mut bw) = upstream.into_split();
    counters.active.fetch_add(1, Ordering::SeqCst);
    {
        let c2b = pump(
            &shared,
            &mut cr,
            &mut bw,
            Direction::ClientToBroker,
            cut_at(Direction::ClientToBroker),
        );
        let b2c = pump(
            &shared,
            &mut br,
            &mut cw,
            Direction::BrokerToClient,
            cut_at(Direction::BrokerToClient),
        );
        let (end, direction) = tokio::select! {
            _ = kill.changed() => {
                counters.killed.fetch_add(1, Ordering::SeqCst);
                (PumpEnd::Closed, None)
            }
            end = c2b => (end, Some(Direction::ClientToBroker)),
            end = b2c => (end, Some(Direction::BrokerToClient)),
        };
        match (end, direction) {
            (PumpEnd::Cut, Some(Direction::ClientToBroker)) => {
                counters.cuts_c2b.fetch_add(1, Ordering::SeqCst);
            }
            (PumpEnd::Cut, Some(Direction::BrokerToClient)) => {
                counters.cuts_b2c.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }
    counters.active.fetch_sub(1, Ordering::SeqCst);
    // Returning drops all four halves: both sockets close.
}

async fn pump(
    shared: &Shared,
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    direction: Direction,
    cut_at: Option<u64>,
) -> PumpEnd {
    let bytes = match direction {
        Direction::ClientToBroker => &shared.counters.bytes_c2b,
        Direction::BrokerToClient => &shared.counters.bytes_b2c,
    };
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent: u64 = 0;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return PumpEnd::Closed,
            Ok(n) => n,
        };
        let mut chunk = &buf[..n];
        let mut cut = false;
        if let Some(limit) = cut_at {
            let room = limit.saturating_sub(sent);
            if n as u64 > room {
                chunk = &chunk[..room as usize];
                cut = true;
            }
        }
        let settings = shared.settings();
        let pieces: Vec<&[u8]> = if settings.one_byte_chunks {
            chunk.chunks(1).collect()
        } else if chunk.is_empty() {
            Vec::new()
        } else {
            vec![chunk]
        };
        for piece in pieces {
            let delay = match settings.delay {
                Delay::None => Duration::ZERO,
                Delay::Fixed(d) => d,
                Delay::Random { max } => {
                    let max_us = max.as_micros() as u64;
                    Duration::from_micros(shared.rng(|r| r.range(0, max_us)))
                }
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if to.write_all(piece).await.is_err() {
                return PumpEnd::Closed;
            }
            shared.counters.writes.fetch_add(1, Ordering::SeqCst);
            bytes.fetch_add(piece.len() as u64, Ordering::SeqCst);
            sent += piece.len() as u64;
        }
        if cut {
            let _ = to.flush().await;
            return PumpEnd::Cut;
        }
    }
}
