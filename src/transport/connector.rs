//! How the driver gets a byte stream to a broker: the [`Connector`] trait,
//! and the TCP / TLS connector built from a broker URL.
//!
//! The driver is generic over its byte stream: anything that is
//! `AsyncRead + AsyncWrite + Unpin + Send` carries MQTT. A user brings a
//! QUIC stream, an SSH tunnel or an in-memory pipe by implementing
//! [`Connector`] and passing it to
//! [`ConnectOptions::connector`](crate::client::ConnectOptions::connector);
//! the session engine never knows.

use super::endpoint::host_port;
use super::proxy::{with_context, HttpProxy};
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

/// Where a TCP-based connector goes and how: host and port, TLS, proxy.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) host: String,
    pub(crate) port: u16,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<super::TlsOptions>,
    pub(crate) proxy: Option<HttpProxy>,
}

impl Route {
    pub(crate) fn new(host: String, port: u16) -> Self {
        Route {
            host,
            port,
            #[cfg(feature = "tls")]
            tls: None,
            proxy: None,
        }
    }

    #[cfg(feature = "websocket")]
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// `host:port`, bracketed for IPv6.
    pub(crate) fn target(&self) -> String {
        host_port(&self.host, self.port)
    }

    /// `<what> via proxy http://proxy:port` when there is a proxy.
    pub(crate) fn with_proxy(&self, what: String) -> String {
        match &self.proxy {
            Some(p) => format!("{what} via proxy {}", p.describe()),
            None => what,
        }
    }

    /// TCP (through the proxy if there is one), then TLS if asked for;
    /// `describe` names the connector in errors.
    pub(crate) async fn open(&self, describe: &str) -> Result<super::Stream, Error> {
        let tcp = match &self.proxy {
            Some(proxy) => proxy.tunnel(&self.host, self.port).await?,
            None => super::connect_tcp(&self.host, self.port)
                .await
                .map_err(|e| with_context(e, &format!("connecting to {describe}")))?,
        };
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let stream = super::connect_tls(tcp, &self.host, tls).await?;
            return Ok(super::Stream::Tls(Box::new(stream)));
        }
        Ok(super::Stream::Tcp(tcp))
    }
}

/// The connector behind `mqtt://` and `mqtts://` URLs: TCP with
/// `TCP_NODELAY` (or a tunnel through an [`HttpProxy`]), then TLS through
/// rustls when the URL asked for it.
#[derive(Debug, Clone)]
pub struct TcpConnector {
    route: Route,
}

impl TcpConnector {
    /// Plain TCP to `host:port`.
    pub fn plain(host: impl Into<String>, port: u16) -> Self {
        TcpConnector {
            route: Route::new(host.into(), port),
        }
    }

    /// TLS over TCP to `host:port`, with these TLS settings.
    #[cfg(feature = "tls")]
    pub fn tls(host: impl Into<String>, port: u16, tls: super::TlsOptions) -> Self {
        let mut route = Route::new(host.into(), port);
        route.tls = Some(tls);
        TcpConnector { route }
    }

    /// Reaches the broker through this HTTP CONNECT proxy (the tunnel is
    /// opened before TLS).
    pub fn via_proxy(mut self, proxy: HttpProxy) -> Self {
        self.route.proxy = Some(proxy);
        self
    }
}

impl Connector for TcpConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let stream = self.route.open(&self.describe()).await?;
            Ok(Box::new(stream) as BoxedTransport)
        })
    }

    fn describe(&self) -> String {
        self.route.with_proxy(self.route.target())
    }
}

/// The connector behind `unix:///path` URLs: a Unix domain socket, for a
/// broker on the same machine.
#[cfg(unix)]
#[derive(Debug, Clone)]
pub struct UnixConnector {
    path: std::path::PathBuf,
}

#[cfg(unix)]
impl UnixConnector {
    /// The socket at `path`.
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        UnixConnector { path: path.into() }
    }
}

#[cfg(unix)]
impl Connector for UnixConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let stream = tokio::net::UnixStream::connect(&self.path)
                .await
                .map_err(|e| with_context(e, &format!("connecting to {}", self.describe())))?;
            Ok(Box::new(stream) as BoxedTransport)
        })
    }

    fn describe(&self) -> String {
        format!("unix://{}", self.path.display())
    }
}
