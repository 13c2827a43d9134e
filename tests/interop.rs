//! Interop matrix: one scenario suite (tests/interop/scenarios.rs) run by
//! tern against every broker this machine can run, at both protocol
//! versions, with a known-quirks table (tests/interop/quirks.rs) whose
//! every entry is proven without tern's client.
//!
//! Brokers: mosquitto (Debian), amqtt (PyPI) and aedes (npm), installed
//! under target/interop/ by scripts/interop-install.sh (.ci/test runs it);
//! rumqttd only with `TERN_INTEROP_RUMQTTD` set (scripts/interop-all.sh).
//! Each is started on free loopback ports with a config written here and
//! killed by its PID when dropped.
//!
//! `interop_matrix` writes target/interop-matrix.md (scenario x broker and
//! version: PASS / QUIRK name / N/A / FAIL) and fails on any FAIL.

#[path = "support/mosquitto.rs"]
mod mosquitto;

#[path = "interop/brokers.rs"]
mod brokers;
#[path = "interop/quirks.rs"]
mod quirks;
#[path = "interop/raw.rs"]
mod raw;
#[path = "interop/scenarios.rs"]
mod scenarios;

use brokers::{Aedes, Amqtt, BrokerUnderTest, Mosquitto, Rumqttd, BOTH};
use scenarios::Ctx;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tern_mqtt::codec::ProtocolVersion;

/// Bound on one scenario (each of its own waits is bounded too).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);

/// One cell of the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Pass,
    Quirk(&'static str),
    NotApplicable(&'static str),
    Fail(String),
}

impl Outcome {
    fn cell(&self) -> String {
        match self {
            Outcome::Pass => "PASS".into(),
            Outcome::Quirk(name) => format!("QUIRK `{name}`"),
            Outcome::NotApplicable(_) => "N/A".into(),
            Outcome::Fail(_) => "**FAIL**".into(),
        }
    }
}

fn version_name(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::V5 => "5.0",
        _ => "3.1.1",
    }
}

/// Runs one scenario and judges a failure against the quirks table.
async fn judge(
    broker: &Arc<dyn BrokerUnderTest>,
    v: ProtocolVersion,
    s: &scenarios::Scenario,
) -> Outcome {
    if let Ok(only) = std::env::var("TERN_INTEROP_ONLY") {
        if !s.name.contains(only.as_str()) {
            return Outcome::NotApplicable("filtered out by TERN_INTEROP_ONLY");
        }
    }
    if s.v5_only && v != ProtocolVersion::V5 {
        return Outcome::NotApplicable("a v5 feature");
    }
    // On a version the broker does not speak only the connect scenario
    // runs: it shows how the broker answers.
    if !broker.speaks(v) && s.name != "connect" {
        return Outcome::NotApplicable("version not spoken");
    }
    let ctx = Ctx {
        broker: Arc::clone(broker),
        v,
    };
    let verdict = match tokio::time::timeout(SCENARIO_TIMEOUT, (s.run)(&ctx)).await {
        Ok(v) => v,
        Err(_) => Err(format!("not done within {SCENARIO_TIMEOUT:?}")),
    };
    let Err(failure) = verdict else {
        return Outcome::Pass;
    };
    match quirks::covering(broker.key(), v, s.name) {
        Some(q) => match (q.proof)(broker.as_ref()).await {
            Ok(()) => Outcome::Quirk(q.name),
            Err(why) => Outcome::Fail(format!(
                "{failure}; quirk `{}` does not explain it: its proof failed: {why}",
                q.name
            )),
        },
        None => Outcome::Fail(failure),
    }
}

/// (scenario, version, outcome) for one broker.
type Cells = Vec<(&'static str, ProtocolVersion, Outcome)>;

/// Every outcome for one broker.
async fn run_broker(broker: Arc<dyn BrokerUnderTest>) -> Cells {
    let mut out = Vec::new();
    for v in BOTH {
        for s in scenarios::all() {
            let outcome = judge(&broker, v, &s).await;
            eprintln!(
                "interop: {} {} {}: {outcome:?}",
                broker.name(),
                version_name(v),
                s.name
            );
            out.push((s.name, v, outcome));
        }
    }
    out
}

fn start_brokers() -> Vec<Arc<dyn BrokerUnderTest>> {
    let mut brokers: Vec<Arc<dyn BrokerUnderTest>> = vec![
        Arc::new(Mosquitto::start()),
        Arc::new(Amqtt::start()),
        Arc::new(Aedes::start()),
    ];
    if let Some(exe) = brokers::rumqttd_exe() {
        brokers.push(Arc::new(Rumqttd::start(exe)));
    }
    brokers
}

/// The markdown matrix, then the failures in full.
fn markdown(results: &[(String, Cells)]) -> String {
    let mut md = String::from("| scenario |");
    let mut rule = String::from("|---|");
    for (name, _) in results {
        for v in BOTH {
            let _ = write!(md, " {name} {} |", version_name(v));
            rule.push_str("---|");
        }
    }
    md.push('\n');
    md.push_str(&rule);
    md.push('\n');
    for s in scenarios::all() {
        let _ = write!(md, "| {} |", s.name);
        for (_, outcomes) in results {
            for v in BOTH {
                let cell = outcomes
                    .iter()
                    .find(|(n, ov, _)| *n == s.name && *ov == v)
                    .map(|(_, _, o)| o.cell())
                    .unwrap_or_default();
                let _ = write!(md, " {cell} |");
            }
        }
        md.push('\n');
    }
    let fails: Vec<String> = results
        .iter()
        .flat_map(|(name, outcomes)| {
            outcomes.iter().filter_map(move |(s, v, o)| match o {
                Outcome::Fail(why) => Some(format!("- {name} {} {s}: {why}", version_name(*v))),
                _ => None,
            })
        })
        .collect();
    md.push_str("\nKnown quirks (tests/interop/quirks.rs):\n\n");
    md.push_str(&quirks_table());
    if !fails.is_empty() {
        md.push_str("\nFailures:\n\n");
        md.push_str(&fails.join("\n"));
        md.push('\n');
    }
    md
}

/// One line per quirk: what, its proof test, what the client does.
fn quirks_table() -> String {
    let mut md = String::from(
        "| quirk | brokers | version | what the broker does | proof test | what tern does |\n\
         |---|---|---|---|---|---|\n",
    );
    for q in quirks::QUIRKS {
        let versions: Vec<&str> = q.versions.iter().map(|v| version_name(*v)).collect();
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | `{}` | {} |",
            q.name,
            q.brokers.join(", "),
            versions.join(", "),
            q.what,
            q.proof_test,
            q.client_does
        );
    }
    md
}

