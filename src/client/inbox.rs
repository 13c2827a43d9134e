//! A subscription's buffer: messages the connection has handed over and
//! the application has not read yet, bounded in bytes of decoded size.
//!
//! The driver pushes without ever waiting; the application pops. When the
//! driver finds the buffer full it keeps further QoS 1/2 messages itself,
//! unacknowledged, and asks to be told when there is room: the pop that
//! brings the buffer down to half its budget sends one
//! [`Command::Room`](super::driver::Command) back.

use super::driver::Command;
use super::Message;
use crate::codec::QoS;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::sync::mpsc;

/// What a message costs in memory once decoded: the struct, its topic,
/// payload and every property's bytes. Used for the byte budgets, so a
/// message of many empty user properties costs what it really holds.
pub(crate) fn decoded_size(m: &Message) -> usize {
    let p = &m.properties;
    let pair = std::mem::size_of::<crate::codec::UserProperty>();
    let user: usize = p
        .user_properties
        .iter()
        .map(|(k, v)| pair.saturating_add(k.len()).saturating_add(v.len()))
        .fold(0, usize::saturating_add);
    [
        std::mem::size_of::<Message>(),
        m.topic.len(),
        m.payload.len(),
        user,
        p.subscription_identifiers.len().saturating_mul(4),
        p.correlation_data.as_ref().map_or(0, |d| d.len()),
        p.content_type.as_ref().map_or(0, |s| s.len()),
        p.response_topic.as_ref().map_or(0, |s| s.len()),
    ]
    .into_iter()
    .fold(0, usize::saturating_add)
}

#[derive(Debug)]
struct Entry {
    message: Message,
    size: usize,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Entry>,
    /// Decoded bytes held.
    bytes: usize,
    /// QoS 0 messages dropped to make room, all told.
    dropped: u64,
    /// The driver holds messages for this buffer and waits for room.
    driver_waiting: bool,
    /// No more messages will come (the client closed, or the route is gone).
    closed: bool,
    reader: Option<Waker>,
}

/// The shared buffer of one route.
#[derive(Debug)]
pub(crate) struct Inbox {
    route: u64,
    budget: usize,
    state: Mutex<State>,
    /// `State::closed`, readable without the lock: the driver asks it of
    /// every route for every message it routes.
    closed: AtomicBool,
    commands: mpsc::WeakUnboundedSender<Command>,
    /// `tern_buffered_bytes`, shared by every buffer of the client.
    buffered: metrics::Gauge,
}

/// What became of a pushed message.
#[derive(Debug)]
pub(crate) enum Pushed {
    /// In the buffer.
    Stored,
    /// In the buffer, after dropping this many older QoS 0 messages.
    StoredDropping(u64),
    /// The buffer is full: the message is handed back (boxed: the rare
    /// path should not make every result as large as a message).
    Full(Box<Message>),
    /// The reader is gone.
    Closed,
}

impl Inbox {
    pub fn new(
        route: u64,
        budget: usize,
        commands: mpsc::WeakUnboundedSender<Command>,
        buffered: metrics::Gauge,
    ) -> Arc<Self> {
        Arc::new(Inbox {
            route,
            budget: budget.max(1),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                dropped: 0,
                driver_waiting: false,
                closed: false,
                reader: None,
            }),
            closed: AtomicBool::new(false),
            commands,
            buffered,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue
        // inconsistent (every update is one push or pop), so a poisoned
        // lock is used as is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a message if it fits: an empty buffer takes any one message, so
    /// a message larger than the budget still gets through. A QoS 0 message
    /// that does not fit makes room by dropping the oldest QoS 0 messages
    /// (at-most-once allows it); QoS 1/2 messages in the buffer are never
    /// dropped. `Full` hands the message back, and the pop that brings the
    /// buffer to half its budget sends [`Command::Room`].
    pub fn push(&self, message: Message) -> Pushed {
        let size = decoded_size(&message);
        let mut s = self.lock();
        if s.closed {
            return Pushed::Closed;
        }
        let mut dropped = 0;
        if message.qos == QoS::AtMostOnce {
            while !s.queue.is_empty() && s.bytes.saturating_add(size) > self.budget {
                let Some(pos) = s
                    .queue
                    .iter()
                    .position(|e| e.message.qos == QoS::AtMostOnce)
                else {
                    break;
                };
                if let Some(e) = s.queue.remove(pos) {
                    s.bytes = s.bytes.saturating_sub(e.size);
                    self.buffered.decrement(e.size as f64);
                    dropped += 1;
                }
            }
            s.dropped = s.dropped.saturating_add(dropped);
        }
        if !s.queue.is_empty() && s.bytes.saturating_add(size) > self.budget {
            s.driver_waiting = true;
            return Pushed::Full(Box::new(message));
        }
        s.bytes = s.bytes.saturating_add(size);
        self.buffered.increment(size as f64);
        s.queue.push_back(Entry { message, size });
        // Woken once the lock is released, so that a reader running on
        // another thread does not find it still held.
        let reader = s.reader.take();
        drop(s);
        if let Some(w) = reader {
            w.wake();
        }
        if dropped > 0 {
            Pushed::StoredDropping(dropped)
        } else {
            Pushed::Stored
        }
    }

    /// Counts QoS 0 messages the driver dropped for this buffer.
    pub fn note_dropped(&self, n: u64) {
        let mut s = self.lock();
        s.dropped = s.dropped.saturating_add(n);
    }

    /// No more messages: the reader gets what is buffered, then the end.
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        self.closed.store(true, Ordering::Release);
        if let Some(w) = s.reader.take() {
            w.wake();
        }
    }

