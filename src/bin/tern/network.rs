//! -A (bind address), --proxy and --nodelay: a TCP connector bound to a
//! local address, and the HTTP CONNECT proxy of the library; and, for
//! `tern bench`, streams that count the bytes written to the socket.

use crate::common::{usage, CliError};
use crate::conn::ConnArgs;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tern_mqtt::client::ConnectOptions;
use tern_mqtt::transport::{
    BoxedTransport, ConnectFuture, Connector, HttpProxy, TcpConnector, TlsOptions,
};
use tern_mqtt::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpSocket;

/// Applies -A and --proxy to `opts` (whose URL is `broker`).
pub fn apply(
    args: &ConnArgs,
    opts: ConnectOptions,
    broker: &str,
) -> Result<ConnectOptions, CliError> {
    let opts = match &args.proxy {
        Some(url) if !url.starts_with("http://") => {
            return Err(usage(format!(
                "--proxy {url}: refused: only HTTP CONNECT proxies (http://host:port), no SOCKS5"
            )))
        }
        Some(url) => opts.proxy(url).map_err(|e| usage(e.to_string()))?,
        None => opts,
    };
    let Some(bind) = args.bind_address else {
        return Ok(opts);
    };
    if !(broker.starts_with("mqtt://") || broker.starts_with("mqtts://")) || args.proxy.is_some() {
        return Err(usage(
            "-A binds TCP connections made straight to the broker: not with ws://, unix:// or --proxy",
        ));
    }
    let connector = bound(&opts, bind);
    Ok(opts.connector(connector))
}

fn bound(opts: &ConnectOptions, bind: IpAddr) -> BoundTcp {
    BoundTcp {
        bind,
        host: opts.host().to_owned(),
        port: opts.port(),
        tls: opts.is_tls().then(|| opts.tls_options().clone()),
    }
}

/// `opts` with a connector that adds every byte written to the socket to
/// `written`: the connector of an mqtt:// or mqtts:// URL (bound with -A,
/// through --proxy) built here so that it can be wrapped. `None` for the
/// other URLs.
pub fn count_writes(
    args: &ConnArgs,
    opts: ConnectOptions,
    broker: &str,
    written: Arc<AtomicU64>,
) -> Result<Option<ConnectOptions>, CliError> {
    if !(broker.starts_with("mqtt://") || broker.starts_with("mqtts://")) {
        return Ok(None);
    }
    let inner: Box<dyn Connector> = match args.bind_address {
        Some(bind) => Box::new(bound(&opts, bind)),
        None => {
            let (host, port) = (opts.host().to_owned(), opts.port());
            let mut tcp = match opts.is_tls() {
                true => TcpConnector::tls(host, port, opts.tls_options().clone()),
                false => TcpConnector::plain(host, port),
            };
            if let Some(url) = &args.proxy {
                tcp = tcp.via_proxy(HttpProxy::parse(url).map_err(|e| usage(e.to_string()))?);
            }
            Box::new(tcp)
        }
    };
    Ok(Some(opts.connector(Counting { inner, written })))
}

/// A connector whose streams count the bytes written to them.
struct Counting {
    inner: Box<dyn Connector>,
    written: Arc<AtomicU64>,
}

impl Connector for Counting {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let inner = self.inner.connect().await?;
            let written = self.written.clone();
            Ok(Box::new(CountingStream { inner, written }) as BoxedTransport)
        })
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// A stream that adds what each write took to a counter.
struct CountingStream {
    inner: BoxedTransport,
    written: Arc<AtomicU64>,
}

impl CountingStream {
    fn count(&self, r: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = &r {
            self.written
                .fetch_add(u64::try_from(*n).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        r
    }
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.count(r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.count(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// TCP from a given local address (port chosen by the system), then TLS
/// when the URL asked for it.
struct BoundTcp {
    bind: IpAddr,
    host: String,
    port: u16,
    tls: Option<TlsOptions>,
}

impl BoundTcp {
    async fn open(&self) -> Result<BoxedTransport, Error> {
        let target = self.describe();
        let context = |what: &str, e: std::io::Error| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("{what} {target} from {}: {e}", self.bind),
            ))
        };
        let addr: SocketAddr = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| context("resolving", e))?
            .find(|a| a.is_ipv4() == self.bind.is_ipv4())
            .ok_or_else(|| {
                context(
                    "connecting to",
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no address of the bind address's family",
                    ),
                )
            })?;
        let socket = match self.bind {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|e| context("connecting to", e))?;
        socket
            .bind(SocketAddr::new(self.bind, 0))
            .map_err(|e| context("binding for", e))?;
        let tcp = socket
            .connect(addr)
            .await
            .map_err(|e| context("connecting to", e))?;
        tcp.set_nodelay(true)
            .map_err(|e| context("connecting to", e))?;
        match &self.tls {
            Some(tls) => Ok(Box::new(
                tern_mqtt::transport::connect_tls(tcp, &self.host, tls).await?,
            )),
            None => Ok(Box::new(tcp)),
        }
    }
}

impl Connector for BoundTcp {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(self.open())
    }

    fn describe(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}