/// The suite against every broker; writes target/interop-matrix.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interop_matrix() {
    let brokers = tokio::task::spawn_blocking(start_brokers).await.unwrap();
    // Brokers in parallel, each one's scenarios in sequence.
    let runs: Vec<_> = brokers
        .iter()
        .map(|b| {
            let b = Arc::clone(b);
            tokio::spawn(async move { (b.name(), run_broker(b).await) })
        })
        .collect();
    let mut results = Vec::new();
    for r in runs {
        results.push(r.await.expect("a broker's run does not panic"));
    }
    let md = markdown(&results);
    let path = brokers::install_root().with_file_name("interop-matrix.md");
    std::fs::write(&path, &md).expect("write the matrix");
    eprintln!("{md}\n(written to {})", path.display());
    assert!(
        !results
            .iter()
            .any(|(_, o)| o.iter().any(|(_, _, o)| matches!(o, Outcome::Fail(_)))),
        "the interop matrix has failures:\n{md}"
    );
    // Every cell was judged.
    let cells: usize = results.iter().map(|(_, o)| o.len()).sum();
    assert_eq!(cells, brokers.len() * 2 * scenarios::all().len());
}

// ----- quirk proofs, each on its own broker, without tern's client -----

async fn prove(broker: Arc<dyn BrokerUnderTest>, quirk: &str) {
    let q = quirks::named(quirk);
    assert!(
        q.brokers.contains(&broker.key()),
        "{quirk} is not listed for {}",
        broker.key()
    );
    if let Err(why) = (q.proof)(broker.as_ref()).await {
        panic!("{quirk} on {}: not shown: {why}", broker.name());
    }
}

/// A fresh broker by key; rumqttd only when enabled
/// (`TERN_INTEROP_RUMQTTD`), else None.
fn broker_named(key: &str) -> Option<Arc<dyn BrokerUnderTest>> {
    Some(match key {
        "mosquitto" => Arc::new(Mosquitto::start()),
        "amqtt" => Arc::new(Amqtt::start()),
        "aedes" => Arc::new(Aedes::start()),
        "rumqttd" => Arc::new(Rumqttd::start(brokers::rumqttd_exe()?)),
        other => panic!("no broker {other}"),
    })
}

/// One test per (broker, quirk): the quirk's proof against a fresh broker.
macro_rules! quirk_tests {
    ($($test:ident: $broker:ident, $quirk:literal;)*) => {$(
        #[tokio::test]
        async fn $test() {
            match broker_named(stringify!($broker)) {
                Some(b) => prove(b, $quirk).await,
                None => eprintln!("{} not enabled: skipped", stringify!($broker)),
            }
        }
    )*};
}

quirk_tests! {
    quirk_amqtt_anonymous_session_not_queued: amqtt, "anonymous-session-not-queued";
    quirk_aedes_share_not_delivered: aedes, "share-accepted-not-delivered";
    quirk_amqtt_share_not_delivered: amqtt, "share-accepted-not-delivered";
    quirk_aedes_v5_connect_refused_rc1: aedes, "v5-connect-refused-rc1";
    quirk_amqtt_v5_connect_refused_rc1: amqtt, "v5-connect-refused-rc1";
    quirk_amqtt_qos0_delivered_at_subscription_qos: amqtt, "qos0-delivered-at-subscription-qos";
    quirk_amqtt_takeover_keeps_old_connection: amqtt, "takeover-keeps-old-connection";
    quirk_amqtt_overlap_copies: amqtt, "overlap-copy-per-subscription";
    quirk_rumqttd_overlap_copies: rumqttd, "overlap-copy-per-subscription";
    quirk_mosquitto_takeover_without_0x8e: mosquitto, "takeover-without-0x8E";
    quirk_mosquitto_receive_maximum_ignored: mosquitto, "receive-maximum-ignored";
    quirk_mosquitto_311_qos2_burst_stall: mosquitto, "qos2-burst-stall";
}

/// The proofs can fail: mosquitto queues for a resumed session, sends
/// one copy for overlapping filters, delivers QoS 0 at QoS 0, closes a
/// displaced 3.1.1 connection and delivers through $share/.
#[tokio::test]
async fn raw_proofs_can_fail_against_mosquitto() {
    let b = broker_named("mosquitto").expect("mosquitto");
    for name in [
        "anonymous-session-not-queued",
        "overlap-copy-per-subscription",
        "qos0-delivered-at-subscription-qos",
        "takeover-keeps-old-connection",
        "share-accepted-not-delivered",
    ] {
        let q = quirks::named(name);
        assert!(
            (q.proof)(b.as_ref()).await.is_err(),
            "{name} does not show on mosquitto"
        );
    }
}
