//! TCP with `TCP_NODELAY`: MQTT packets are small and latency matters more
//! than coalescing; the driver already batches what it writes.

use std::fmt;
use std::io;
use tokio::net::TcpStream;

/// An I/O error with what was being done and to which `host:port`; the
/// original error is its `source()`.
#[derive(Debug)]
struct Context {
    what: String,
    error: io::Error,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

impl std::error::Error for Context {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Wraps `error` so that its message says `what`, keeping its kind.
pub(crate) fn with_context(error: io::Error, what: String) -> io::Error {
    io::Error::new(error.kind(), Context { what, error })
}

/// `host:port`, with brackets around an IPv6 host.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Connects to `host:port` and turns Nagle's algorithm off.
///
/// Errors keep their [`io::ErrorKind`] and name the address: "resolving
/// broker.local:1883: ..." when the name does not resolve, "connecting to
/// broker.local:1883: Connection refused" when no address accepts.
pub async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let target = host_port(host, port);
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| with_context(e, format!("resolving {target}")))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address")
    });
    let what = match addrs.as_slice() {
        [one] if one.ip().to_string() != host => format!("connecting to {target} ({one})"),
        _ => format!("connecting to {target}"),
    };
    Err(with_context(e, what))
}
