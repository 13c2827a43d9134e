//! A minimal MQTT broker for the client-bound benchmark: a benchmark tool,
//! not a product. One thread, plain TCP, 3.1.1 and 5.0 framing, no
//! sessions, no retained messages, no authentication, no keep-alive
//! enforcement, exact-match topic filters (plus a trailing `#`).
//!
//! ```text
//! cargo run --release --example mini_broker -- [--port P] [--window W]
//! ```
//!
//! It prints `mini_broker listening on <port>` once bound (port 0, the
//! default, picks a free one), answers CONNECT, SUBSCRIBE, UNSUBSCRIBE,
//! PINGREQ, PUBLISH (PUBACK / PUBREC) and PUBREL (PUBCOMP) at once, and
//! fans every PUBLISH out to the matching subscribers at the lower of the
//! two QoS levels, with at most `--window` (default 1000) QoS 1/2 messages
//! in flight per subscriber (the rest wait in a queue, never dropped). So
//! that it is never the bottleneck it does as little as it can per packet:
//! every connection reads 64 KiB at a time, handles every whole packet of
//! the read, and its replies and fanned-out messages go out in one write
//! per connection per read (a writer task per connection, woken once).
//! `examples/e2e_bench/main.rs` runs it as a separate process, so its CPU is not
//! counted as the client's.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

type BoxError = Box<dyn std::error::Error>;

/// Reads are this large: many small packets per system call.
const READ_SIZE: usize = 64 * 1024;

/// What is waiting to be written to one connection, and the subscriber's
/// outgoing flow state.
struct Outbox {
    bytes: Vec<u8>,
    closed: bool,
    /// QoS 1/2 messages sent to this subscriber and not yet acknowledged.
    inflight: usize,
    /// Which packet ids are in flight (index = id).
    used: Vec<bool>,
    next_id: u16,
    /// Messages waiting for the window: a PUBLISH with a zero packet id,
    /// and the offset of that id.
    waiting: VecDeque<(Vec<u8>, usize)>,
}

/// One connection as the rest of the broker sees it.
struct Peer {
    out: RefCell<Outbox>,
    wake: Notify,
    v5: RefCell<bool>,
}

/// Every connection and subscription.
#[derive(Default)]
struct Broker {
    peers: HashMap<u64, Rc<Peer>>,
    /// (filter, granted QoS, connection).
    subscriptions: Vec<(Vec<u8>, u8, u64)>,
    window: usize,
}

type Shared = Rc<RefCell<Broker>>;

fn main() -> Result<(), BoxError> {
    let mut port = 0u16;
    let mut window = 1000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|s| s.parse().ok()).unwrap_or(port),
            "--window" => window = args.next().and_then(|s| s.parse().ok()).unwrap_or(window),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, serve(port, window.max(1)))
}

async fn serve(port: u16, window: usize) -> Result<(), BoxError> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("mini_broker listening on {}", listener.local_addr()?.port());
    let broker: Shared = Rc::new(RefCell::new(Broker {
        window,
        ..Broker::default()
    }));
    let mut next = 0u64;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        next += 1;
        tokio::task::spawn_local(connection(Rc::clone(&broker), next, stream));
    }
}

async fn connection(broker: Shared, id: u64, stream: TcpStream) {
    let (reader, writer) = stream.into_split();
    let peer = Rc::new(Peer {
        out: RefCell::new(Outbox {
            bytes: Vec::new(),
            closed: false,
            inflight: 0,
            used: vec![false; 65536],
            next_id: 0,
            waiting: VecDeque::new(),
        }),
        wake: Notify::new(),
        v5: RefCell::new(false),
    });
    broker.borrow_mut().peers.insert(id, Rc::clone(&peer));
    let writing = tokio::task::spawn_local(write_loop(Rc::clone(&peer), writer));
    let _ = read_loop(&broker, id, &peer, reader).await;
    {
        let mut b = broker.borrow_mut();
        b.peers.remove(&id);
        b.subscriptions.retain(|s| s.2 != id);
    }
    peer.out.borrow_mut().closed = true;
    peer.wake.notify_one();
    let _ = writing.await;
}

async fn write_loop(peer: Rc<Peer>, mut writer: OwnedWriteHalf) {
    let mut spare = Vec::new();
    loop {
        peer.wake.notified().await;
        loop {
            let closed = {
                let mut out = peer.out.borrow_mut();
                std::mem::swap(&mut out.bytes, &mut spare);
                out.closed
            };
            if spare.is_empty() {
                if closed {
                    let _ = writer.shutdown().await;
                    return;
                }
                break;
            }
            if writer.write_all(&spare).await.is_err() {
                return;
            }
            spare.clear();
        }
    }
}

