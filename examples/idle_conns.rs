//! Memory and scale of idle connections: opens N tern connections from one
//! process to one mosquitto and reports the heap each one keeps, the time
//! taken, and the process RSS.
//!
//! ```text
//! scripts/scale.sh                        # 1,000 and 10,000 connections
//! cargo run --release --example idle_conns -- [N] [--port P] [--concurrency C] [--v5|--v311]
//! ```
//!
//! Without `--port` it starts a private mosquitto through the test harness
//! with `max_connections -1` on its listener. The broker inherits this
//! process's open-file limit, so raise it first (`ulimit -n 65536`, which
//! `scripts/scale.sh` does).
//!
//! Heap per connection: live heap bytes after N connections are up and
//! idle, minus live bytes before (after one warm-up connection that brings
//! the runtime's own allocations in), divided by N. Exact only with the
//! counting global allocator, which needs `unsafe impl GlobalAlloc` and so
//! is compiled only with `--cfg tern_count_alloc`, with the crate's
//! `unsafe_code = "forbid"` capped to a warning for this example alone:
//!
//! ```text
//! cargo rustc --release --example idle_conns -- --cap-lints warn --cfg tern_count_alloc
//! ```
//!
//! Without it, only the RSS delta per connection is reported (which also
//! counts allocator slack and freed-but-kept pages).
#![allow(unexpected_cfgs)]

#[path = "../tests/support/mosquitto.rs"]
mod mosquitto;

use std::time::{Duration, Instant};
use tern_mqtt::codec::ProtocolVersion;
use tern_mqtt::{Client, ConnectOptions};

#[cfg(tern_count_alloc)]
mod counting {
    #![allow(unsafe_code)]
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

    pub static LIVE: AtomicI64 = AtomicI64::new(0);
    pub static ALLOCS: AtomicU64 = AtomicU64::new(0);
    /// Live allocations by size class: index k holds sizes in
    /// (2^(k-1), 2^k]; bytes and count.
    pub static CLASS_BYTES: [AtomicI64; 40] = [const { AtomicI64::new(0) }; 40];
    pub static CLASS_COUNT: [AtomicI64; 40] = [const { AtomicI64::new(0) }; 40];

    fn class(size: usize) -> usize {
        (usize::BITS - size.saturating_sub(1).leading_zeros()).min(39) as usize
    }

