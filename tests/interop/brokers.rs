//! The brokers under test, each started on free loopback ports with a
//! config the test writes, and killed by its PID when dropped.

use crate::mosquitto::{self, BrokerOptions, Listener};
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tern_mqtt::codec::ProtocolVersion;

/// Both protocol versions, 3.1.1 first.
pub const BOTH: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];
const V311_ONLY: &[ProtocolVersion] = &[ProtocolVersion::V311];

/// The one user every broker's auth listener accepts.
pub const USER: (&str, &str) = ("user1", "pass1");

/// Deadline for a broker process to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Starts with fresh ports when a port was taken between pick and bind.
const START_ATTEMPTS: u32 = 3;

/// A running broker the scenario suite can talk to.
pub trait BrokerUnderTest: Send + Sync {
    /// Short key: `mosquitto`, `amqtt`, `aedes`, `rumqttd`.
    fn key(&self) -> &'static str;
    /// Name with version, for the matrix.
    fn name(&self) -> String;
    /// The protocol versions it speaks.
    fn versions(&self) -> &'static [ProtocolVersion];
    /// The plain (anonymous) listener a client of `version` would use,
    /// whether or not the broker speaks it.
    fn addr(&self, version: ProtocolVersion) -> SocketAddr;
    /// A listener that accepts only [`USER`], if the broker has one.
    fn auth_addr(&self, version: ProtocolVersion) -> Option<SocketAddr>;
    /// The client URL for `version`, when the broker speaks it.
    fn url(&self, version: ProtocolVersion) -> Option<String> {
        self.speaks(version)
            .then(|| format!("mqtt://{}", self.addr(version)))
    }
    /// Whether it speaks `version`.
    fn speaks(&self, version: ProtocolVersion) -> bool {
        self.versions().contains(&version)
    }
}

/// Free loopback ports, released just before the broker binds them.
fn free_ports(n: usize) -> Vec<u16> {
    let holders: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0"))
        .collect();
    holders
        .iter()
        .map(|h| h.local_addr().expect("local_addr").port())
        .collect()
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// A broker process, killed (by PID) and reaped on drop.
pub struct Process {
    child: Child,
    what: String,
    log: PathBuf,
}

impl Process {
    /// Spawns `cmd` (stdout and stderr to `log`) and waits until every
    /// port accepts a TCP connection; fails if it exits first or does not
    /// get there within [`READY_TIMEOUT`].
    fn spawn_ready(
        what: &str,
        mut cmd: Command,
        ports: &[u16],
        log: &Path,
    ) -> Result<Process, String> {
        let out = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd.spawn().map_err(|e| format!("spawn {what}: {e}"))?;
        let mut p = Process {
            child,
            what: what.to_string(),
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        for port in ports {
            loop {
                if let Ok(Some(status)) = p.child.try_wait() {
                    return Err(format!(
                        "{what} exited ({status}) before listening:\n{}",
                        p.log_text()
                    ));
                }
                if TcpStream::connect_timeout(&loopback(*port), Duration::from_millis(200)).is_ok()
                {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "{what} not listening on {port} within {READY_TIMEOUT:?}:\n{}",
                        p.log_text()
                    ));
                }
                // Poll pace while the process starts (Python takes ~1 s):
                // the wait itself is bounded by the deadline.
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        Ok(p)
    }

    /// The process's output so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- {} output ----\n{}", self.what, self.log_text());
        }
    }
}

/// Starts with fresh ports until the process listens (another process may
/// take a picked port first).
fn start_with_ports(
    what: &str,
    n: usize,
    mut setup: impl FnMut(&[u16]) -> (Command, PathBuf),
) -> (Process, Vec<u16>) {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        let ports = free_ports(n);
        let (cmd, log) = setup(&ports);
        match Process::spawn_ready(what, cmd, &ports, &log) {
            Ok(p) => return (p, ports),
            Err(e) => failures.push(e),
        }
    }
    panic!("{what} did not start:\n{}", failures.join("\n---\n"));
}

