//! One connection, polled by hand: commands, reads, the engine's timer,
//! event delivery and writes, in a loop that only returns `Pending` once
//! nothing can make progress, every waker is registered, and no byte the
//! engine produced is left unsent.

use super::driver::{now, Driver};
use super::PublishOutcome;
use crate::session::deadline;
use crate::session::ConnectionState;
use crate::transport::BoxedTransport;
use crate::Error;
use bytes::{Buf, BytesMut};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio::time::Sleep;

/// Steps of the loop before it yields to other tasks, so that a flood of
/// input cannot starve the runtime.
const LOOP_BUDGET: usize = 64;
/// Commands taken per step.
const COMMAND_BATCH: usize = 256;
/// Reads per step.
const READ_BATCH: usize = 8;
/// Bytes read per poll of the connection task before it yields: the
/// subscription readers woken by what it delivered are often queued on the
/// same worker thread (tokio runs a woken task there, and no other worker
/// takes it), so a driver that kept reading a fast stream would fill their
/// buffers before they could run, and QoS 0 messages would be dropped.
const READ_PER_POLL: usize = 128 * 1024;
/// A poll that moved fewer bytes than this (in and out) before waiting
/// finds the connection quiet: it gives its empty buffers back, so that an
/// idle connection holds no buffer at all. A busy connection moves far
/// more per poll, so it keeps them.
const QUIET_POLL_BYTES: usize = 1024;
/// Read buffer headroom of a new connection: small, so that an idle
/// connection stays cheap.
const READ_RESERVE_MIN: usize = 2 * 1024;
/// Read buffer headroom after reads that filled half of it (doubling from
/// [`READ_RESERVE_MIN`]): enough for many small packets per read.
const READ_RESERVE_MAX: usize = 16 * 1024;

