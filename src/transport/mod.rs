//! Byte transports under the MQTT connection.
//!
//! The broker URL picks the transport:
//!
//! | URL | transport | default port |
//! | --- | --- | --- |
//! | `mqtt://host[:port]` | TCP ([`TcpConnector`]) | 1883 |
//! | `mqtts://host[:port]` | TLS over TCP (`tls` feature) | 8883 |
//! | `ws://host[:port][/path]` | WebSocket, subprotocol `mqtt` (`websocket` feature, [`WsConnector`]) | 80, path `/` |
//! | `wss://host[:port][/path]` | WebSocket over TLS (`websocket` + `tls`), e.g. `wss://broker:443/mqtt` | 443, path `/` |
//! | `unix:///path/to/socket` | Unix domain socket (Unix only, [`UnixConnector`]) | none |
//!
//! TLS for `mqtts://` and `wss://` is the same rustls configuration
//! ([`TlsOptions`]). TCP, TLS and WebSocket connections may go through an
//! HTTP CONNECT proxy ([`HttpProxy`], `http://[user:password@]host[:port]`),
//! which tunnels before TLS and the WebSocket upgrade. Every connector
//! error names what it tried (host and port, URL or path; never
//! credentials).
//!
//! The driver only needs `AsyncRead + AsyncWrite`: any other stream
//! (QUIC, an SSH tunnel, an in-memory pipe) comes in through the
//! [`Connector`] trait without touching the session engine.

mod connector;
pub(crate) mod endpoint;
mod proxy;
mod tcp;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
mod tls_load;
#[cfg(feature = "websocket")]
mod websocket;

#[cfg(unix)]
pub use connector::UnixConnector;
pub use connector::{BoxedTransport, ConnectFuture, Connector, TcpConnector, Transport};
pub use endpoint::Endpoint;
pub use proxy::HttpProxy;
pub use tcp::connect_tcp;
#[cfg(feature = "tls")]
pub use tls::{
    connect_tls, ClientCertificate, Password, SecretBytes, TlsError, TlsFault, TlsOptions,
    TlsVersion, TrustAnchors,
};
#[cfg(feature = "websocket")]
pub use websocket::{WsConnector, WsIo, SUBPROTOCOL};

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// An established transport connection.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP (`mqtt://`), with `TCP_NODELAY` set.
    Tcp(TcpStream),
    /// TLS over TCP.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
