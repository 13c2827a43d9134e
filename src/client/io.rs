//! One connection, polled by hand: commands, reads, the engine's timer,
//! event delivery and writes, in a loop that only returns `Pending` once
//! nothing can make progress, every waker is registered, and no byte the
//! engine produced is left unsent.

use super::driver::{now, Driver};
use crate::session::deadline;
use crate::session::ConnectionState;
use crate::transport::BoxedTransport;
use crate::Error;
use bytes::Bytes;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio::time::Sleep;

/// Steps of the loop before it yields to other tasks, so that a flood of
/// input cannot starve the runtime.
const LOOP_BUDGET: usize = 64;
/// Commands taken per step.
const COMMAND_BATCH: usize = 256;
/// Reads per step.
const READ_BATCH: usize = 8;
/// Read buffer headroom of a new connection: small, so that an idle
/// connection stays cheap.
const READ_RESERVE_MIN: usize = 2 * 1024;
/// Read buffer headroom after reads that filled half of it (doubling from
/// [`READ_RESERVE_MIN`]): enough for many small packets per read.
const READ_RESERVE_MAX: usize = 16 * 1024;

/// The byte stream of one connection and what is waiting to be written.
pub(super) struct Io {
    stream: BoxedTransport,
    out: VecDeque<Bytes>,
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
            out: VecDeque::new(),
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

    /// Writes what is queued until the stream pushes back. Ok(true) when
    /// something was written.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<bool, std::io::Error> {
        let mut wrote = false;
        while let Some(front) = self.out.front_mut() {
            match Pin::new(&mut self.stream).poll_write(cx, front) {
                Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    wrote = true;
                    self.bytes_out += n;
                    self.needs_flush = true;
                    if n >= front.len() {
                        self.out.pop_front();
                    } else {
                        let _ = front.split_to(n);
                    }
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
        for _ in 0..LOOP_BUDGET {
            let mut progress = self.poll_commands(cx);
            progress |= self.poll_store(cx);
            if self.store_failed() {
                return self.transport_closed(Closed::Local);
            }
            match self.poll_read(io, cx) {
                Ok(read) => progress |= read,
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
            self.collect_transmit(&mut io.out);
            match io.poll_write(cx) {
                Ok(wrote) => progress |= wrote,
                Err(e) => return self.transport_closed(Closed::Remote(Some(self.describe(e)))),
            }
            if self.session.wants_close() {
                if let Poll::Ready(()) = self.poll_close(io, cx) {
                    return Poll::Ready(());
                }
            }
            if !progress {
                self.update_gauges(io);
                return Poll::Pending;
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

    /// Reads what the stream has, into the engine. Ok(true) when bytes
    /// came; Err when the stream ended.
    fn poll_read(&mut self, io: &mut Io, cx: &mut Context<'_>) -> Result<bool, Closed> {
        if io.closing_by.is_some() {
            return Ok(false);
        }
        let mut got = false;
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
                    got = true;
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

    fn transport_closed(&mut self, closed: Closed) -> Poll<()> {
        if let Closed::Remote(Some(e)) = closed {
            self.last_error = Some(e);
        }
        self.session.handle_transport_closed(now());
        self.dispatch_events();
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
