//! Broker URLs: which transport, where, and the defaults.

use super::{Connector, TcpConnector};
use crate::Error;
use std::fmt;
use std::sync::Arc;

/// Where a broker URL points, by transport.
///
/// | URL | transport | default port |
/// | --- | --- | --- |
/// | `mqtt://host[:port]` | TCP | 1883 |
/// | `mqtts://host[:port]` | TLS over TCP (`tls` feature) | 8883 |
/// | `ws://host[:port][/path]` | WebSocket (`websocket` feature) | 80 |
/// | `wss://host[:port][/path]` | WebSocket over TLS (`websocket` + `tls`) | 443 |
/// | `unix:///path/to/socket` | Unix domain socket (Unix only) | none |
///
/// IPv6 hosts go in brackets (`mqtt://[::1]:1883`). A WebSocket path
/// defaults to `/` and is sent as written, query included (`wss://broker/mqtt`
/// asks for `/mqtt`). Credentials never go in the broker URL: use
/// [`ConnectOptions::credentials`](crate::client::ConnectOptions::credentials).
///
/// ```
/// use tern_mqtt::transport::Endpoint;
///
/// let e = Endpoint::parse("wss://broker.example:443/mqtt").unwrap();
/// assert_eq!((e.host(), e.port(), e.is_tls()), ("broker.example", 443, true));
/// assert_eq!(e.to_string(), "wss://broker.example:443/mqtt");
/// assert_eq!(Endpoint::parse("mqtt://[::1]").unwrap().to_string(), "[::1]:1883");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `mqtt://` or `mqtts://`.
    Tcp {
        /// Host name or address (IPv6 without brackets).
        host: String,
        /// Port.
        port: u16,
        /// TLS (`mqtts://`).
        tls: bool,
    },
    /// `ws://` or `wss://`.
    #[cfg(feature = "websocket")]
    WebSocket {
        /// Host name or address (IPv6 without brackets).
        host: String,
        /// Port.
        port: u16,
        /// The request path, from `/`, query included.
        path: String,
        /// TLS (`wss://`).
        tls: bool,
    },
    /// `unix:///path`.
    #[cfg(unix)]
    Unix {
        /// The socket's path.
        path: std::path::PathBuf,
    },
}

const SCHEMES: &str = "the scheme must be mqtt://, mqtts://, ws://, wss:// or unix://";

impl Endpoint {
    /// Parses a broker URL (see the table above).
    pub fn parse(url: &str) -> Result<Endpoint, Error> {
        let invalid = |why| Error::InvalidUrl {
            url: redact_userinfo(url),
            why,
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid(SCHEMES))?;
        match scheme {
            "mqtt" | "mqtts" => {
                let tls = scheme == "mqtts";
                let rest = rest.trim_end_matches('/');
                if rest.contains('/') {
                    return Err(invalid("only host and port are supported"));
                }
                let (host, port) =
                    authority(rest, if tls { 8883 } else { 1883 }).map_err(invalid)?;
                Ok(Endpoint::Tcp { host, port, tls })
            }
            #[cfg(feature = "websocket")]
            "ws" | "wss" => {
                let tls = scheme == "wss";
                if tls && cfg!(not(feature = "tls")) {
                    return Err(invalid("wss:// needs the `tls` feature"));
                }
                let (auth, path) = match rest.find(['/', '?']) {
                    Some(i) => rest.split_at(i),
                    None => (rest, ""),
                };
                let path = match path {
                    "" => "/".to_owned(),
                    p if p.starts_with('?') => format!("/{p}"),
                    p => p.to_owned(),
                };
                if path.contains(['#', ' ']) {
                    return Err(invalid("the path has a fragment or a space"));
                }
                let (host, port) = authority(auth, if tls { 443 } else { 80 }).map_err(invalid)?;
                Ok(Endpoint::WebSocket {
                    host,
                    port,
                    path,
                    tls,
                })
            }
            #[cfg(not(feature = "websocket"))]
            "ws" | "wss" => Err(invalid("ws:// and wss:// need the `websocket` feature")),
            #[cfg(unix)]
            "unix" => {
                if !rest.starts_with('/') || rest.len() < 2 {
                    return Err(invalid(
                        "a Unix socket URL is unix:///absolute/path (three slashes)",
                    ));
                }
                Ok(Endpoint::Unix { path: rest.into() })
            }
            #[cfg(not(unix))]
            "unix" => Err(invalid("unix:// is only available on Unix")),
            _ => Err(invalid(SCHEMES)),
        }
    }

    /// The host (for `unix://`, the socket's path).
    pub fn host(&self) -> &str {
        match self {
            Endpoint::Tcp { host, .. } => host,
            #[cfg(feature = "websocket")]
            Endpoint::WebSocket { host, .. } => host,
            #[cfg(unix)]
            Endpoint::Unix { path } => path.to_str().unwrap_or_default(),
        }
    }

    /// The port (0 for `unix://`).
    pub fn port(&self) -> u16 {
        match self {
            Endpoint::Tcp { port, .. } => *port,
            #[cfg(feature = "websocket")]
            Endpoint::WebSocket { port, .. } => *port,
            #[cfg(unix)]
            Endpoint::Unix { .. } => 0,
        }
    }

    /// Whether the URL asked for TLS (`mqtts://`, `wss://`).
    pub fn is_tls(&self) -> bool {
        match self {
            Endpoint::Tcp { tls, .. } => *tls,
            #[cfg(feature = "websocket")]
            Endpoint::WebSocket { tls, .. } => *tls,
            #[cfg(unix)]
            Endpoint::Unix { .. } => false,
        }
    }
}

