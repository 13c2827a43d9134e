//! Real-broker test harness: starts a private `mosquitto` (2.0.x) as a
//! child process with its own config, certificates and ports.
//!
//! Plain `std` (blocking), so sync and async tests can both use it; the one
//! future, [`LogWatch::until`], waits on tokio's blocking pool:
//!
//! ```ignore
//! #[path = "support/mosquitto.rs"]
//! mod mosquitto;
//! use mosquitto::{Broker, BrokerOptions, Listener};
//!
//! let broker = Broker::start(BrokerOptions::all());
//! let addr = broker.addr(Listener::Plain); // 127.0.0.1:<free port>
//! ```
//!
//! * Every broker gets a fresh temp dir holding `mosquitto.conf`,
//!   `mosquitto.log` (the broker's stderr, `log_type all`), freshly generated
//!   certificates (see [`certs`]), and for the auth listener `passwd`/`acl`.
//! * Ports are picked by binding `127.0.0.1:0` and released just before the
//!   broker starts; if another process wins that race mosquitto exits with
//!   "Address already in use" and the whole start is retried with new ports.
//! * Readiness: the broker's stderr is read by a thread that reports the
//!   "mosquitto version ... running" line (logged after every listener is
//!   bound); then each port must accept a TCP connection. No fixed sleeps;
//!   overall deadline [`READY_TIMEOUT`].
//! * [`Broker::stop`] sends SIGTERM (so persistence is saved) and waits;
//!   [`Broker::restart`] starts the same config on the same ports;
//!   [`Broker::crash`] sends SIGKILL; `Drop` stops the broker (SIGKILL when
//!   persistence is off, as there is nothing to save) and, if the test is
//!   panicking, prints the tail of the broker log.
//! * The log: `log_type all` and `connection_messages true`, so the log
//!   file ([`Broker::log`]) shows every packet. [`Broker::count_log`],
//!   [`Broker::connections_from`] / [`Broker::disconnects_from`] /
//!   [`Broker::wills_from`] (per client id) and the `*_in(log, ..)` free
//!   functions read it; [`Broker::wait_for`] (blocking) and
//!   [`LogWatch::until`] (async) wait, event-driven, until a predicate on
//!   it holds. A will that reaches a subscriber shows as
//!   `Sending PUBLISH to <subscriber> (d0, q0, r0, m0, '<will topic>', ...`.
//!
//! Listeners ([`Listener`]): `Plain` (anonymous), `Tls` (server certificate,
//! anonymous), `MutualTls` (`require_certificate true`,
//! `use_identity_as_username true`; the client certificate's CN is
//! [`certs::CLIENT_CN`]), `Auth` (`allow_anonymous false`, password file
//! and ACL from [`BrokerOptions::users`] / [`BrokerOptions::acl`]).
//!
//! The binary is `$TERN_MOSQUITTO`, else `mosquitto` on `PATH`, else
//! `/usr/sbin/mosquitto` / `/usr/local/sbin/mosquitto`.
#![allow(dead_code)]

#[path = "certs.rs"]
pub mod certs;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use certs::{CertKey, TestPki};

/// Deadline for a start or restart to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Broker::stop`] waits after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts with fresh ports when a port was taken between pick and bind.
const START_ATTEMPTS: u32 = 5;

/// Install hint used in every "binary not found" message.
pub const INSTALL_HINT: &str = "install it with `apt-get install -y mosquitto mosquitto-clients` \
     (.ci/test does this when run as root), or point $TERN_MOSQUITTO at the broker binary";

/// File names inside [`Broker::dir`].
pub mod files {
    /// Broker config.
    pub const CONFIG: &str = "mosquitto.conf";
    /// Broker stderr.
    pub const LOG: &str = "mosquitto.log";
    /// Trusted CA certificate (PEM).
    pub const CA: &str = "ca.crt";
    /// Server certificate (PEM).
    pub const SERVER_CERT: &str = "server.crt";
    /// Server key (PKCS#8 PEM).
    pub const SERVER_KEY: &str = "server.key";
    /// Client certificate signed by the trusted CA (PEM).
    pub const CLIENT_CERT: &str = "client.crt";
    /// Client key (PKCS#8 PEM).
    pub const CLIENT_KEY: &str = "client.key";
    /// Untrusted second CA (PEM).
    pub const OTHER_CA: &str = "other-ca.crt";
    /// Client certificate signed by the untrusted CA (PEM).
    pub const OTHER_CLIENT_CERT: &str = "other-client.crt";
    /// Key of [`OTHER_CLIENT_CERT`].
    pub const OTHER_CLIENT_KEY: &str = "other-client.key";
    /// mosquitto password file.
    pub const PASSWD: &str = "passwd";
    /// mosquitto ACL file.
    pub const ACL: &str = "acl";
    /// Persistence directory (with `persistence true`).
    pub const PERSISTENCE: &str = "persistence";
}