/// Where the interop installs live: `target/interop/` (see
/// `scripts/interop-install.sh`).
pub fn install_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(target)
    };
    target.join("interop")
}

const INSTALL_HINT: &str =
    "run scripts/interop-install.sh (.ci/test does) to install amqtt and aedes under target/interop/";

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
}

// ----- mosquitto -----

/// mosquitto (Debian), through the shared harness: a plain listener and
/// an auth listener (user1/pass1), both versions on each.
pub struct Mosquitto {
    /// The harness broker (a Mutex only to make it `Sync`).
    _broker: std::sync::Mutex<mosquitto::Broker>,
    plain: SocketAddr,
    auth: SocketAddr,
    version: String,
}

impl Mosquitto {
    /// Starts it.
    pub fn start() -> Mosquitto {
        let broker =
            mosquitto::Broker::start(BrokerOptions::listeners(&[Listener::Plain, Listener::Auth]));
        let out = Command::new(mosquitto::mosquitto_exe())
            .arg("-h")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let version = out
            .lines()
            .find_map(|l| l.strip_prefix("mosquitto version "))
            .unwrap_or("?")
            .trim()
            .to_string();
        Mosquitto {
            plain: broker.addr(Listener::Plain),
            auth: broker.addr(Listener::Auth),
            _broker: std::sync::Mutex::new(broker),
            version,
        }
    }
}

impl BrokerUnderTest for Mosquitto {
    fn key(&self) -> &'static str {
        "mosquitto"
    }
    fn name(&self) -> String {
        format!("mosquitto {}", self.version)
    }
    fn versions(&self) -> &'static [ProtocolVersion] {
        &BOTH
    }
    fn addr(&self, _: ProtocolVersion) -> SocketAddr {
        self.plain
    }
    fn auth_addr(&self, _: ProtocolVersion) -> Option<SocketAddr> {
        Some(self.auth)
    }
}

// ----- amqtt -----

/// amqtt (PyPI, 3.1.1): two processes, one anonymous
/// (`allow_anonymous: true`) and one that accepts only user1/pass1 from a
/// password file (argon2 hash made with the venv's pwdlib).
pub struct Amqtt {
    _dir: tempfile::TempDir,
    plain: (Process, u16),
    auth: (Process, u16),
    version: String,
}

/// The amqtt executable: `$TERN_AMQTT`, `target/interop/amqtt-venv`, PATH.
pub fn amqtt_exe() -> PathBuf {
    std::env::var_os("TERN_AMQTT")
        .map(PathBuf::from)
        .or_else(|| Some(install_root().join("amqtt-venv/bin/amqtt")).filter(|p| p.is_file()))
        .or_else(|| on_path("amqtt"))
        .unwrap_or_else(|| panic!("amqtt not found: {INSTALL_HINT}"))
}

impl Amqtt {
    /// Starts both processes.
    pub fn start() -> Amqtt {
        let exe = amqtt_exe();
        let python = exe.with_file_name("python");
        let dir = tempdir("tern-amqtt-");
        let hash = Command::new(&python)
            .args([
                "-c",
                "import sys; from pwdlib import PasswordHash; \
                 from pwdlib.hashers.argon2 import Argon2Hasher; \
                 print(PasswordHash((Argon2Hasher(),)).hash(sys.argv[1]))",
                USER.1,
            ])
            .output()
            .expect("run the amqtt venv's python");
        assert!(hash.status.success(), "hash a password: {hash:?}");
        let passwd = dir.path().join("passwd");
        fs::write(
            &passwd,
            format!(
                "{}:{}",
                USER.0,
                String::from_utf8_lossy(&hash.stdout).trim()
            ),
        )
        .unwrap();
        let start = |name: &str, plugins: String| {
            let (p, ports) = start_with_ports(&format!("amqtt ({name})"), 1, |ports| {
                let conf = dir.path().join(format!("{name}.yaml"));
                fs::write(
                    &conf,
                    format!(
                        "listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{}\n\
                         plugins:\n{plugins}",
                        ports[0]
                    ),
                )
                .unwrap();
                let mut cmd = Command::new(&exe);
                cmd.arg("-c").arg(&conf);
                (cmd, dir.path().join(format!("{name}.log")))
            });
            (p, ports[0])
        };
        let plain = start(
            "plain",
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
                .into(),
        );
        let auth = start(
            "auth",
            format!(
                "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: false\n\
                 \x20 amqtt.plugins.authentication.FileAuthPlugin:\n    password_file: {}\n",
                passwd.display()
            ),
        );
        let version = Command::new(&python)
            .args([
                "-c",
                "import importlib.metadata as m; print(m.version('amqtt'))",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Amqtt {
            _dir: dir,
            plain,
            auth,
            version,
        }
    }
}

impl BrokerUnderTest for Amqtt {
    fn key(&self) -> &'static str {
        "amqtt"
    }
    fn name(&self) -> String {
        format!("amqtt {}", self.version)
    }
    fn versions(&self) -> &'static [ProtocolVersion] {
        V311_ONLY
    }
    fn addr(&self, _: ProtocolVersion) -> SocketAddr {
        loopback(self.plain.1)
    }
    fn auth_addr(&self, _: ProtocolVersion) -> Option<SocketAddr> {
        Some(loopback(self.auth.1))
    }
}