impl Endpoint {
    /// The connector for this endpoint, with TLS settings for `mqtts://`
    /// and `wss://`, headers for the WebSocket upgrade, and a proxy.
    pub(crate) fn connector(
        &self,
        #[cfg(feature = "tls")] tls_options: &super::TlsOptions,
        ws_headers: &[(String, String)],
        proxy: Option<&super::HttpProxy>,
    ) -> Arc<dyn Connector> {
        let _ = ws_headers;
        match self {
            Endpoint::Tcp { host, port, tls } => {
                let _ = tls;
                #[cfg(feature = "tls")]
                let tcp = match tls {
                    true => TcpConnector::tls(host, *port, tls_options.clone()),
                    false => TcpConnector::plain(host, *port),
                };
                #[cfg(not(feature = "tls"))]
                let tcp = TcpConnector::plain(host, *port);
                match proxy {
                    Some(proxy) => Arc::new(tcp.via_proxy(proxy.clone())),
                    None => Arc::new(tcp),
                }
            }
            #[cfg(feature = "websocket")]
            Endpoint::WebSocket {
                host,
                port,
                path,
                tls,
            } => {
                let mut ws = super::WsConnector::plain(host, *port, path);
                #[cfg(feature = "tls")]
                if *tls {
                    ws = super::WsConnector::tls(host, *port, path, tls_options.clone());
                }
                let _ = tls;
                for (name, value) in ws_headers {
                    ws = ws.header(name, value);
                }
                if let Some(proxy) = proxy {
                    ws = ws.via_proxy(proxy.clone());
                }
                Arc::new(ws)
            }
            #[cfg(unix)]
            Endpoint::Unix { path } => Arc::new(super::UnixConnector::new(path)),
        }
    }
}

/// `mqtt://` endpoints show as `host:port` (as they always did in logs);
/// the others as their URL with defaults filled in and without a query
/// (which may carry a token).
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port, .. } => f.write_str(&host_port(host, *port)),
            #[cfg(feature = "websocket")]
            Endpoint::WebSocket { path, tls, .. } => {
                let scheme = if *tls { "wss" } else { "ws" };
                let path = path.split_once('?').map_or(path.as_str(), |(p, _)| p);
                write!(
                    f,
                    "{scheme}://{}{path}",
                    host_port(self.host(), self.port())
                )
            }
            #[cfg(unix)]
            Endpoint::Unix { path } => write!(f, "unix://{}", path.display()),
        }
    }
}

/// `host:port`, with brackets around an IPv6 host.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `host[:port]` or `[v6][:port]`, no credentials.
pub(crate) fn authority(rest: &str, default_port: u16) -> Result<(String, u16), &'static str> {
    if rest.contains('@') {
        return Err("only host and port are supported");
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed '[' in an IPv6 host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("unexpected text after the IPv6 host"),
        };
        (h.to_owned(), port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (rest.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err("no host");
    }
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| "the port is not a number from 1 to 65535")?,
        None => default_port,
    };
    if port == 0 {
        return Err("the port is not a number from 1 to 65535");
    }
    Ok((host, port))
}

/// The URL with any `user:password@` replaced, for error messages: a
/// secret must never reach a log through an error.
pub(crate) fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://<redacted>@{host}{}", &rest[end..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_with_its_defaults() {
        let tcp = |host: &str, port, tls| Endpoint::Tcp {
            host: host.into(),
            port,
            tls,
        };
        assert_eq!(Endpoint::parse("mqtt://h").unwrap(), tcp("h", 1883, false));
        assert_eq!(Endpoint::parse("mqtts://h/").unwrap(), tcp("h", 8883, true));
        assert_eq!(
            Endpoint::parse("mqtt://[::1]:7").unwrap(),
            tcp("::1", 7, false)
        );
        #[cfg(feature = "websocket")]
        {
            let ws = |host: &str, port, path: &str, tls| Endpoint::WebSocket {
                host: host.into(),
                port,
                path: path.into(),
                tls,
            };
            assert_eq!(Endpoint::parse("ws://h").unwrap(), ws("h", 80, "/", false));
            assert_eq!(
                Endpoint::parse("wss://h:443/mqtt").unwrap(),
                ws("h", 443, "/mqtt", true)
            );
            assert_eq!(
                Endpoint::parse("wss://h?token=x").unwrap(),
                ws("h", 443, "/?token=x", true)
            );
            assert_eq!(
                Endpoint::parse("ws://[::1]:8080/a/b?token=secret")
                    .unwrap()
                    .to_string(),
                "ws://[::1]:8080/a/b"
            );
        }
        #[cfg(unix)]
        {
            let e = Endpoint::parse("unix:///run/mosquitto.sock").unwrap();
            assert_eq!(e.to_string(), "unix:///run/mosquitto.sock");
            assert!(Endpoint::parse("unix://relative").is_err());
        }
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_credentials() {
        for url in [
            "http://h",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:x",
            "mqtt://h/path",
            "ws://u:hunter2@h/mqtt",
            "mqtt://[::1",
        ] {
            let err = Endpoint::parse(url).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
        assert_eq!(
            redact_userinfo("ws://u:p@h:1/x?y"),
            "ws://<redacted>@h:1/x?y"
        );
    }
}