/// One listener of the broker, each on its own loopback port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Listener {
    /// Plain TCP, anonymous clients allowed.
    Plain,
    /// TLS with the server certificate, anonymous clients allowed.
    Tls,
    /// TLS requiring a client certificate signed by the test CA; its CN is
    /// the username.
    MutualTls,
    /// Plain TCP, username/password required, ACL applied.
    Auth,
}

impl Listener {
    /// All four listeners.
    pub const ALL: [Listener; 4] = [
        Listener::Plain,
        Listener::Tls,
        Listener::MutualTls,
        Listener::Auth,
    ];

    /// Whether the listener speaks TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Listener::Tls | Listener::MutualTls)
    }
}

/// Which server certificate the TLS listeners present.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerCert {
    /// Valid, SAN localhost / 127.0.0.1 / ::1.
    #[default]
    Valid,
    /// Same SANs, expired (2001..2002).
    Expired,
    /// Same SANs, not yet valid (2190..2191).
    NotYetValid,
    /// Same SANs, signed by its own key instead of the test CA.
    SelfSigned,
    /// X.509 v1 for CN localhost, signed by the test CA with `openssl x509
    /// -req` and no extensions (mosquitto's TLS how-to).
    V1,
}

/// What [`Broker::start`] sets up.
#[derive(Clone, Debug)]
pub struct BrokerOptions {
    /// Listeners to open (at least one; duplicates ignored).
    pub listeners: Vec<Listener>,
    /// `persistence true` with `persistence_location` in the temp dir.
    pub persistence: bool,
    /// Users of the auth listener (username, password).
    pub users: Vec<(String, String)>,
    /// ACL file lines for the auth listener (mosquitto `acl_file` syntax).
    pub acl: Vec<String>,
    /// Server certificate of the TLS listeners.
    pub server_cert: ServerCert,
    /// Extra global config lines, written before the listeners (no inline
    /// comments: mosquitto does not support them).
    pub global_config: Vec<String>,
    /// Extra lines appended to every listener block.
    pub listener_config: Vec<String>,
}

impl Default for BrokerOptions {
    /// Plain listener only, no persistence, default users and ACL.
    fn default() -> Self {
        BrokerOptions {
            listeners: vec![Listener::Plain],
            persistence: false,
            users: default_users(),
            acl: default_acl(),
            server_cert: ServerCert::Valid,
            global_config: Vec::new(),
            listener_config: Vec::new(),
        }
    }
}

/// `user1`/`pass1` and `user2`/`pass2`.
pub fn default_users() -> Vec<(String, String)> {
    vec![
        ("user1".to_string(), "pass1".to_string()),
        ("user2".to_string(), "pass2".to_string()),
    ]
}

