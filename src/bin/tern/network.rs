//! -A (bind address), --proxy and --nodelay: a TCP connector bound to a
//! local address, and the HTTP CONNECT proxy of the library.

use crate::common::{usage, CliError};
use crate::conn::ConnArgs;
use std::net::{IpAddr, SocketAddr};
use tern_mqtt::client::ConnectOptions;
use tern_mqtt::transport::{BoxedTransport, ConnectFuture, Connector, TlsOptions};
use tern_mqtt::Error;
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
    let tls = opts.is_tls().then(|| opts.tls_options().clone());
    let connector = BoundTcp {
        bind,
        host: opts.host().to_owned(),
        port: opts.port(),
        tls,
    };
    Ok(opts.connector(connector))
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
