//! A small HTTP CONNECT proxy on a free loopback port: checks Basic auth
//! (when given credentials), then splices bytes to the target. Records the
//! targets it tunnelled to.
#![allow(dead_code)]

use base64::Engine as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running proxy; stops when dropped.
pub struct ConnectProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `host:port` of every tunnel opened.
    pub tunnels: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConnectProxy {
    /// Starts a proxy that wants `user:password` in Basic auth (or nothing).
    pub async fn start(credentials: Option<&str>) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let expected = credentials.map(|c| base64::engine::general_purpose::STANDARD.encode(c));
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&tunnels);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let (expected, seen) = (expected.clone(), Arc::clone(&seen));
                tokio::spawn(async move {
                    let _ = serve(client, expected, seen).await;
                });
            }
        });
        ConnectProxy {
            addr,
            tunnels,
            task,
        }
    }

    /// `http://user:password@127.0.0.1:port`.
    pub fn url(&self, credentials: &str) -> String {
        format!("http://{credentials}@{}", self.addr)
    }
}

async fn serve(
    mut client: TcpStream,
    expected: Option<String>,
    seen: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8];
        if client.read(&mut b).await? == 0 {
            return Ok(());
        }
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.lines();
    let request = lines.next().unwrap_or_default();
    let target = match request.split(' ').collect::<Vec<_>>()[..] {
        ["CONNECT", target, "HTTP/1.1"] => target.to_owned(),
        _ => {
            client
                .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                .await?;
            return Ok(());
        }
    };
    let auth = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| v.trim().to_owned());
    let authorized = match (&expected, auth) {
        (None, _) => true,
        (Some(want), Some(got)) => {
            let (scheme, token) = got.split_once(' ').unwrap_or_default();
            scheme.eq_ignore_ascii_case("basic") && token == want
        }
        (Some(_), None) => false,
    };
    if !authorized {
        client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"tern\"\r\nContent-Length: 0\r\n\r\n",
            )
            .await?;
        return Ok(());
    }
    let Ok(mut upstream) = TcpStream::connect(&target).await else {
        client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            .await?;
        return Ok(());
    };
    seen.lock().unwrap().push(target);
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