    /// No reader will come back: no more messages are taken. The buffer
    /// itself is dropped by [`abandon`](Self::abandon).
    pub fn close_reader(&self) {
        self.lock().closed = true;
        self.closed.store(true, Ordering::Release);
    }

    /// The route is gone: drop what is buffered; returns how many messages
    /// that was.
    pub fn abandon(&self) -> u64 {
        let mut s = self.lock();
        s.closed = true;
        self.closed.store(true, Ordering::Release);
        let n = u64::try_from(s.queue.len()).unwrap_or(u64::MAX);
        s.queue.clear();
        self.buffered.decrement(s.bytes as f64);
        s.bytes = 0;
        n
    }

    /// Whether the reader went away or the route was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Decoded bytes buffered now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// QoS 0 messages dropped to make room, all told.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// The next message, for the reader.
    pub fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let mut s = self.lock();
        let Some(entry) = s.queue.pop_front() else {
            return nothing_buffered(&mut s, cx).map(|()| None);
        };
        s.bytes = s.bytes.saturating_sub(entry.size);
        self.buffered.decrement(entry.size as f64);
        self.room_if_waiting(s);
        Poll::Ready(Some(entry.message))
    }

    /// Up to `limit` messages appended to `into`, under one lock: how many
    /// (0 once the buffer is closed and empty, or when `limit` is 0).
    pub fn poll_pop_many(
        &self,
        cx: &mut Context<'_>,
        into: &mut Vec<Message>,
        limit: usize,
    ) -> Poll<usize> {
        if limit == 0 {
            return Poll::Ready(0);
        }
        let mut s = self.lock();
        if s.queue.is_empty() {
            return nothing_buffered(&mut s, cx).map(|()| 0);
        }
        let n = limit.min(s.queue.len());
        into.reserve(n);
        let mut freed = 0usize;
        for entry in s.queue.drain(..n) {
            freed = freed.saturating_add(entry.size);
            into.push(entry.message);
        }
        s.bytes = s.bytes.saturating_sub(freed);
        self.buffered.decrement(freed as f64);
        self.room_if_waiting(s);
        Poll::Ready(n)
    }

    /// Room is reported once the buffer is down to half its budget, so
    /// that a slow reader costs one wake-up of the driver per half budget,
    /// not one per message.
    fn room_if_waiting(&self, mut s: MutexGuard<'_, State>) {
        if s.driver_waiting && s.bytes <= self.budget / 2 {
            s.driver_waiting = false;
            drop(s);
            if let Some(tx) = self.commands.upgrade() {
                let _ = tx.send(Command::Room { route: self.route });
            }
        }
    }
}