// ----- aedes -----

/// aedes (npm, 3.1.1) from a small ES module the test writes: one
/// anonymous listener and one that accepts only user1/pass1 (return code 4
/// otherwise).
pub struct Aedes {
    _dir: tempfile::TempDir,
    _process: Process,
    ports: Vec<u16>,
    version: String,
}

/// The folder holding `node_modules/aedes`: `$TERN_AEDES_DIR` or
/// `target/interop/aedes`.
pub fn aedes_dir() -> PathBuf {
    let dir = std::env::var_os("TERN_AEDES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| install_root().join("aedes"));
    assert!(
        dir.join("node_modules/aedes/package.json").is_file(),
        "aedes not found in {}: {INSTALL_HINT}",
        dir.display()
    );
    dir
}

const AEDES_SCRIPT: &str = r#"import net from 'node:net'
import { Aedes } from 'aedes'
const [plainPort, authPort] = process.argv.slice(2).map(Number)
const open = await Aedes.createBroker()
net.createServer(open.handle).listen(plainPort, '127.0.0.1')
const closed = await Aedes.createBroker({
  authenticate: (client, user, pass, done) => {
    if (user === 'USER' && pass && pass.toString() === 'PASS') return done(null, true)
    const err = new Error('bad user name or password')
    err.returnCode = 4
    done(err, null)
  }
})
net.createServer(closed.handle).listen(authPort, '127.0.0.1')
"#;

impl Aedes {
    /// Starts it.
    pub fn start() -> Aedes {
        let home = aedes_dir();
        let node = on_path("node").expect("node on PATH (aedes runs on Node.js)");
        let dir = tempdir("tern-aedes-");
        // Node resolves `aedes` from the script's folder upwards: the
        // script lives next to node_modules.
        let script = home.join(format!(
            "broker-{}.mjs",
            dir.path().file_name().unwrap().to_string_lossy()
        ));
        fs::write(
            &script,
            AEDES_SCRIPT.replace("USER", USER.0).replace("PASS", USER.1),
        )
        .unwrap();
        let (process, ports) = start_with_ports("aedes", 2, |ports| {
            let mut cmd = Command::new(&node);
            cmd.arg(&script)
                .arg(ports[0].to_string())
                .arg(ports[1].to_string());
            (cmd, dir.path().join("aedes.log"))
        });
        let _ = fs::remove_file(&script);
        let pkg = fs::read_to_string(home.join("node_modules/aedes/package.json")).unwrap();
        let version = pkg
            .split("\"version\"")
            .nth(1)
            .and_then(|s| s.split('"').nth(1))
            .unwrap_or("?")
            .to_string();
        Aedes {
            _dir: dir,
            _process: process,
            ports,
            version,
        }
    }
}

impl BrokerUnderTest for Aedes {
    fn key(&self) -> &'static str {
        "aedes"
    }
    fn name(&self) -> String {
        format!("aedes {}", self.version)
    }
    fn versions(&self) -> &'static [ProtocolVersion] {
        V311_ONLY
    }
    fn addr(&self, _: ProtocolVersion) -> SocketAddr {
        loopback(self.ports[0])
    }
    fn auth_addr(&self, _: ProtocolVersion) -> Option<SocketAddr> {
        Some(loopback(self.ports[1]))
    }
}

