//! HTTP CONNECT proxies (RFC 9110 section 9.3.6): a TCP tunnel to the
//! broker, opened before TLS or the WebSocket upgrade.

use super::endpoint::{authority, host_port, redact_userinfo};
use crate::Error;
use base64::Engine as _;
use std::fmt;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a proxy's answer to CONNECT may take, headers included.
const MAX_RESPONSE: usize = 16 * 1024;

/// An HTTP proxy that tunnels with CONNECT, with optional Basic auth.
///
/// `Debug`, [`HttpProxy::describe`] and every error show the proxy's host
/// and port, never its credentials.
///
/// ```
/// use tern_mqtt::transport::HttpProxy;
///
/// let p = HttpProxy::parse("http://alice:s%40cret@proxy.local:3128").unwrap();
/// assert_eq!(p.describe(), "http://proxy.local:3128");
/// assert!(!format!("{p:?}").contains("cret"));
/// ```
#[derive(Clone)]
pub struct HttpProxy {
    host: String,
    port: u16,
    /// `Basic <base64(user:password)>`.
    authorization: Option<String>,
}

impl fmt::Debug for HttpProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl HttpProxy {
    /// `http://[user:password@]host[:port]` (default port 80); user and
    /// password may be percent-encoded.
    pub fn parse(url: &str) -> Result<HttpProxy, Error> {
        let invalid = |why| Error::InvalidUrl {
            url: redact_userinfo(url),
            why,
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| invalid("a proxy URL is http://[user:password@]host[:port]"))?
            .trim_end_matches('/');
        if rest.contains('/') {
            return Err(invalid("a proxy URL has no path"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = authority(hostport, 80).map_err(invalid)?;
        let authorization = match userinfo {
            None => None,
            Some(u) => {
                let (user, pass) = u.split_once(':').unwrap_or((u, ""));
                let user = percent_decode(user).ok_or_else(|| invalid("bad %-escape"))?;
                let pass = percent_decode(pass).ok_or_else(|| invalid("bad %-escape"))?;
                let mut pair = user;
                pair.push(b':');
                pair.extend_from_slice(&pass);
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
        };
        Ok(HttpProxy {
            host,
            port,
            authorization,
        })
    }

    /// `http://host:port`, without credentials.
    pub fn describe(&self) -> String {
        format!("http://{}", host_port(&self.host, self.port))
    }

    /// Connects to the proxy and asks it for a tunnel to `host:port`; the
    /// returned stream carries bytes to and from the target.
    pub async fn tunnel(&self, host: &str, port: u16) -> Result<TcpStream, Error> {
        let target = host_port(host, port);
        let mut tcp = super::connect_tcp(&self.host, self.port)
            .await
            .map_err(|e| {
                with_context(
                    e,
                    &format!(
                        "connecting to HTTP proxy {} (for {target})",
                        self.describe()
                    ),
                )
            })?;
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(auth) = &self.authorization {
            request.push_str("Proxy-Authorization: ");
            request.push_str(auth);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        let io_context = |e| {
            with_context(
                e,
                &format!("HTTP proxy {} tunnelling to {target}", self.describe()),
            )
        };
        tcp.write_all(request.as_bytes())
            .await
            .map_err(io_context)?;
        // Byte by byte up to the blank line, so that nothing of the
        // tunnel's first bytes is read here.
        let mut head = Vec::with_capacity(256);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_RESPONSE {
                return Err(self.refused(&target, "its answer has no end of headers".into()));
            }
            let mut byte = [0u8];
            if tcp.read(&mut byte).await.map_err(io_context)? == 0 {
                return Err(self.refused(&target, "it closed the connection".into()));
            }
            head.push(byte[0]);
        }
        let status_line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let code = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|s| s.get(2..5))
            .and_then(|c| c.parse::<u16>().ok());
        match code {
            Some(200..=299) => Ok(tcp),
            _ => Err(self.refused(&target, format!("it answered {status_line:?}"))),
        }
    }

    fn refused(&self, target: &str, why: String) -> Error {
        Error::Proxy {
            proxy: self.describe(),
            target: target.to_owned(),
            why,
        }
    }
}

/// The same error kind, with what was being tried in front of the text.
pub(crate) fn with_context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_credentials_into_basic_auth_and_never_shows_them() {
        let p = HttpProxy::parse("http://us%3Aer:p%40ss@[::1]:3128/").unwrap();
        assert_eq!(p.describe(), "http://[::1]:3128");
        // base64("us:er:p@ss")
        assert_eq!(p.authorization.as_deref(), Some("Basic dXM6ZXI6cEBzcw=="));
        assert!(!format!("{p:?}").contains("dXM6"));
        assert_eq!(HttpProxy::parse("http://proxy").unwrap().port, 80);
        let err = HttpProxy::parse("https://u:hunter2@proxy").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(HttpProxy::parse("http://u:%zz@proxy").is_err());
    }
}