async fn read_loop(
    broker: &Shared,
    id: u64,
    peer: &Rc<Peer>,
    mut reader: OwnedReadHalf,
) -> Result<(), BoxError> {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_SIZE);
    let mut woken: Vec<Rc<Peer>> = Vec::new();
    loop {
        if buf.capacity() - buf.len() < READ_SIZE / 2 {
            buf.reserve(READ_SIZE);
        }
        if reader.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        let mut at = 0;
        while let Some((header, body, next)) = frame(&buf[at..]) {
            let (start, end) = (at + body.0, at + body.1);
            handle(broker, id, peer, header, &buf[start..end], &mut woken)?;
            at += next;
        }
        buf.drain(..at);
        peer.wake.notify_one();
        for p in woken.drain(..) {
            p.wake.notify_one();
        }
    }
}

/// The first whole packet of `bytes`: its first byte, the body's range and
/// the packet's length.
fn frame(bytes: &[u8]) -> Option<(u8, (usize, usize), usize)> {
    let header = *bytes.first()?;
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = 1;
    loop {
        let b = *bytes.get(i)?;
        len |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return None;
        }
    }
    let end = i + len;
    (bytes.len() >= end).then_some((header, (i, end), end))
}

/// Appends a packet's fixed header (type byte and remaining length).
fn put_header(out: &mut Vec<u8>, first: u8, mut len: usize) {
    out.push(first);
    loop {
        let mut b = u8::try_from(len & 0x7f).unwrap_or(0);
        len >>= 7;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            return;
        }
    }
}

/// A two-byte-id acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP,
/// UNSUBACK in 3.1.1).
fn put_ack(out: &mut Vec<u8>, first: u8, id: &[u8]) {
    out.extend_from_slice(&[first, 2]);
    out.extend_from_slice(id.get(..2).unwrap_or(&[0, 0]));
}

fn handle(
    broker: &Shared,
    id: u64,
    peer: &Rc<Peer>,
    header: u8,
    body: &[u8],
    woken: &mut Vec<Rc<Peer>>,
) -> Result<(), BoxError> {
    let v5 = *peer.v5.borrow();
    match header >> 4 {
        1 => {
            // CONNECT: protocol name (2 + 4 bytes), then the level.
            let level = body.get(6).copied().unwrap_or(4);
            *peer.v5.borrow_mut() = level == 5;
            let out = &mut peer.out.borrow_mut().bytes;
            if level == 5 {
                out.extend_from_slice(&[0x20, 3, 0, 0, 0]);
            } else {
                out.extend_from_slice(&[0x20, 2, 0, 0]);
            }
        }
        3 => publish(broker, peer, header, body, woken)?,
        4 | 7 => release(peer, body),
        5 => put_ack(&mut peer.out.borrow_mut().bytes, 0x62, body),
        6 => put_ack(&mut peer.out.borrow_mut().bytes, 0x70, body),
        8 => subscribe(broker, id, peer, body, v5)?,
        10 => {
            let out = &mut peer.out.borrow_mut().bytes;
            if v5 {
                let filters = count_filters(body, false);
                put_header(out, 0xb0, 3 + filters);
                out.extend_from_slice(body.get(..2).unwrap_or(&[0, 0]));
                out.push(0);
                out.extend(std::iter::repeat_n(0u8, filters));
            } else {
                put_ack(out, 0xb0, body);
            }
        }
        12 => peer.out.borrow_mut().bytes.extend_from_slice(&[0xd0, 0]),
        14 => return Err("disconnect".into()),
        _ => {}
    }
    Ok(())
}

/// Where the v5 property block that starts at `at` ends.
fn skip_properties(body: &[u8], at: usize) -> Option<usize> {
    let mut len = 0usize;
    for (i, b) in body.get(at..)?.iter().take(4).enumerate() {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(at + i + 1 + len);
        }
    }
    None
}

/// How many filters an UNSUBSCRIBE (or SUBSCRIBE, with options) lists.
fn count_filters(body: &[u8], with_options: bool) -> usize {
    let mut at = 2;
    let mut n = 0;
    while let Some(len) = body.get(at..at + 2) {
        at += 2 + usize::from(u16::from_be_bytes([len[0], len[1]])) + usize::from(with_options);
        n += 1;
    }
    n
}