// ----- rumqttd -----

/// rumqttd (`cargo install rumqttd`), only when `TERN_INTEROP_RUMQTTD` is
/// set (scripts/interop-all.sh): 3.1.1 and 5.0 on separate listeners,
/// each with an anonymous and an auth (user1/pass1) variant.
pub struct Rumqttd {
    _dir: tempfile::TempDir,
    _process: Process,
    ports: Vec<u16>,
    version: String,
}

/// The rumqttd binary when the suite should use it.
pub fn rumqttd_exe() -> Option<PathBuf> {
    std::env::var_os("TERN_INTEROP_RUMQTTD")?;
    let found = std::env::var_os("TERN_RUMQTTD")
        .map(PathBuf::from)
        .or_else(|| Some(install_root().join("cargo/bin/rumqttd")).filter(|p| p.is_file()))
        .or_else(|| on_path("rumqttd"));
    Some(found.unwrap_or_else(|| {
        panic!("TERN_INTEROP_RUMQTTD is set but rumqttd is not found: run scripts/interop-all.sh")
    }))
}

fn rumqttd_listener(section: &str, port: u16, auth: bool) -> String {
    let auth = if auth {
        format!(
            "\n[{section}.connections.auth]\n{} = \"{}\"\n",
            USER.0, USER.1
        )
    } else {
        String::new()
    };
    format!(
        "[{section}]\nname = \"{section}\"\nlisten = \"127.0.0.1:{port}\"\n\
         next_connection_delay_ms = 1\n\
         [{section}.connections]\nconnection_timeout_ms = 60000\nmax_payload_size = 1048576\n\
         max_inflight_count = 100\ndynamic_filters = true\n{auth}\n"
    )
}

impl Rumqttd {
    /// Starts it.
    pub fn start(exe: PathBuf) -> Rumqttd {
        let dir = tempdir("tern-rumqttd-");
        let (process, ports) = start_with_ports("rumqttd", 4, |ports| {
            let conf = dir.path().join("rumqttd.toml");
            let text = format!(
                "id = 0\n\n[router]\nid = 0\nmax_connections = 1000\n\
                 max_outgoing_packet_count = 200\nmax_segment_size = 104857600\n\
                 max_segment_count = 10\n\n{}{}{}{}",
                rumqttd_listener("v4.1", ports[0], false),
                rumqttd_listener("v4.2", ports[1], true),
                rumqttd_listener("v5.1", ports[2], false),
                rumqttd_listener("v5.2", ports[3], true),
            );
            fs::write(&conf, text).unwrap();
            let mut cmd = Command::new(&exe);
            cmd.arg("--config").arg(&conf);
            (cmd, dir.path().join("rumqttd.log"))
        });
        let version = Command::new(&exe)
            .arg("--version")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .trim_start_matches("rumqttd")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        Rumqttd {
            _dir: dir,
            _process: process,
            ports,
            version,
        }
    }
}

impl BrokerUnderTest for Rumqttd {
    fn key(&self) -> &'static str {
        "rumqttd"
    }
    fn name(&self) -> String {
        format!("rumqttd {}", self.version)
    }
    fn versions(&self) -> &'static [ProtocolVersion] {
        &BOTH
    }
    fn addr(&self, v: ProtocolVersion) -> SocketAddr {
        loopback(match v {
            ProtocolVersion::V5 => self.ports[2],
            _ => self.ports[0],
        })
    }
    fn auth_addr(&self, v: ProtocolVersion) -> Option<SocketAddr> {
        Some(loopback(match v {
            ProtocolVersion::V5 => self.ports[3],
            _ => self.ports[1],
        }))
    }
}
