//! MQTT over WebSocket (MQTT 5.0 section 6, 3.1.1 section 6): the
//! upgrade through tokio-tungstenite with subprotocol `mqtt`, and
//! [`WsIo`], which turns the message stream back into bytes.
//!
//! The adapter is ours rather than a crate's: the maintained ones
//! (`ws_stream_tungstenite`, async-tungstenite's) sit on async-tungstenite
//! and futures-io, a second WebSocket stack beside tokio-tungstenite, for
//! what is a hundred lines here.

use super::connector::Route;
use super::proxy::{with_context, HttpProxy};
use super::{BoxedTransport, ConnectFuture, Connector};
use crate::Error;
use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// The WebSocket subprotocol MQTT asks for (and the server must accept).
pub const SUBPROTOCOL: &str = "mqtt";

/// The connector behind `ws://` and `wss://` URLs: TCP (or a tunnel
/// through an [`HttpProxy`]), TLS for `wss://` with the same rustls
/// configuration as `mqtts://`, then the upgrade with subprotocol `mqtt`
/// and any extra headers.
///
/// `Debug` shows header names, never their values (they are usually
/// tokens).
#[derive(Clone)]
pub struct WsConnector {
    route: Route,
    path: String,
    headers: Vec<(String, String)>,
}

impl fmt::Debug for WsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, _)| format!("{name}: <redacted>"))
            .collect();
        f.debug_struct("WsConnector")
            .field("url", &self.describe())
            .field("headers", &headers)
            .field("proxy", &self.route.proxy)
            .finish_non_exhaustive()
    }
}

impl WsConnector {
    /// `ws://host:port/path`.
    pub fn plain(host: impl Into<String>, port: u16, path: impl Into<String>) -> Self {
        WsConnector {
            route: Route::new(host.into(), port),
            path: path.into(),
            headers: Vec::new(),
        }
    }

    /// `wss://host:port/path`, with these TLS settings.
    #[cfg(feature = "tls")]
    pub fn tls(
        host: impl Into<String>,
        port: u16,
        path: impl Into<String>,
        tls: super::TlsOptions,
    ) -> Self {
        let mut ws = WsConnector::plain(host, port, path);
        ws.route.tls = Some(tls);
        ws
    }

    /// Adds an HTTP header to the upgrade request (for example
    /// `Authorization` for a cloud broker).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Reaches the broker through this HTTP CONNECT proxy.
    pub fn via_proxy(mut self, proxy: HttpProxy) -> Self {
        self.route.proxy = Some(proxy);
        self
    }

    fn url(&self) -> String {
        let scheme = if self.route.is_tls() { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.route.target(), self.path)
    }

    fn failed(&self, why: String) -> Error {
        Error::WebSocket {
            url: self.describe(),
            why,
        }
    }

    async fn upgrade<S>(&self, stream: S) -> Result<BoxedTransport, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut request = self
            .url()
            .into_client_request()
            .map_err(|e| self.failed(format!("bad request: {e}")))?;
        let headers = request.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| self.failed(format!("invalid header name {name:?}")))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| self.failed(format!("invalid value for header {name}")))?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        let (ws, response) = tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(|e| match e {
                tungstenite::Error::Io(io) => Error::Io(with_context(
                    io,
                    &format!("WebSocket upgrade to {}", self.describe()),
                )),
                tungstenite::Error::Http(r) => {
                    self.failed(format!("the server answered {} to the upgrade", r.status()))
                }
                tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(_),
                ) => self.failed("the server did not accept the mqtt subprotocol".into()),
                other => self.failed(other.to_string()),
            })?;
        // tungstenite checks this too; the check stays here in case it
        // ever stops doing so.
        let accepted = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        if accepted != Some(SUBPROTOCOL) {
            return Err(self.failed(format!(
                "the server did not accept the mqtt subprotocol (it answered {accepted:?})"
            )));
        }
        Ok(Box::new(WsIo::new(ws)))
    }
}

impl Connector for WsConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let stream = self.route.open(&self.describe()).await?;
            self.upgrade(stream).await
        })
    }

    fn describe(&self) -> String {
        let url = self.url();
        let url = url.split_once('?').map_or(url.as_str(), |(u, _)| u);
        self.route.with_proxy(url.to_owned())
    }
}

/// A WebSocket carrying MQTT as a byte stream: every write is one binary
/// message, and reads return the binary messages' bytes as they come,
/// across message boundaries (one MQTT packet may span messages, one
/// message may hold several). Pings are answered (by tungstenite, on the
/// next read or write), pongs skipped; a close frame ends the stream; a
/// text message is an error (MQTT over WebSocket is binary only).
pub struct WsIo<S> {
    ws: WebSocketStream<S>,
    /// What is left of the last binary message.
    pending: Bytes,
    eof: bool,
}

impl<S> fmt::Debug for WsIo<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsIo")
            .field("pending", &self.pending.len())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl<S> WsIo<S> {
    /// Wraps an upgraded WebSocket.
    pub fn new(ws: WebSocketStream<S>) -> Self {
        WsIo {
            ws,
            pending: Bytes::new(),
            eof: false,
        }
    }
}

fn to_io(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "the WebSocket is closed")
        }
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(bytes))) => this.pending = bytes,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => this.eof = true,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a text WebSocket message (MQTT over WebSocket is binary only)",
                    )))
                }
                Some(Err(tungstenite::Error::ConnectionClosed)) => this.eof = true,
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let ws = &mut self.get_mut().ws;
        ready!(Pin::new(&mut *ws).poll_ready(cx)).map_err(to_io)?;
        Pin::new(ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(to_io)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(to_io)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.get_mut().ws).poll_close(cx)) {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(to_io(e))),
        }
    }
}