    /// Exact sizes of live allocations over 1 KiB: (size, live count).
    pub static BIG_SIZE: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];
    pub static BIG_COUNT: [AtomicI64; 64] = [const { AtomicI64::new(0) }; 64];

    fn track_big(size: usize, sign: i64) {
        let size = size as u64;
        for (s, c) in BIG_SIZE.iter().zip(&BIG_COUNT) {
            let cur = s.load(Ordering::Relaxed);
            if cur == size
                || (cur == 0
                    && s.compare_exchange(0, size, Ordering::Relaxed, Ordering::Relaxed)
                        .map_or_else(|now| now == size, |_| true))
            {
                c.fetch_add(sign, Ordering::Relaxed);
                return;
            }
        }
    }

    /// (size, live count) of allocations over 1 KiB.
    pub fn big() -> Vec<(u64, i64)> {
        BIG_SIZE
            .iter()
            .zip(&BIG_COUNT)
            .map(|(s, c)| (s.load(Ordering::Relaxed), c.load(Ordering::Relaxed)))
            .filter(|(s, _)| *s != 0)
            .collect()
    }

    fn track(size: usize, sign: i64) {
        if size > 1024 {
            track_big(size, sign);
        }
        let k = class(size);
        if let (Some(b), Some(c)) = (CLASS_BYTES.get(k), CLASS_COUNT.get(k)) {
            b.fetch_add(sign * size as i64, Ordering::Relaxed);
            c.fetch_add(sign, Ordering::Relaxed);
        }
    }

    /// (class upper bound, live bytes, live count) per size class.
    pub fn classes() -> Vec<(u64, i64, i64)> {
        (0..40)
            .map(|k| {
                (
                    1u64 << k,
                    CLASS_BYTES[k].load(Ordering::Relaxed),
                    CLASS_COUNT[k].load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// `System`, keeping a count of live bytes.
    pub struct Counting;

    // SAFETY: every call is forwarded unchanged to `System`, which upholds
    // the `GlobalAlloc` contract; the counters neither allocate nor panic.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                track(layout.size(), 1);
                LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
                ALLOCS.fetch_add(1, Ordering::Relaxed);
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                track(layout.size(), 1);
                LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
                ALLOCS.fetch_add(1, Ordering::Relaxed);
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
            track(layout.size(), -1);
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                track(layout.size(), -1);
                track(new_size, 1);
                LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
                ALLOCS.fetch_add(1, Ordering::Relaxed);
            }
            p
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

/// Live heap bytes, if counted.
fn live_bytes() -> Option<i64> {
    #[cfg(tern_count_alloc)]
    {
        Some(counting::LIVE.load(std::sync::atomic::Ordering::Relaxed))
    }
    #[cfg(not(tern_count_alloc))]
    {
        None
    }
}

/// Live (bytes, count) per allocation size class, if counted.
fn size_classes() -> Vec<(u64, i64, i64)> {
    #[cfg(tern_count_alloc)]
    {
        counting::classes()
    }
    #[cfg(not(tern_count_alloc))]
    {
        Vec::new()
    }
}

/// Live count per exact size over 1 KiB, if counted.
fn big_sizes() -> Vec<(u64, i64)> {
    #[cfg(tern_count_alloc)]
    {
        counting::big()
    }
    #[cfg(not(tern_count_alloc))]
    {
        Vec::new()
    }
}

/// A field of /proc/self/status in KiB (VmRSS, VmHWM).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn open_files_limit() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .map(|l| {
            l.split_whitespace()
                .skip(3)
                .take(2)
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .unwrap_or_default()
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn connect_one(url: &str, i: usize, version: ProtocolVersion) -> Result<Client, BoxError> {
    let opts = ConnectOptions::new(url)?
        .client_id(&format!("idle-{}-{i}", std::process::id()))
        .version(version)
        .keep_alive(Duration::from_secs(600));
    Ok(Client::connect(opts).await?)
}

/// What the command line asks for.
struct Args {
    n: usize,
    port: Option<u16>,
    concurrency: usize,
    version: ProtocolVersion,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut a = Args {
        n: 1000,
        port: None,
        concurrency: 100,
        version: ProtocolVersion::V5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => a.port = args.next().and_then(|s| s.parse().ok()),
            "--concurrency" => {
                a.concurrency = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(a.concurrency)
            }
            "--v5" => a.version = ProtocolVersion::V5,
            "--v311" => a.version = ProtocolVersion::V311,
            other => a.n = other.parse().map_err(|_| format!("bad argument {other}"))?,
        }
    }
    Ok(a)
}

/// A private mosquitto without a connection limit, and quiet.
fn start_broker() -> mosquitto::Broker {
    mosquitto::Broker::start(
        mosquitto::BrokerOptions::plain()
            .per_listener("max_connections -1")
            .global("log_type none")
            .global("log_type error")
            .global("log_type warning")
            .global("log_type notice")
            .global("log_type information"),
    )
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let broker = match args.port {
        Some(_) => None,
        None => Some(start_broker()),
    };
    let port = args
        .port
        .or_else(|| {
            broker
                .as_ref()
                .map(|b| b.addr(mosquitto::Listener::Plain).port())
        })
        .ok_or("no port")?;
    let url = format!("mqtt://127.0.0.1:{port}");
    println!(
        "idle_conns: {} connections to {url} ({:?}), {} connecting at a time, open files limit {}, heap counting {}",
        args.n,
        args.version,
        args.concurrency,
        open_files_limit(),
        if cfg!(tern_count_alloc) { "on" } else { "off (RSS only)" }
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(measure(&url, &args))?;
    drop(broker);
    Ok(())
}

/// Heap and RSS at one moment.
struct Snapshot {
    heap: Option<i64>,
    classes: Vec<(u64, i64, i64)>,
    big: Vec<(u64, i64)>,
    rss_kib: u64,
}

impl Snapshot {
    fn take() -> Self {
        Snapshot {
            heap: live_bytes(),
            classes: size_classes(),
            big: big_sizes(),
            rss_kib: status_kib("VmRSS"),
        }
    }
}

/// Connects, measures the idle connections, and disconnects them all.
async fn measure(url: &str, args: &Args) -> Result<(), BoxError> {
    // Warm-up: the runtime's timers, I/O driver and the first client's
    // one-off allocations are not per connection.
    let warm = connect_one(url, usize::MAX, args.version).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = Snapshot::take();
    let t0 = Instant::now();
    let (mut clients, failures, first_error) = connect_all(url, args).await;
    let took = t0.elapsed();
    // Let every connection settle into idleness.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = Snapshot::take();
    let ok = clients.len();
    println!(
        "connected {ok}/{} in {:.2} s ({:.0} connections/s), {failures} failed{}",
        args.n,
        took.as_secs_f64(),
        ok as f64 / took.as_secs_f64(),
        first_error
            .map(|e| format!(" (first error: {e})"))
            .unwrap_or_default()
    );
    report(&before, &after, ok);
    let t1 = Instant::now();
    let closed = disconnect_all(&mut clients).await;
    let _ = warm.disconnect().await;
    println!(
        "disconnected {closed}/{ok} cleanly in {:.2} s; peak RSS {:.1} MiB",
        t1.elapsed().as_secs_f64(),
        status_kib("VmHWM") as f64 / 1024.0
    );
    Ok(())
}

/// Opens `args.n` connections, `args.concurrency` at a time: the clients,
/// the count of failures and the first error.
async fn connect_all(url: &str, args: &Args) -> (Vec<Client>, usize, Option<String>) {
    let mut clients: Vec<Client> = Vec::with_capacity(args.n);
    let mut failures = 0usize;
    let mut first_error: Option<String> = None;
    let mut next = 0usize;
    let mut set = tokio::task::JoinSet::new();
    while next < args.n || !set.is_empty() {
        while next < args.n && set.len() < args.concurrency {
            let url = url.to_owned();
            let (i, version) = (next, args.version);
            set.spawn(async move { connect_one(&url, i, version).await });
            next += 1;
        }
        let error = match set.join_next().await {
            Some(Ok(Ok(c))) => {
                clients.push(c);
                continue;
            }
            Some(Ok(Err(e))) => e.to_string(),
            Some(Err(e)) => e.to_string(),
            None => break,
        };
        failures += 1;
        first_error.get_or_insert(error);
    }
    (clients, failures, first_error)
}

/// Prints RSS and heap per connection between two snapshots.
fn report(before: &Snapshot, after: &Snapshot, ok: usize) {
    let per_conn = ok.max(1) as f64;
    println!(
        "RSS {:.1} MiB before, {:.1} MiB with {ok} idle connections: {:.1} KiB RSS per connection",
        before.rss_kib as f64 / 1024.0,
        after.rss_kib as f64 / 1024.0,
        (after.rss_kib as f64 - before.rss_kib as f64) / per_conn
    );
    let (Some(h0), Some(h1)) = (before.heap, after.heap) else {
        return;
    };
    println!(
        "heap {:.1} MiB live before, {:.1} MiB after: {:.2} KiB heap per idle connection",
        h0 as f64 / 1048576.0,
        h1 as f64 / 1048576.0,
        (h1 - h0) as f64 / per_conn / 1024.0
    );
    println!("live heap added per connection, by allocation size (classes over 64 bytes per connection):");
    for ((upper, b0, c0), (_, b1, c1)) in before.classes.iter().zip(&after.classes) {
        let per = (b1 - b0) as f64 / per_conn;
        if per >= 64.0 {
            println!(
                "  sizes {:>6}..={:<6} B: {:>8.0} B per connection ({:.2} allocations each)",
                upper / 2 + 1,
                upper,
                per,
                (c1 - c0) as f64 / per_conn
            );
        }
    }
    println!("allocations over 1 KiB added, by exact size (at least one per two connections):");
    for (size, c1) in &after.big {
        let c0 = before
            .big
            .iter()
            .find(|(s, _)| s == size)
            .map_or(0, |b| b.1);
        let per = (c1 - c0) as f64 / per_conn;
        if per >= 0.5 {
            println!("  {size:>6} B: {per:.2} per connection");
        }
    }
}

/// Every connection is still alive: a round of disconnects succeeds.
/// Returns how many closed cleanly.
async fn disconnect_all(clients: &mut Vec<Client>) -> usize {
    let mut set = tokio::task::JoinSet::new();
    for c in clients.drain(..) {
        set.spawn(async move { c.disconnect().await.is_ok() });
    }
    let mut closed = 0usize;
    while let Some(r) = set.join_next().await {
        if matches!(r, Ok(true)) {
            closed += 1;
        }
    }
    closed
}