/// user1 may read and write `test/#`; user2 may only read `test/#`;
/// every user may read and write `users/<username>/#`.
pub fn default_acl() -> Vec<String> {
    [
        "user user1",
        "topic readwrite test/#",
        "user user2",
        "topic read test/#",
        "pattern readwrite users/%u/#",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl BrokerOptions {
    /// Only the plain listener (same as `default()`).
    pub fn plain() -> Self {
        Self::default()
    }

    /// All four listeners.
    pub fn all() -> Self {
        BrokerOptions {
            listeners: Listener::ALL.to_vec(),
            ..Self::default()
        }
    }

    /// Exactly these listeners.
    pub fn listeners(listeners: &[Listener]) -> Self {
        BrokerOptions {
            listeners: listeners.to_vec(),
            ..Self::default()
        }
    }

    /// Add a listener.
    pub fn with(mut self, listener: Listener) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Turn persistence on or off.
    pub fn persistence(mut self, on: bool) -> Self {
        self.persistence = on;
        self
    }

    /// Replace the user list.
    pub fn users(mut self, users: &[(&str, &str)]) -> Self {
        self.users = users
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
        self
    }

    /// Replace the ACL lines.
    pub fn acl(mut self, lines: &[&str]) -> Self {
        self.acl = lines.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Choose the TLS server certificate.
    pub fn server_cert(mut self, which: ServerCert) -> Self {
        self.server_cert = which;
        self
    }

    /// Add a global config line.
    pub fn global(mut self, line: &str) -> Self {
        self.global_config.push(line.to_string());
        self
    }

    /// Add a line to every listener block.
    pub fn per_listener(mut self, line: &str) -> Self {
        self.listener_config.push(line.to_string());
        self
    }

    fn unique_listeners(&self) -> Vec<Listener> {
        let mut out = Vec::new();
        for l in &self.listeners {
            if !out.contains(l) {
                out.push(*l);
            }
        }
        out
    }
}

/// Path of an executable: `$env_var`, then `PATH`, then the sbin folders.
fn find_executable(name: &str, env_var: Option<&str>) -> Option<PathBuf> {
    if let Some(var) = env_var {
        if let Some(p) = std::env::var_os(var) {
            let p = PathBuf::from(p);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/sbin",
                "/usr/local/sbin",
                "/usr/bin",
                "/usr/local/bin",
                "/sbin",
            ]
            .iter()
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The mosquitto broker binary; panics with an install hint if missing.
pub fn mosquitto_exe() -> PathBuf {
    find_executable("mosquitto", Some("TERN_MOSQUITTO")).unwrap_or_else(|| {
        panic!("`mosquitto` not found on PATH nor in /usr/sbin or /usr/local/sbin: {INSTALL_HINT}")
    })
}

/// A mosquitto client tool (`mosquitto_pub`, `mosquitto_sub`,
/// `mosquitto_passwd`); panics with an install hint if missing.
pub fn client_tool(name: &str) -> PathBuf {
    find_executable(name, None).unwrap_or_else(|| {
        panic!(
            "`{name}` not found on PATH (it is in the Debian package `mosquitto-clients`, \
             `mosquitto_passwd` in `mosquitto`): {INSTALL_HINT}"
        )
    })
}

enum Event {
    /// The "mosquitto version ... running" line was logged.
    Ready,
    /// A "New connection from ..." line, reported while `watch` is set.
    Accepted(String),
    /// stderr reached EOF: the process exited (or closed stderr).
    Exited,
}

struct Running {
    child: Child,
    events: Receiver<Event>,
    reader: Option<JoinHandle<()>>,
}

enum StartError {
    /// A port was taken by someone else between pick and bind.
    AddrInUse(String),
    /// Any other failure (message includes the log).
    Fatal(String),
}

/// A running (or stopped) private mosquitto.
pub struct Broker {
    dir: tempfile::TempDir,
    options: BrokerOptions,
    exe: PathBuf,
    ports: Vec<(Listener, u16)>,
    pki: TestPki,
    server_cert: CertKey,
    running: Option<Running>,
    starts: u32,
    /// Count of log lines written (all starts), signalled on every line.
    log_lines: Arc<(Mutex<u64>, Condvar)>,
}

impl Broker {
    /// Write config, certificates and (for the auth listener) password and
    /// ACL files into a fresh temp dir, start mosquitto and wait until every
    /// listener accepts connections. Panics with the broker log on failure.
    pub fn start(options: BrokerOptions) -> Broker {
        let exe = mosquitto_exe();
        let listeners = options.unique_listeners();
        assert!(!listeners.is_empty(), "BrokerOptions: no listener chosen");
        let dir = tempfile::Builder::new()
            .prefix("tern-mosquitto-")
            .tempdir()
            .expect("create broker temp dir");
        let pki = TestPki::generate();
        let server_cert = match options.server_cert {
            ServerCert::Valid => pki.server.clone(),
            ServerCert::Expired => pki.ca.expired_server(),
            ServerCert::NotYetValid => pki.ca.future_server(),
            ServerCert::SelfSigned => pki.ca.self_signed_server(),
            ServerCert::V1 => pki.ca.v1_leaf("localhost"),
        };
        let mut broker = Broker {
            dir,
            options,
            exe,
            ports: Vec::new(),
            pki,
            server_cert,
            running: None,
            starts: 0,
            log_lines: Arc::new((Mutex::new(0), Condvar::new())),
        };
        broker.write_files(&listeners);

        let mut failures = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            let holders: Vec<(Listener, TcpListener)> = listeners
                .iter()
                .map(|l| {
                    let sock = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                        .expect("bind 127.0.0.1:0 to pick a free port");
                    (*l, sock)
                })
                .collect();
            broker.ports = holders
                .iter()
                .map(|(l, s)| (*l, s.local_addr().expect("local_addr").port()))
                .collect();
            broker.write_config();
            drop(holders);
            match broker.spawn_ready() {
                Ok(running) => {
                    broker.running = Some(running);
                    return broker;
                }
                Err(StartError::AddrInUse(msg)) => {
                    failures.push(format!("attempt {attempt}: {msg}"));
                }
                Err(StartError::Fatal(msg)) => panic!("{msg}"),
            }
        }
        panic!(
            "mosquitto could not bind its ports in {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n")
        );
    }

    /// Stop the broker with SIGTERM (clean shutdown: persistence is
    /// written) and wait for it to exit; SIGKILL after [`STOP_TIMEOUT`].
    /// Does nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            Self::shutdown(running, true);
        }
    }

    /// Kill the broker with SIGKILL (no clean shutdown, nothing persisted
    /// since the last autosave) and wait for it to exit.
    pub fn crash(&mut self) {
        if let Some(running) = self.running.take() {
            Self::shutdown(running, false);
        }
    }

    /// Stop (if running) and start again with the same config, files and
    /// ports; waits for readiness. Also starts a stopped broker.
    pub fn restart(&mut self) {
        self.stop();
        let mut failures = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            match self.spawn_ready() {
                Ok(running) => {
                    self.running = Some(running);
                    return;
                }
                Err(StartError::AddrInUse(msg)) => {
                    // Someone else holds one of our ports; nothing to wait
                    // on, so back off briefly before trying again.
                    failures.push(format!("attempt {attempt}: {msg}"));
                    thread::sleep(Duration::from_millis(20 * u64::from(attempt)));
                }
                Err(StartError::Fatal(msg)) => panic!("restart failed: {msg}"),
            }
        }
        panic!(
            "restart: another process holds one of the broker's ports {:?}:\n{}",
            self.ports,
            failures.join("\n")
        );
    }

    /// Whether the broker process is running (it has not been stopped; an
    /// unexpected exit is also detected).
    pub fn is_running(&mut self) -> bool {
        match &mut self.running {
            Some(r) => matches!(r.child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// PID of the running broker.
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.child.id())
    }

    /// How many times the broker process has been started (1 after
    /// `start`, 2 after one `restart`, ...; failed attempts not counted).
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// Port of a listener; panics if that listener was not configured.
    pub fn port(&self, listener: Listener) -> u16 {
        self.try_port(listener).unwrap_or_else(|| {
            panic!(
                "listener {listener:?} not configured (have {:?})",
                self.ports
            )
        })
    }

    /// Port of a listener, if configured.
    pub fn try_port(&self, listener: Listener) -> Option<u16> {
        self.ports
            .iter()
            .find(|(l, _)| *l == listener)
            .map(|(_, p)| *p)
    }

    /// `127.0.0.1:<port>` of a listener.
    pub fn addr(&self, listener: Listener) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port(listener)))
    }

    /// All configured listeners and their ports.
    pub fn ports(&self) -> &[(Listener, u16)] {
        &self.ports
    }

    /// Port of the plain listener.
    pub fn plain_port(&self) -> u16 {
        self.port(Listener::Plain)
    }

    /// Port of the TLS listener.
    pub fn tls_port(&self) -> u16 {
        self.port(Listener::Tls)
    }

    /// Port of the mutual-TLS listener.
    pub fn mtls_port(&self) -> u16 {
        self.port(Listener::MutualTls)
    }

    /// Port of the auth (password + ACL) listener.
    pub fn auth_port(&self) -> u16 {
        self.port(Listener::Auth)
    }

    /// The broker's temp dir (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of a file in the temp dir (see [`files`]).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The options the broker was started with.
    pub fn options(&self) -> &BrokerOptions {
        &self.options
    }

    /// Path of the config file.
    pub fn config_path(&self) -> PathBuf {
        self.file(files::CONFIG)
    }

    /// Path of the log file (the broker's stderr, all starts appended).
    pub fn log_path(&self) -> PathBuf {
        self.file(files::LOG)
    }

    /// Wait until the broker log contains `needle` (true) or `timeout`
    /// passes (false). Event-driven: woken by every new log line. Use it
    /// for broker-side effects of a client action (the log is written by a
    /// reader thread, so a line may land just after the client returns).
    ///
    /// This blocks the thread: in an async test where the client still has
    /// to act (reconnect, say), use [`LogWatch::until`] instead.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        self.log_watch().wait(timeout, |log| log.contains(needle))
    }

    /// Wait until `done(log)` holds (true) or `timeout` passes (false);
    /// blocking, woken by every new log line. E.g.
    /// `broker.wait_for(WAIT, |log| connections_in(log, "id") >= 2)`.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> bool {
        self.log_watch().wait(timeout, done)
    }

    /// A handle on the log that outlives `&self` borrows, for waiting on it
    /// from async code ([`LogWatch::until`]).
    pub fn log_watch(&self) -> LogWatch {
        LogWatch {
            path: self.log_path(),
            lines: Arc::clone(&self.log_lines),
        }
    }

    fn bump(log_lines: &(Mutex<u64>, Condvar)) {
        let (count, changed) = log_lines;
        *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        changed.notify_all();
    }

    /// The broker log so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path())
    }

    /// How many log lines contain `pattern`.
    pub fn count_log(&self, pattern: &str) -> usize {
        count_in(&self.log(), pattern)
    }

    /// How many connections from `client_id` the broker accepted (CONNECT
    /// read, all starts).
    pub fn connections_from(&self, client_id: &str) -> usize {
        connections_in(&self.log(), client_id)
    }

    /// How many DISCONNECT packets the broker received from `client_id`.
    pub fn disconnects_from(&self, client_id: &str) -> usize {
        disconnects_in(&self.log(), client_id)
    }

    /// How many of `client_id`'s connections carried a Will Message.
    pub fn wills_from(&self, client_id: &str) -> usize {
        wills_in(&self.log(), client_id)
    }

    /// The generated certificates.
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// CA certificate PEM (trusted by the broker; signed the server and
    /// client certificates).
    pub fn ca_pem(&self) -> &str {
        self.pki.ca.cert_pem()
    }

    /// CA certificate DER.
    pub fn ca_der(&self) -> &[u8] {
        self.pki.ca.cert_der()
    }

    /// Path of the CA certificate PEM file.
    pub fn ca_path(&self) -> PathBuf {
        self.file(files::CA)
    }

    /// The server certificate the TLS listeners present (per
    /// [`BrokerOptions::server_cert`]).
    pub fn server_cert(&self) -> &CertKey {
        &self.server_cert
    }

    /// Client certificate + key signed by the CA (CN [`certs::CLIENT_CN`]).
    pub fn client_cert(&self) -> &CertKey {
        &self.pki.client
    }

    /// Path of the client certificate PEM.
    pub fn client_cert_path(&self) -> PathBuf {
        self.file(files::CLIENT_CERT)
    }

    /// Path of the client key PEM.
    pub fn client_key_path(&self) -> PathBuf {
        self.file(files::CLIENT_KEY)
    }

    /// Untrusted second CA PEM.
    pub fn other_ca_pem(&self) -> &str {
        self.pki.other_ca.cert_pem()
    }

    /// Path of the untrusted second CA PEM.
    pub fn other_ca_path(&self) -> PathBuf {
        self.file(files::OTHER_CA)
    }

    /// Client certificate + key signed by the untrusted CA.
    pub fn other_client_cert(&self) -> &CertKey {
        &self.pki.other_client
    }

    /// Path of the untrusted client certificate PEM.
    pub fn other_client_cert_path(&self) -> PathBuf {
        self.file(files::OTHER_CLIENT_CERT)
    }

    /// Path of the untrusted client key PEM.
    pub fn other_client_key_path(&self) -> PathBuf {
        self.file(files::OTHER_CLIENT_KEY)
    }

    /// Users of the auth listener.
    pub fn users(&self) -> &[(String, String)] {
        &self.options.users
    }

    /// A `mosquitto_pub` / `mosquitto_sub` command aimed at a listener:
    /// `-h 127.0.0.1 -p PORT`, plus `--cafile` for TLS and `--cert/--key`
    /// for mutual TLS. Add credentials (`-u/-P`) yourself for `Auth`.
    pub fn client_command(&self, tool: &str, listener: Listener) -> Command {
        let mut cmd = Command::new(client_tool(tool));
        cmd.arg("-h")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(self.port(listener).to_string());
        if listener.is_tls() {
            cmd.arg("--cafile").arg(self.ca_path());
        }
        if listener == Listener::MutualTls {
            cmd.arg("--cert")
                .arg(self.client_cert_path())
                .arg("--key")
                .arg(self.client_key_path());
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn write(&self, name: &str, contents: &str) {
        let path = self.file(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    fn write_files(&self, listeners: &[Listener]) {
        self.write(files::CA, self.pki.ca.cert_pem());
        self.write(files::SERVER_CERT, &self.server_cert.cert_pem);
        self.write(files::SERVER_KEY, &self.server_cert.key_pem);
        self.write(files::CLIENT_CERT, &self.pki.client.cert_pem);
        self.write(files::CLIENT_KEY, &self.pki.client.key_pem);
        self.write(files::OTHER_CA, self.pki.other_ca.cert_pem());
        self.write(files::OTHER_CLIENT_CERT, &self.pki.other_client.cert_pem);
        self.write(files::OTHER_CLIENT_KEY, &self.pki.other_client.key_pem);
        if self.options.persistence {
            fs::create_dir_all(self.file(files::PERSISTENCE)).expect("create persistence dir");
        }
        if listeners.contains(&Listener::Auth) {
            self.write_passwd();
            let mut acl = self.options.acl.join("\n");
            acl.push('\n');
            self.write(files::ACL, &acl);
        }
    }

    fn write_passwd(&self) {
        let passwd = self.file(files::PASSWD);
        self.write(files::PASSWD, "");
        if self.options.users.is_empty() {
            return;
        }
        let tool = client_tool("mosquitto_passwd");
        for (user, pass) in &self.options.users {
            let out = Command::new(&tool)
                .arg("-b")
                .arg(&passwd)
                .arg(user)
                .arg(pass)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("run {}: {e}", tool.display()));
            assert!(
                out.status.success(),
                "mosquitto_passwd -b {} {user} failed: {}{}",
                passwd.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn write_config(&self) {
        let path = |name: &str| self.file(name).display().to_string();
        let mut c = vec![
            "user root".to_string(),
            "per_listener_settings true".to_string(),
            "log_dest stderr".to_string(),
            "log_type all".to_string(),
            "log_timestamp true".to_string(),
            "connection_messages true".to_string(),
        ];
        if self.options.persistence {
            c.push("persistence true".to_string());
            c.push(format!(
                "persistence_location {}/",
                path(files::PERSISTENCE)
            ));
            c.push("persistence_file mosquitto.db".to_string());
        } else {
            c.push("persistence false".to_string());
        }
        c.extend(self.options.global_config.iter().cloned());
        for (listener, port) in &self.ports {
            c.push(String::new());
            c.push(format!("listener {port} 127.0.0.1"));
            match listener {
                Listener::Plain => c.push("allow_anonymous true".to_string()),
                Listener::Tls | Listener::MutualTls => {
                    if *listener == Listener::Tls {
                        c.push("allow_anonymous true".to_string());
                    }
                    c.push(format!("cafile {}", path(files::CA)));
                    c.push(format!("certfile {}", path(files::SERVER_CERT)));
                    c.push(format!("keyfile {}", path(files::SERVER_KEY)));
                    if *listener == Listener::MutualTls {
                        c.push("require_certificate true".to_string());
                        c.push("use_identity_as_username true".to_string());
                    }
                }
                Listener::Auth => {
                    c.push("allow_anonymous false".to_string());
                    c.push(format!("password_file {}", path(files::PASSWD)));
                    c.push(format!("acl_file {}", path(files::ACL)));
                }
            }
            c.extend(self.options.listener_config.iter().cloned());
        }
        let mut text = c.join("\n");
        text.push('\n');
        self.write(files::CONFIG, &text);
    }

    /// Start the process and wait for readiness (log line + TCP connect on
    /// every port) within [`READY_TIMEOUT`].
    fn spawn_ready(&mut self) -> Result<Running, StartError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let log_path = self.log_path();
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", log_path.display()));
        let _ = writeln!(
            log,
            "==== tern harness: starting {} -c {} (ports {:?})",
            self.exe.display(),
            self.config_path().display(),
            self.ports
        );
        let mut child = Command::new(&self.exe)
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.exe.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, events) = mpsc::channel();
        let watch = Arc::new(AtomicBool::new(true));
        let watching = Arc::clone(&watch);
        let log_lines = Arc::clone(&self.log_lines);
        let reader = thread::Builder::new()
            .name("mosquitto-log".to_string())
            .spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let _ = log.write_all(&line);
                    Self::bump(&log_lines);
                    let text = String::from_utf8_lossy(&line);
                    if text.contains("mosquitto version") && text.contains("running") {
                        let _ = tx.send(Event::Ready);
                    } else if text.contains("New connection from")
                        && watching.load(Ordering::Relaxed)
                    {
                        let _ = tx.send(Event::Accepted(text.into_owned()));
                    }
                }
                Self::bump(&log_lines);
                let _ = tx.send(Event::Exited);
            })
            .expect("spawn log reader thread");
        let mut running = Running {
            child,
            events,
            reader: Some(reader),
        };

        // 1. The "running" line: every listener is bound by then.
        loop {
            let wait = running
                .events
                .recv_timeout(deadline.saturating_duration_since(Instant::now()));
            match wait {
                Ok(Event::Ready) => break,
                Ok(Event::Accepted(_)) => {}
                Ok(Event::Exited) | Err(RecvTimeoutError::Disconnected) => {
                    let status = running.child.wait();
                    if let Some(r) = running.reader.take() {
                        let _ = r.join();
                    }
                    let log = self.log();
                    let msg = format!(
                        "mosquitto exited during start ({status:?}); config {}:\n{}\n--- log:\n{log}",
                        self.config_path().display(),
                        fs::read_to_string(self.config_path()).unwrap_or_default()
                    );
                    return Err(if log.contains("Address already in use") {
                        StartError::AddrInUse(msg)
                    } else {
                        StartError::Fatal(msg)
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    Self::shutdown(running, false);
                    return Err(StartError::Fatal(format!(
                        "mosquitto did not log \"running\" within {READY_TIMEOUT:?}; log:\n{}",
                        self.log()
                    )));
                }
            }
        }

        // 2. Every port accepts a TCP connection, and the broker logs the
        // accept of the first probe. That line comes from the main loop, so
        // mosquitto has left its startup code: mosquitto 2.0 sets its `run`
        // flag *after* logging "running", so a SIGTERM that arrives before
        // the main loop starts would be lost.
        let mut confirmed = false;
        for (listener, port) in &self.ports {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, *port));
            let probe = loop {
                match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                    Ok(stream) => break stream,
                    Err(e) if Instant::now() >= deadline => {
                        Self::shutdown(running, false);
                        return Err(StartError::Fatal(format!(
                            "{listener:?} listener {addr} not accepting within {READY_TIMEOUT:?}: \
                             {e}; log:\n{}",
                            self.log()
                        )));
                    }
                    // Readiness poll interval (should not happen: the
                    // socket is bound before "running" is logged).
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            };
            if confirmed {
                continue;
            }
            let local = probe.local_addr().map(|a| a.port()).unwrap_or(0);
            let needle = format!("New connection from 127.0.0.1:{local} on port {port}");
            loop {
                let wait = running
                    .events
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()));
                match wait {
                    Ok(Event::Accepted(line)) if line.contains(&needle) => break,
                    Ok(Event::Accepted(_)) | Ok(Event::Ready) => {}
                    Ok(Event::Exited) | Err(_) => {
                        Self::shutdown(running, false);
                        return Err(StartError::Fatal(format!(
                            "mosquitto did not log \"{needle}\" within {READY_TIMEOUT:?} \
                             (is `log_type all` overridden?); log:\n{}",
                            self.log()
                        )));
                    }
                }
            }
            confirmed = true;
        }
        // Stop reporting accepts (the few already queued are skipped by
        // `shutdown`).
        watch.store(false, Ordering::Relaxed);
        self.starts += 1;
        Ok(running)
    }

    /// SIGTERM via the `kill` command (std has no signal API; no libc).
    fn sigterm(pid: u32) -> bool {
        Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn shutdown(mut running: Running, graceful: bool) {
        if let Ok(None) = running.child.try_wait() {
            let termed = graceful && Self::sigterm(running.child.id());
            if !termed {
                let _ = running.child.kill();
            }
            // The log reader reports EOF once the process is gone. SIGTERM
            // is repeated every RESEND while waiting, in case one was lost
            // (see the startup race in `spawn_ready`).
            const RESEND: Duration = Duration::from_millis(250);
            let deadline = Instant::now() + STOP_TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match running.events.recv_timeout(left.min(RESEND)) {
                    Ok(Event::Ready) | Ok(Event::Accepted(_)) => continue,
                    Ok(Event::Exited) | Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) if left > RESEND && termed => {
                        let _ = Self::sigterm(running.child.id());
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        let _ = running.child.kill();
                        break;
                    }
                }
            }
        }
        let _ = running.child.wait();
        if let Some(r) = running.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Without persistence there is nothing to save: SIGKILL is ~100 ms
        // faster than a clean stop (mosquitto's loop wakes every 100 ms).
        if self.options.persistence {
            self.stop();
        } else {
            self.crash();
        }
        if thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(200)..];
            eprintln!(
                "---- mosquitto log ({}; last {} lines) ----\n{}\n---- end of mosquitto log ----",
                self.log_path().display(),
                tail.len(),
                tail.join("\n")
            );
        }
    }
}