thread_local! {
    /// The time of the loop step running on this thread, if one is.
    static STEP_TIME: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The time of the loop step running on this thread: a step handles a
/// bounded batch (microseconds of work), so one reading of the clock
/// serves every packet, command and event in it; reading it per packet
/// cost several percent of the client's CPU.
pub(super) fn step_time() -> Option<Instant> {
    STEP_TIME.with(Cell::get)
}

/// Holds the step's time for [`step_time`] until dropped (also on unwind,
/// so no other task on the thread ever sees a stale time).
struct StepClock;

impl StepClock {
    fn start() -> Self {
        STEP_TIME.with(|t| t.set(Some(tokio::time::Instant::now().into_std())));
        StepClock
    }
}

impl Drop for StepClock {
    fn drop(&mut self) {
        STEP_TIME.with(|t| t.set(None));
    }
}

/// The byte stream of one connection and what is waiting to be written.
pub(super) struct Io {
    stream: BoxedTransport,
    /// Every packet the engine produced and the stream has not taken yet,
    /// back to back: one write per batch of packets, not one per packet.
    out: BytesMut,
    needs_flush: bool,
    /// Bytes written and not yet counted in the metric.
    bytes_out: usize,
    read_reserve: usize,
    timer: Pin<Box<Sleep>>,
    armed: Option<tokio::time::Instant>,
    /// Once the engine wants the connection closed: when to stop waiting
    /// for the last bytes and the shutdown.
    closing_by: Option<tokio::time::Instant>,
}

/// How the connection ended, as far as the transport goes.
enum Closed {
    /// We closed it (the engine asked, or an abort).
    Local,
    /// The peer closed it, or it failed.
    Remote(Option<Error>),
}

impl Io {
    pub fn new(stream: BoxedTransport) -> Self {
        Io {
            stream,
            out: BytesMut::new(),
            needs_flush: false,
            bytes_out: 0,
            read_reserve: READ_RESERVE_MIN,
            timer: Box::pin(tokio::time::sleep(std::time::Duration::from_secs(86_400))),
            armed: None,
            closing_by: None,
        }
    }

    /// Moves the timer to `at` (only when it moved: re-registering a timer
    /// on every pass costs CPU on every message), and polls it.
    fn poll_timer(&mut self, at: Option<tokio::time::Instant>, cx: &mut Context<'_>) -> bool {
        let Some(at) = at else {
            self.armed = None;
            return false;
        };
        if self.armed != Some(at) {
            self.timer.as_mut().reset(at);
            self.armed = Some(at);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.armed = None;
            return true;
        }
        false
    }

    /// Writes what is queued until the stream pushes back. Ok(bytes
    /// written).
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<usize, std::io::Error> {
        let mut wrote = 0;
        while !self.out.is_empty() {
            match Pin::new(&mut self.stream).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    wrote += n;
                    self.bytes_out += n;
                    self.needs_flush = true;
                    self.out.advance(n.min(self.out.len()));
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(wrote),
            }
        }
        if self.needs_flush {
            match Pin::new(&mut self.stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        Ok(wrote)
    }

    /// Bytes written since the last look, for the metric.
    fn take_bytes_out(&mut self) -> usize {
        std::mem::take(&mut self.bytes_out)
    }

    fn is_flushed(&self) -> bool {
        self.out.is_empty() && !self.needs_flush
    }
}

impl Driver {
    /// Runs one connection until it ends.
    pub(super) async fn run_connection(&mut self, stream: BoxedTransport) {
        if self.session.handle_transport_open(now()).is_err() {
            return;
        }
        let mut io = Io::new(stream);
        std::future::poll_fn(|cx| self.poll_connection(&mut io, cx)).await;
        self.discard_held();
        self.update_gauges(&mut io);
    }

    fn poll_connection(&mut self, io: &mut Io, cx: &mut Context<'_>) -> Poll<()> {
        let mut read_total = 0;
        for _ in 0..LOOP_BUDGET {
            let _clock = StepClock::start();
            let mut progress = self.poll_commands(cx);
            progress |= self.poll_store(cx);
            if self.store_failed() {
                return self.transport_closed(Closed::Local);
            }
            match self.poll_read(io, cx) {
                Ok(read) => {
                    progress |= read > 0;
                    read_total += read;
                }
                Err(closed) => return self.transport_closed(closed),
            }
            let at = self.timer_deadline(io).map(tokio::time::Instant::from_std);
            if io.poll_timer(at, cx) {
                progress = true;
                if io.closing_by.is_some() {
                    // The peer did not take the last bytes in time.
                    return self.transport_closed(Closed::Local);
                }
                self.session.handle_timeout(now());
            }
            self.dispatch_events();
            if let Some(reply) = self.pending.abort.take() {
                self.pending.abort = Some(reply);
                return self.transport_closed(Closed::Local);
            }
            let collected = self.collect_transmit(&mut io.out);
            self.awaiting_write.collected(collected);
            match io.poll_write(cx) {
                Ok(wrote) => {
                    progress |= wrote > 0;
                    self.complete_written(wrote);
                }
                Err(e) => return self.transport_closed(Closed::Remote(Some(self.describe(e)))),
            }
            if self.session.wants_close() {
                if let Poll::Ready(()) = self.poll_close(io, cx) {
                    return Poll::Ready(());
                }
            }
            if !progress {
                if read_total.saturating_add(io.bytes_out) < QUIET_POLL_BYTES {
                    self.release_buffers(io);
                }
                self.update_gauges(io);
                return Poll::Pending;
            }
            if read_total >= READ_PER_POLL {
                break;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Takes commands until none is waiting (or a batch is done). True
    /// when any was taken.
    fn poll_commands(&mut self, cx: &mut Context<'_>) -> bool {
        for n in 0..COMMAND_BATCH {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(c)) => self.handle_command(c),
                Poll::Ready(None) => {
                    if !self.handles_gone {
                        self.handles_gone = true;
                        self.all_handles_gone();
                    }
                    return n > 0;
                }
                Poll::Pending => return n > 0,
            }
        }
        true
    }

    /// Reads what the stream has, into the engine. Ok(bytes read); Err
    /// when the stream ended.
    fn poll_read(&mut self, io: &mut Io, cx: &mut Context<'_>) -> Result<usize, Closed> {
        if io.closing_by.is_some() {
            return Ok(0);
        }
        let mut got = 0;
        for _ in 0..READ_BATCH {
            let recv = self.session.recv_buffer();
            if recv.capacity() - recv.len() < io.read_reserve / 4 {
                recv.reserve(io.read_reserve);
            }
            let read = std::pin::pin!(io.stream.read_buf(self.session.recv_buffer())).poll(cx);
            match read {
                Poll::Ready(Ok(0)) => {
                    return Err(Closed::Remote(Some(Error::ConnectionClosed {
                        reason_code: None,
                    })))
                }
                Poll::Ready(Ok(n)) => {
                    got += n;
                    self.metrics.bytes_in(n);
                    if n >= io.read_reserve / 2 {
                        io.read_reserve = (io.read_reserve * 2).min(READ_RESERVE_MAX);
                    }
                    self.session.handle_received(now());
                    if self.session.state() == ConnectionState::Closing {
                        break;
                    }
                }
                Poll::Ready(Err(e)) => return Err(Closed::Remote(Some(self.describe(e)))),
                Poll::Pending => break,
            }
        }
        Ok(got)
    }

    /// Gives back the buffers a quiet connection holds empty: the engine's
    /// and the write buffer; the next read starts small again.
    fn release_buffers(&mut self, io: &mut Io) {
        self.session.release_empty_buffers();
        if io.out.is_empty() {
            io.out = BytesMut::new();
        }
        io.read_reserve = READ_RESERVE_MIN;
    }

    /// The next deadline: the engine's, or the bound on closing.
    fn timer_deadline(&self, io: &Io) -> Option<std::time::Instant> {
        match io.closing_by {
            Some(at) => Some(at.into_std()),
            None => self.session.poll_timeout(),
        }
    }

    /// The engine is done with the connection: write what is left, shut
    /// the stream down, bounded by the disconnect timeout.
    fn poll_close(&mut self, io: &mut Io, cx: &mut Context<'_>) -> Poll<()> {
        if io.closing_by.is_none() {
            let by = deadline(now(), self.settings.disconnect_timeout);
            io.closing_by = Some(tokio::time::Instant::from_std(by));
            // Arm the bound now; later passes poll it.
            if io.poll_timer(io.closing_by, cx) {
                return self.transport_closed(Closed::Local);
            }
        }
        if !io.is_flushed() || self.holds_bytes() {
            return Poll::Pending;
        }
        match Pin::new(&mut io.stream).poll_shutdown(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => self.transport_closed(Closed::Local),
        }
    }

    /// Gauges and byte counts, once per wake-up rather than per packet.
    fn update_gauges(&self, io: &mut Io) {
        self.metrics.bytes_out(io.take_bytes_out());
        self.metrics.inflight.set(self.session.inflight() as f64);
        self.metrics.queued.set(self.session.queued() as f64);
    }

    /// The transport took `wrote` more bytes: completes the QoS 0
    /// publishes they carried.
    fn complete_written(&mut self, wrote: usize) {
        self.awaiting_write.written(wrote);
        while let Some(publish) = self.awaiting_write.pop_written() {
            self.finish_publish(publish, Ok(PublishOutcome::success()));
        }
    }

    fn transport_closed(&mut self, closed: Closed) -> Poll<()> {
        if let Closed::Remote(Some(e)) = closed {
            self.last_error = Some(e);
        }
        self.session.handle_transport_closed(now());
        self.dispatch_events();
        // QoS 0 publishes whose bytes the transport never took are lost.
        for publish in self.awaiting_write.take_unwritten() {
            let error = Error::ConnectionClosed { reason_code: None };
            self.finish_publish(publish, Err(error));
        }
        Poll::Ready(())
    }

    fn describe(&self, error: std::io::Error) -> Error {
        #[cfg(feature = "tls")]
        if let Some(t) = crate::transport::TlsError::from_io(&error, &self.broker_host()) {
            return Error::Tls(t);
        }
        Error::Io(error)
    }
}
