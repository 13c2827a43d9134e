//! A private amqtt broker (Python, MQTT 3.1.1, with a WebSocket listener)
//! as a child process: free loopback ports, a config this harness writes,
//! ready once every port accepts a connection, killed by PID on drop.
//!
//! The binary is `$TERN_AMQTT`, else `target/amqtt-venv/bin/amqtt` (where
//! `.ci/test` installs it), else `amqtt` on `PATH`.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long amqtt may take to start (Python imports take a second or two).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running amqtt.
pub struct Amqtt {
    child: Child,
    /// Plain WebSocket listener.
    pub ws_port: u16,
    /// WebSocket over TLS listener, when started with certificates.
    pub wss_port: Option<u16>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The amqtt executable.
pub fn amqtt_exe() -> PathBuf {
    if let Some(p) = std::env::var_os("TERN_AMQTT") {
        return p.into();
    }
    // Where `scripts/interop-install.sh` (run by `bash .ci/test`) puts it.
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/interop/amqtt-venv/bin/amqtt");
    if venv.is_file() {
        return venv;
    }
    "amqtt".into()
}

impl Amqtt {
    /// Starts amqtt with a ws listener, and a wss one when `tls` holds the
    /// server certificate and key (PEM).
    pub fn start(tls: Option<(&str, &str)>) -> Amqtt {
        let dir = tempfile::tempdir().expect("temp dir");
        let (tcp_port, ws_port) = (free_port(), free_port());
        let mut config = format!(
            "listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{tcp_port}\n  \
             ws:\n    type: ws\n    bind: 127.0.0.1:{ws_port}\n"
        );
        let wss_port = tls.map(|(cert, key)| {
            let port = free_port();
            std::fs::write(dir.path().join("server.crt"), cert).unwrap();
            std::fs::write(dir.path().join("server.key"), key).unwrap();
            let path = |f: &str| dir.path().join(f).display().to_string();
            config.push_str(&format!(
                "  wss:\n    type: ws\n    bind: 127.0.0.1:{port}\n    ssl: true\n    \
                 certfile: {}\n    keyfile: {}\n",
                path("server.crt"),
                path("server.key")
            ));
            port
        });
        config.push_str(
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    \
             allow_anonymous: true\n",
        );
        let conf = dir.path().join("broker.yaml");
        std::fs::write(&conf, config).unwrap();
        let log = std::fs::File::create(dir.path().join("amqtt.log")).unwrap();
        let child = Command::new(amqtt_exe())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run amqtt ({e}): `bash .ci/test` installs it into \
                     target/interop/amqtt-venv, or point $TERN_AMQTT at it"
                )
            });
        let mut broker = Amqtt {
            child,
            ws_port,
            wss_port,
            _dir: dir,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        for port in [Some(tcp_port), Some(ws_port), wss_port]
            .into_iter()
            .flatten()
        {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = broker.child.try_wait() {
                    panic!("amqtt exited with {status}: {}", broker.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "amqtt not ready: {}",
                    broker.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        broker
    }

    /// What amqtt logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("amqtt.log")).unwrap_or_default()
    }
}

impl Drop for Amqtt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- amqtt log\n{}", self.log());
        }
    }
}