/// A read of an empty buffer: the end once it is closed, else the
/// reader's waker is kept for the next push.
fn nothing_buffered(s: &mut State, cx: &mut Context<'_>) -> Poll<()> {
    if s.closed {
        return Poll::Ready(());
    }
    s.reader = Some(cx.waker().clone());
    Poll::Pending
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::TopicName;
    use std::task::Poll;

    fn message(qos: QoS, payload: &'static str) -> Message {
        Message {
            topic: TopicName::new("t").unwrap(),
            payload: bytes::Bytes::from_static(payload.as_bytes()),
            qos,
            retain: false,
            dup: false,
            properties: Default::default(),
            ack: None,
        }
    }

    fn pop(inbox: &Inbox) -> Option<Message> {
        let waker = std::task::Waker::noop();
        match inbox.poll_pop(&mut Context::from_waker(waker)) {
            Poll::Ready(m) => m,
            Poll::Pending => None,
        }
    }

    #[test]
    fn a_full_buffer_hands_qos1_back_and_reports_room_at_half() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let one = decoded_size(&message(QoS::AtLeastOnce, "x"));
        let inbox = Inbox::new(7, one * 4, tx.downgrade(), metrics::Gauge::noop());
        for _ in 0..4 {
            assert!(matches!(
                inbox.push(message(QoS::AtLeastOnce, "x")),
                Pushed::Stored
            ));
        }
        assert!(matches!(
            inbox.push(message(QoS::AtLeastOnce, "x")),
            Pushed::Full(_)
        ));
        pop(&inbox);
        assert!(rx.try_recv().is_err(), "not yet at half the budget");
        pop(&inbox);
        assert!(matches!(rx.try_recv(), Ok(Command::Room { route: 7 })));
    }

    #[test]
    fn qos0_makes_room_by_dropping_the_oldest_qos0_only() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let one = decoded_size(&message(QoS::AtMostOnce, "a"));
        let inbox = Inbox::new(1, one * 2, tx.downgrade(), metrics::Gauge::noop());
        assert!(matches!(
            inbox.push(message(QoS::AtLeastOnce, "1")),
            Pushed::Stored
        ));
        assert!(matches!(
            inbox.push(message(QoS::AtMostOnce, "a")),
            Pushed::Stored
        ));
        assert!(matches!(
            inbox.push(message(QoS::AtMostOnce, "b")),
            Pushed::StoredDropping(1)
        ));
        assert_eq!(
            &pop(&inbox).unwrap().payload[..],
            b"1",
            "QoS 1 is never dropped"
        );
        assert_eq!(&pop(&inbox).unwrap().payload[..], b"b");
        assert_eq!(inbox.dropped(), 1);
    }

    #[test]
    fn pop_many_takes_up_to_the_limit_in_order_and_reports_room() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let one = decoded_size(&message(QoS::AtLeastOnce, "x"));
        let inbox = Inbox::new(3, one * 4, tx.downgrade(), metrics::Gauge::noop());
        for p in ["1", "2", "3", "4"] {
            inbox.push(message(QoS::AtLeastOnce, p));
        }
        assert!(matches!(
            inbox.push(message(QoS::AtLeastOnce, "5")),
            Pushed::Full(_)
        ));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut got = Vec::new();
        assert_eq!(inbox.poll_pop_many(&mut cx, &mut got, 0), Poll::Ready(0));
        assert_eq!(inbox.poll_pop_many(&mut cx, &mut got, 3), Poll::Ready(3));
        let payloads: Vec<&[u8]> = got.iter().map(|m| &m.payload[..]).collect();
        assert_eq!(payloads, [b"1", b"2", b"3"]);
        assert_eq!(inbox.bytes(), one);
        assert!(matches!(rx.try_recv(), Ok(Command::Room { route: 3 })));
        assert_eq!(inbox.poll_pop_many(&mut cx, &mut got, 8), Poll::Ready(1));
        assert_eq!(inbox.poll_pop_many(&mut cx, &mut got, 8), Poll::Pending);
        inbox.close();
        assert_eq!(inbox.poll_pop_many(&mut cx, &mut got, 8), Poll::Ready(0));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn an_empty_buffer_takes_one_message_over_the_budget() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let inbox = Inbox::new(1, 1, tx.downgrade(), metrics::Gauge::noop());
        assert!(matches!(
            inbox.push(message(QoS::AtLeastOnce, "big")),
            Pushed::Stored
        ));
        assert!(matches!(
            inbox.push(message(QoS::AtLeastOnce, "next")),
            Pushed::Full(_)
        ));
    }

    #[test]
    fn many_empty_user_properties_cost_what_they_hold() {
        let mut m = message(QoS::AtMostOnce, "");
        let empty = crate::codec::MqttString::try_from("").unwrap();
        m.properties.user_properties = vec![(empty.clone(), empty); 1000];
        let size = decoded_size(&m);
        assert!(size >= 1000 * std::mem::size_of::<crate::codec::UserProperty>());
    }

    #[test]
    fn closing_ends_the_reader_after_the_buffer() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let inbox = Inbox::new(1, 1 << 20, tx.downgrade(), metrics::Gauge::noop());
        inbox.push(message(QoS::AtMostOnce, "last"));
        inbox.close();
        assert!(matches!(
            inbox.push(message(QoS::AtMostOnce, "late")),
            Pushed::Closed
        ));
        assert_eq!(&pop(&inbox).unwrap().payload[..], b"last");
        let waker = std::task::Waker::noop();
        assert!(matches!(
            inbox.poll_pop(&mut Context::from_waker(waker)),
            Poll::Ready(None)
        ));
    }
}