fn read_log(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A clonable, `'static` view of a [`Broker`]'s log (see
/// [`Broker::log_watch`]).
#[derive(Clone)]
pub struct LogWatch {
    path: PathBuf,
    lines: Arc<(Mutex<u64>, Condvar)>,
}

impl LogWatch {
    /// The broker log so far.
    pub fn log(&self) -> String {
        read_log(&self.path)
    }

    /// Wait until `done(log)` holds (true) or `timeout` passes (false),
    /// blocking the thread; woken by every line the broker logs.
    pub fn wait(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let (count, changed) = &*self.lines;
        loop {
            let seen = *count.lock().unwrap_or_else(|e| e.into_inner());
            if done(&self.log()) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let guard = count.lock().unwrap_or_else(|e| e.into_inner());
            let _ = changed.wait_timeout_while(guard, left, |n| *n == seen);
        }
    }

    /// [`wait`](Self::wait) on tokio's blocking pool, so the test's runtime
    /// (and the client's driver on it) keeps running meanwhile. Real time:
    /// for tests against mosquitto, not on a paused clock.
    pub fn until(
        &self,
        timeout: Duration,
        done: impl Fn(&str) -> bool + Send + 'static,
    ) -> impl std::future::Future<Output = bool> + Send + 'static {
        let watch = self.clone();
        async move {
            tokio::task::spawn_blocking(move || watch.wait(timeout, done))
                .await
                .expect("the log wait does not panic")
        }
    }
}

