//! How the driver gets a byte stream to a broker: the [`Connector`] trait,
//! and the TCP / TLS connector built from a broker URL.
//!
//! The driver is generic over its byte stream: anything that is
//! `AsyncRead + AsyncWrite + Unpin + Send` carries MQTT. A user brings a
//! QUIC stream, an SSH tunnel or an in-memory pipe by implementing
//! [`Connector`] and passing it to
//! [`ConnectOptions::connector`](crate::client::ConnectOptions::connector);
//! the session engine never knows.

use crate::Error;
use std::future::Future;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};

/// A connected byte stream the driver can carry MQTT over.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for T {}

/// A boxed byte stream, as a [`Connector`] hands it out.
pub type BoxedTransport = Box<dyn Transport>;

/// The future a [`Connector`] returns.
pub type ConnectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<BoxedTransport, Error>> + Send + 'a>>;

/// Opens a new byte stream to the broker, once for the first connection
/// and again for every reconnect attempt.
///
/// The driver bounds each call by the connect timeout, so an
/// implementation need not. Errors should name what they tried (host and
/// port, path) so that the application can tell one failure from another.
///
/// ```
/// use tern_mqtt::transport::{BoxedTransport, ConnectFuture, Connector};
///
/// /// Every connection goes to one fixed TCP address.
/// struct Fixed(std::net::SocketAddr);
///
/// impl Connector for Fixed {
///     fn connect(&self) -> ConnectFuture<'_> {
///         Box::pin(async move {
///             let tcp = tokio::net::TcpStream::connect(self.0).await?;
///             Ok(Box::new(tcp) as BoxedTransport)
///         })
///     }
///
///     fn describe(&self) -> String {
///         self.0.to_string()
///     }
/// }
/// ```
pub trait Connector: Send + Sync + 'static {
    /// Opens one connection.
    fn connect(&self) -> ConnectFuture<'_>;

    /// Where this connector connects to, for logs and events (never with
    /// credentials in it).
    fn describe(&self) -> String;
}

/// The connector behind `mqtt://` and `mqtts://` URLs: TCP with
/// `TCP_NODELAY`, then TLS through rustls when the URL asked for it.
#[derive(Debug, Clone)]
pub struct TcpConnector {
    host: String,
    port: u16,
    #[cfg(feature = "tls")]
    tls: Option<super::TlsOptions>,
}

impl TcpConnector {
    /// Plain TCP to `host:port`.
    pub fn plain(host: impl Into<String>, port: u16) -> Self {
        TcpConnector {
            host: host.into(),
            port,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// TLS over TCP to `host:port`, with these TLS settings.
    #[cfg(feature = "tls")]
    pub fn tls(host: impl Into<String>, port: u16, tls: super::TlsOptions) -> Self {
        TcpConnector {
            host: host.into(),
            port,
            tls: Some(tls),
        }
    }
}

impl Connector for TcpConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let tcp = super::connect_tcp(&self.host, self.port).await?;
            #[cfg(feature = "tls")]
            if let Some(tls) = &self.tls {
                let stream = super::connect_tls(tcp, &self.host, tls).await?;
                return Ok(Box::new(stream) as BoxedTransport);
            }
            Ok(Box::new(tcp) as BoxedTransport)
        })
    }

    fn describe(&self) -> String {
        super::tcp::host_port(&self.host, self.port)
    }
}