fn subscribe(
    broker: &Shared,
    id: u64,
    peer: &Rc<Peer>,
    body: &[u8],
    v5: bool,
) -> Result<(), BoxError> {
    let mut at = 2;
    if v5 {
        at = skip_properties(body, at).ok_or("bad SUBSCRIBE properties")?;
    }
    let mut granted = Vec::new();
    while let Some(len) = body.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let filter = body.get(at + 2..at + 2 + len).ok_or("bad filter")?;
        let qos = body.get(at + 2 + len).ok_or("no options")? & 3;
        broker
            .borrow_mut()
            .subscriptions
            .push((filter.to_vec(), qos.min(2), id));
        granted.push(qos.min(2));
        at += 3 + len;
    }
    let out = &mut peer.out.borrow_mut().bytes;
    put_header(out, 0x90, 2 + usize::from(v5) + granted.len());
    out.extend_from_slice(body.get(..2).unwrap_or(&[0, 0]));
    if v5 {
        out.push(0);
    }
    out.extend_from_slice(&granted);
    Ok(())
}

fn matches(filter: &[u8], topic: &[u8]) -> bool {
    match filter.strip_suffix(b"#") {
        Some(prefix) => topic.starts_with(prefix),
        None => filter == topic,
    }
}

fn publish(
    broker: &Shared,
    peer: &Rc<Peer>,
    header: u8,
    body: &[u8],
    woken: &mut Vec<Rc<Peer>>,
) -> Result<(), BoxError> {
    let qos = (header >> 1) & 3;
    let tlen = match body.get(..2) {
        Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
        _ => return Err("short PUBLISH".into()),
    };
    // Topic length and topic, copied as they came.
    let named = body.get(..2 + tlen).ok_or("short PUBLISH")?;
    let at = 2 + tlen + 2 * usize::from(qos > 0);
    // Properties (v5) and payload go out as they came too.
    let rest = body.get(at..).ok_or("short PUBLISH")?;
    match qos {
        1 => put_ack(&mut peer.out.borrow_mut().bytes, 0x40, &body[2 + tlen..]),
        2 => put_ack(&mut peer.out.borrow_mut().bytes, 0x50, &body[2 + tlen..]),
        _ => {}
    }
    let b = broker.borrow();
    for (filter, granted, to) in &b.subscriptions {
        if !matches(filter, &named[2..]) {
            continue;
        }
        let Some(target) = b.peers.get(to) else {
            continue;
        };
        let q = qos.min(*granted);
        let mut out = target.out.borrow_mut();
        if q == 0 {
            put_publish(&mut out.bytes, 0, named, None, rest);
        } else if out.inflight < b.window && out.waiting.is_empty() {
            let id = take_id(&mut out);
            put_publish(&mut out.bytes, q, named, Some(id), rest);
        } else {
            // Over the window: queued with its id filled in when it goes.
            let mut packet = Vec::with_capacity(body.len() + 5);
            put_publish(&mut packet, q, named, Some(0), rest);
            let id_at = packet.len() - rest.len() - 2;
            out.waiting.push_back((packet, id_at));
        }
        drop(out);
        if !woken.iter().any(|p| Rc::ptr_eq(p, target)) {
            woken.push(Rc::clone(target));
        }
    }
    Ok(())
}

/// Appends a PUBLISH: header, topic, packet id (QoS 1/2), then the rest.
fn put_publish(out: &mut Vec<u8>, qos: u8, named: &[u8], id: Option<u16>, rest: &[u8]) {
    let len = named.len() + 2 * usize::from(id.is_some()) + rest.len();
    put_header(out, 0x30 | (qos << 1), len);
    out.extend_from_slice(named);
    if let Some(id) = id {
        out.extend_from_slice(&id.to_be_bytes());
    }
    out.extend_from_slice(rest);
}

/// A free packet id for a QoS 1/2 message to this subscriber, now in flight.
fn take_id(out: &mut Outbox) -> u16 {
    loop {
        out.next_id = out.next_id.wrapping_add(1).max(1);
        if !out.used[usize::from(out.next_id)] {
            break;
        }
    }
    out.used[usize::from(out.next_id)] = true;
    out.inflight += 1;
    out.next_id
}

/// A subscriber finished a message (PUBACK or PUBCOMP): its id is free, and
/// a waiting message takes its place.
fn release(peer: &Rc<Peer>, body: &[u8]) {
    let Some(&[a, b]) = body.get(..2) else {
        return;
    };
    let mut out = peer.out.borrow_mut();
    if std::mem::replace(
        &mut out.used[usize::from(u16::from_be_bytes([a, b]))],
        false,
    ) {
        out.inflight = out.inflight.saturating_sub(1);
    }
    if let Some((mut packet, id_at)) = out.waiting.pop_front() {
        let id = take_id(&mut out);
        packet[id_at..id_at + 2].copy_from_slice(&id.to_be_bytes());
        out.bytes.extend_from_slice(&packet);
    }
}