/// The messages of a mosquitto log, without their `<timestamp>: ` prefix.
fn messages(log: &str) -> impl Iterator<Item = &str> {
    log.lines()
        .map(|line| line.split_once(": ").map_or(line, |(_, msg)| msg))
}

/// How many lines of `log` contain `pattern`.
pub fn count_in(log: &str, pattern: &str) -> usize {
    log.lines().filter(|l| l.contains(pattern)).count()
}

/// Whether `msg` is mosquitto's line for an accepted CONNECT from
/// `client_id` ("New client connected from <addr> as <id> (p2, c1, k60).").
fn is_connection_of(msg: &str, client_id: &str) -> bool {
    msg.starts_with("New client connected from ") && msg.contains(&format!(" as {client_id} ("))
}

/// How many connections from `client_id` `log` records.
pub fn connections_in(log: &str, client_id: &str) -> usize {
    messages(log)
        .filter(|m| is_connection_of(m, client_id))
        .count()
}

/// How many DISCONNECT packets from `client_id` `log` records.
pub fn disconnects_in(log: &str, client_id: &str) -> usize {
    let line = format!("Received DISCONNECT from {client_id}");
    messages(log).filter(|m| *m == line).count()
}

/// How many connections from `client_id` in `log` declared a Will Message
/// (mosquitto logs "Will message specified" right after the connection).
pub fn wills_in(log: &str, client_id: &str) -> usize {
    let msgs: Vec<&str> = messages(log).collect();
    msgs.windows(2)
        .filter(|w| is_connection_of(w[0], client_id) && w[1].starts_with("Will message specified"))
        .count()
}

/// Installs mosquitto (Debian package, as root) when it is missing, for
/// the examples.
pub fn ensure_installed() -> Result<(), String> {
    let found = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
        .iter()
        .any(|p| std::path::Path::new(p).exists())
        || Command::new("sh")
            .args(["-c", "command -v mosquitto"])
            .output()
            .is_ok_and(|o| o.status.success());
    if found {
        return Ok(());
    }
    println!("mosquitto is missing; installing it with apt-get (Debian package)");
    let status = Command::new("sh")
        .args(["-c", "DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients"])
        .status()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("apt-get install mosquitto failed (are you root?)".to_owned())
    }
}
