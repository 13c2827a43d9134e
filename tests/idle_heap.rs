//! Heap held by an idle connection, counted by a global allocator that
//! wraps `System` and keeps the live byte count.
//!
//! Target: at most 12 KiB per idle connection with the default options, in
//! 3.1.1 and 5.0 (`scripts/scale.sh` measures the same against mosquitto).
//! The broker is a plain thread in this process that answers CONNECT with
//! CONNACK from stack buffers and then only holds the sockets, so that it
//! adds nothing to the heap while the clients are counted. Run with
//! `--nocapture` to see the figures.

// A counting allocator needs `unsafe impl GlobalAlloc`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tern_mqtt::codec::ProtocolVersion;
use tern_mqtt::{Client, ConnectOptions};

static LIVE: AtomicI64 = AtomicI64::new(0);

fn size(layout: Layout) -> i64 {
    i64::try_from(layout.size()).unwrap_or(i64::MAX)
}

/// `System`, keeping the number of live heap bytes.
struct Counting;

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counter neither allocates nor panics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(size(layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(size(layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let new = i64::try_from(new_size).unwrap_or(i64::MAX);
            LIVE.fetch_add(new - size(layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(size(layout), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Connections measured per version.
const CONNECTIONS: usize = 200;
/// The target, per idle connection.
const LIMIT: i64 = 12 * 1024;

/// Reads one whole packet into `buf` (a CONNECT fits); false at the end of
/// the stream.
fn read_packet(stream: &mut TcpStream, buf: &mut [u8; 1024]) -> bool {
    let mut header = [0u8; 1];
    if stream.read_exact(&mut header).is_err() {
        return false;
    }
    let mut len = 0usize;
    for shift in [0, 7, 14, 21] {
        if stream.read_exact(&mut header).is_err() {
            return false;
        }
        len |= usize::from(header[0] & 0x7f) << shift;
        if header[0] & 0x80 == 0 {
            break;
        }
    }
    buf.get_mut(..len)
        .is_some_and(|body| stream.read_exact(body).is_ok())
}

/// A broker thread: answers `count` CONNECTs with a success CONNACK and
/// holds every socket until told to stop. Its only allocation is the list
/// of sockets, made before the first accept.
fn start_broker(count: usize, version: ProtocolVersion) -> (u16, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("bound").port();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let connack: &[u8] = match version {
            ProtocolVersion::V5 => &[0x20, 3, 0, 0, 0],
            _ => &[0x20, 2, 0, 0],
        };
        let mut held = Vec::with_capacity(count);
        let mut buf = [0u8; 1024];
        for _ in 0..count {
            let Ok((mut stream, _)) = listener.accept() else {
                break;
            };
            if read_packet(&mut stream, &mut buf) && stream.write_all(connack).is_ok() {
                held.push(stream);
            }
        }
        let _ = stop_rx.recv();
        drop(held);
    });
    (port, stop_tx)
}

fn options(port: u16, version: ProtocolVersion, i: usize) -> ConnectOptions {
    ConnectOptions::new(&format!("mqtt://127.0.0.1:{port}"))
        .expect("a valid URL")
        .client_id(&format!("idle-heap-{i}"))
        .version(version)
}

/// Live heap bytes per connection after `CONNECTIONS` clients connected
/// and went idle (the lowest seen within a bound: each connection task
/// gives its buffers back in the poll after its CONNACK, which may still
/// run when `connect` returns).
fn idle_heap_per_connection(version: ProtocolVersion) -> i64 {
    let (port, stop) = start_broker(CONNECTIONS + 1, version);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let per_connection = rt.block_on(async {
        // The first connection brings the runtime's one-off allocations.
        let warm = Client::connect(options(port, version, usize::MAX))
            .await
            .expect("the warm-up connection");
        let before = LIVE.load(Ordering::Relaxed);
        let mut clients = Vec::with_capacity(CONNECTIONS);
        for i in 0..CONNECTIONS {
            let client = Client::connect(options(port, version, i)).await;
            clients.push(client.expect("connected"));
        }
        let per = || (LIVE.load(Ordering::Relaxed) - before) / CONNECTIONS as i64;
        let mut lowest = per();
        let until = Instant::now() + Duration::from_secs(5);
        while lowest > LIMIT && Instant::now() < until {
            tokio::task::yield_now().await;
            lowest = lowest.min(per());
        }
        assert!(clients.iter().all(Client::is_connected));
        drop(warm);
        lowest
    });
    let _ = stop.send(());
    per_connection
}

#[test]
fn an_idle_connection_holds_at_most_12_kib_of_heap() {
    for version in [ProtocolVersion::V5, ProtocolVersion::V311] {
        let per = idle_heap_per_connection(version);
        println!(
            "{version:?}: {:.2} KiB of heap per idle connection",
            per as f64 / 1024.0
        );
        assert!(
            per <= LIMIT,
            "{version:?}: {per} bytes of heap per idle connection, over {LIMIT}"
        );
    }
}
