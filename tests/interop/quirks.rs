//! Known broker quirks. Each one is proven without tern's client: by a raw
//! socket speaking through the crate's pure codec ([`crate::raw`]) or by
//! the broker's own tools (mosquitto_pub / mosquitto_sub). A scenario that
//! fails on a broker reports QUIRK only when a quirk of that broker covers
//! the scenario and version and its proof passes against the same broker;
//! otherwise it is a FAIL.

use crate::brokers::BrokerUnderTest;
use crate::raw::{connect_packet, publishes_within, Raw};
use crate::scenarios::ABSENCE;
use bytes::Bytes;
use std::future::Future;
use std::num::NonZeroU16;
use std::pin::Pin;
use std::time::Duration;
use tern_mqtt::codec::{Packet, ProtocolVersion, Publish, PublishAck, QoS, SubscriptionOptions};
use tern_mqtt::topic::TopicName;

/// `Ok(())` when the quirk shows, `Err(why not)` otherwise.
pub type Proof = Result<(), String>;
type ProofFn =
    for<'a> fn(&'a dyn BrokerUnderTest) -> Pin<Box<dyn Future<Output = Proof> + Send + 'a>>;

const V311: &[ProtocolVersion] = &[ProtocolVersion::V311];
const V5: &[ProtocolVersion] = &[ProtocolVersion::V5];

/// One known quirk of one or more brokers.
pub struct Quirk {
    /// Short name shown in the matrix.
    pub name: &'static str,
    /// Broker keys it applies to.
    pub brokers: &'static [&'static str],
    /// Protocol versions it shows in.
    pub versions: &'static [ProtocolVersion],
    /// Scenarios (matrix rows) it explains.
    pub scenarios: &'static [&'static str],
    /// What the broker does.
    pub what: &'static str,
    /// The test in tests/interop.rs that proves it on its own.
    pub proof_test: &'static str,
    /// What tern does about it.
    pub client_does: &'static str,
    /// The proof against a running broker.
    pub proof: ProofFn,
}

macro_rules! proof {
    ($f:ident) => {
        |b| Box::pin($f(b))
    };
}

/// The quirks table.
pub const QUIRKS: &[Quirk] = &[
    Quirk {
        name: "anonymous-session-not-queued",
        brokers: &["amqtt"],
        versions: V311,
        scenarios: &["session resume"],
        what: "resumes the session (session present) but queues no QoS 1/2 message for it while \
               offline when the client is anonymous (with allow_anonymous every client is)",
        proof_test: "quirk_amqtt_anonymous_session_not_queued",
        client_does: "nothing it can: documented; authenticate clients with a password file \
                      for persistent sessions on amqtt",
        proof: proof!(prove_session_not_queued),
    },
    Quirk {
        name: "share-accepted-not-delivered",
        brokers: &["aedes", "amqtt"],
        versions: V311,
        scenarios: &["shared subscriptions"],
        what: "grants a SUBSCRIBE to $share/g/t but delivers nothing published to t through it",
        proof_test: "quirk_aedes_share_not_delivered / quirk_amqtt_share_not_delivered",
        client_does: "nothing: documented (shared subscriptions are a v5 feature)",
        proof: proof!(prove_share_not_delivered),
    },
    Quirk {
        name: "v5-connect-refused-rc1",
        brokers: &["aedes", "amqtt"],
        versions: V5,
        scenarios: &["connect"],
        what: "answers a v5 CONNECT with a 3.1.1 CONNACK, return code 1 (unacceptable protocol \
               version): it speaks 3.1.1 only",
        proof_test: "quirk_aedes_v5_connect_refused_rc1 / quirk_amqtt_v5_connect_refused_rc1",
        client_does: "reports ConnectionRefused 0x84 Unsupported Protocol Version; with \
                      version_fallback(true) it retries in 3.1.1",
        proof: proof!(prove_v5_refused_rc1),
    },
    Quirk {
        name: "overlap-copy-per-subscription",
        brokers: &["amqtt", "rumqttd"],
        versions: V311,
        scenarios: &["wildcards"],
        what: "sends one copy of a message per matching subscription when a client's filters \
               overlap (3.1.1 allows it: [MQTT-3.3.5-1])",
        proof_test: "quirk_amqtt_overlap_copies / quirk_rumqttd_overlap_copies",
        client_does: "3.1.1 has no subscription identifiers, so each copy goes to every matching \
                      stream: overlapping streams see duplicates; v5 routes by identifier",
        proof: proof!(prove_overlap_copies),
    },
    Quirk {
        name: "takeover-without-0x8E",
        brokers: &["mosquitto"],
        versions: V5,
        scenarios: &["session takeover"],
        what: "closes a v5 connection displaced by a new one with the same client id without \
               DISCONNECT 0x8E Session taken over",
        proof_test: "quirk_mosquitto_takeover_without_0x8e",
        client_does: "sees a lost connection and reconnects with backoff (each kick counts as a \
                      failure, so two clients with one id do not storm)",
        proof: proof!(prove_takeover_without_0x8e),
    },
    Quirk {
        name: "receive-maximum-ignored",
        brokers: &["mosquitto"],
        versions: V5,
        scenarios: &["flow control"],
        what: "honours the client's Receive Maximum for the first window, then sends two new \
               QoS 1 PUBLISH packets for each PUBACK, exceeding it",
        proof_test: "quirk_mosquitto_receive_maximum_ignored",
        client_does: "closes with DISCONNECT 0x93 Receive Maximum exceeded, as the spec asks, \
                      and reconnects (a clean session loses what was in flight); do not set a \
                      Receive Maximum below the number of messages that may arrive at once",
        proof: proof!(prove_receive_maximum_ignored),
    },
    Quirk {
        name: "qos2-burst-stall",
        brokers: &["mosquitto"],
        versions: V311,
        scenarios: &["QoS 2 burst (100)"],
        what: "stops delivering queued QoS 2 messages to a 3.1.1 subscriber after its in-flight \
               window (20) under a back-to-back burst, even when the subscriber completes every \
               exchange at once",
        proof_test: "quirk_mosquitto_311_qos2_burst_stall",
        client_does: "nothing it can: the messages stay queued at the broker",
        proof: proof!(prove_qos2_burst_stall),
    },
    Quirk {
        name: "qos0-delivered-at-subscription-qos",
        brokers: &["amqtt"],
        versions: V311,
        scenarios: &["QoS 0/1/2 round trip"],
        what: "delivers a QoS 0 publish at the subscription's QoS (2), not the minimum of the two \
               ([MQTT-3.8.4-6])",
        proof_test: "quirk_amqtt_qos0_delivered_at_subscription_qos",
        client_does: "accepts and acknowledges it like any QoS 2 message; Message::qos says 2",
        proof: proof!(prove_qos0_upgraded),
    },
    Quirk {
        name: "takeover-keeps-old-connection",
        brokers: &["amqtt"],
        versions: V311,
        scenarios: &["session takeover"],
        what: "keeps the first connection open when a second one connects with the same client \
               id ([MQTT-3.1.4-2] asks it to be closed)",
        proof_test: "quirk_amqtt_takeover_keeps_old_connection",
        client_does: "nothing to do: both stay connected",
        proof: proof!(prove_takeover_keeps_old),
    },
];

/// The quirk that explains `scenario` failing on `broker` at `v`, if any.
pub fn covering(broker: &str, v: ProtocolVersion, scenario: &str) -> Option<&'static Quirk> {
    QUIRKS.iter().find(|q| {
        q.brokers.contains(&broker) && q.versions.contains(&v) && q.scenarios.contains(&scenario)
    })
}

/// The quirk named `name`.
pub fn named(name: &str) -> &'static Quirk {
    QUIRKS
        .iter()
        .find(|q| q.name == name)
        .unwrap_or_else(|| panic!("no quirk {name}"))
}

const V: ProtocolVersion = ProtocolVersion::V311;

async fn raw(
    b: &dyn BrokerUnderTest,
    v: ProtocolVersion,
    id: &str,
    clean: bool,
) -> Result<Raw, String> {
    let (raw, ack) = Raw::connect(b.addr(v), connect_packet(v, id, clean)).await?;
    if !ack.reason_code.is_success() {
        return Err(format!("{id}: CONNACK {:?}", ack.reason_code));
    }
    Ok(raw)
}

fn q1() -> SubscriptionOptions {
    SubscriptionOptions::qos(QoS::AtLeastOnce)
}

async fn prove_session_not_queued(b: &dyn BrokerUnderTest) -> Proof {
    const T: &str = "quirk/queue";
    let mut sub = raw(b, V, "quirk-queue-sub", false).await?;
    sub.subscribe(&[(T, q1())]).await?;
    sub.disconnect().await?;
    let mut publisher = raw(b, V, "quirk-queue-pub", true).await?;
    publisher
        .publish(T, b"queued", QoS::AtLeastOnce, false)
        .await?;
    publisher.disconnect().await?;
    let (mut back, ack) =
        Raw::connect(b.addr(V), connect_packet(V, "quirk-queue-sub", false)).await?;
    if !ack.session_present {
        return Err("the session was not resumed at all (session present 0)".into());
    }
    let got = publishes_within(&mut back, Duration::from_millis(1500)).await;
    // Leave no session behind.
    let _ = back.disconnect().await;
    let _ = raw(b, V, "quirk-queue-sub", true).await?.disconnect().await;
    if got.is_empty() {
        Ok(())
    } else {
        Err(format!("the queued message was delivered: {got:?}"))
    }
}

async fn prove_share_not_delivered(b: &dyn BrokerUnderTest) -> Proof {
    const T: &str = "quirk/share";
    let mut sub = raw(b, V, "quirk-share-sub", true).await?;
    let (ack, _) = sub.subscribe(&[("$share/g/quirk/share", q1())]).await?;
    if ack.reason_codes.iter().any(|r| r.0 >= 0x80) {
        return Err(format!("$share/ refused: {:?}", ack.reason_codes));
    }
    let mut publisher = raw(b, V, "quirk-share-pub", true).await?;
    publisher
        .publish(T, b"shared", QoS::AtLeastOnce, false)
        .await?;
    let got = publishes_within(&mut sub, Duration::from_millis(1500)).await;
    publisher.disconnect().await?;
    sub.disconnect().await?;
    if got.is_empty() {
        Ok(())
    } else {
        Err(format!("delivered through $share/: {got:?}"))
    }
}

async fn prove_v5_refused_rc1(b: &dyn BrokerUnderTest) -> Proof {
    let v5 = ProtocolVersion::V5;
    let mut r = Raw::open(b.addr(v5), v5).await?;
    r.send(&Packet::Connect(Box::new(connect_packet(
        v5, "quirk-v5", true,
    ))))
    .await?;
    // A 3.1.1 CONNACK: 0x20, remaining length 2, flags, return code.
    let bytes = r.read_bytes(Duration::from_secs(3)).await;
    match bytes.as_slice() {
        [0x20, 0x02, _, 0x01, ..] => Ok(()),
        other => Err(format!("answer to a v5 CONNECT: {other:02x?}")),
    }
}

async fn prove_overlap_copies(b: &dyn BrokerUnderTest) -> Proof {
    let mut c = raw(b, V, "quirk-overlap", true).await?;
    c.subscribe(&[("quirk/overlap/+", q1()), ("quirk/overlap/#", q1())])
        .await?;
    c.publish("quirk/overlap/a", b"once", QoS::AtMostOnce, false)
        .await?;
    let got = publishes_within(&mut c, Duration::from_millis(1500)).await;
    c.disconnect().await?;
    match got.len() {
        2 => Ok(()),
        n => Err(format!("{n} copies of one message: {got:?}")),
    }
}

async fn prove_takeover_without_0x8e(b: &dyn BrokerUnderTest) -> Proof {
    let v5 = ProtocolVersion::V5;
    let mut first = raw(b, v5, "quirk-takeover", true).await?;
    let second = raw(b, v5, "quirk-takeover", true).await?;
    let mut seen = Vec::new();
    let verdict = loop {
        match first.recv(Duration::from_secs(5)).await {
            Ok(Some(Packet::Disconnect(d))) => {
                break Err(format!("DISCONNECT {:?} was sent", d.reason_code))
            }
            Ok(Some(p)) => seen.push(p),
            Ok(None) => break Err("the first connection stayed open".into()),
            Err(closed) => break Ok(closed),
        }
    };
    second.disconnect().await?;
    verdict.map(|_| ())
}

async fn prove_receive_maximum_ignored(b: &dyn BrokerUnderTest) -> Proof {
    const T: &str = "quirk/flow";
    let v5 = ProtocolVersion::V5;
    let mut connect = connect_packet(v5, "quirk-flow-sub", true);
    connect.properties.receive_maximum = NonZeroU16::new(2);
    let (mut sub, _) = Raw::connect(b.addr(v5), connect).await?;
    sub.subscribe(&[(T, q1())]).await?;
    let mut publisher = raw(b, v5, "quirk-flow-pub", true).await?;
    for i in 0..6u8 {
        publisher
            .publish(T, &[b'0' + i], QoS::AtLeastOnce, false)
            .await?;
    }
    // Nothing acknowledged: 2 arrive (mosquitto gets this right).
    let first = publishes_within(&mut sub, ABSENCE).await;
    if first.len() != 2 {
        return Err(format!("{} unacknowledged messages at first", first.len()));
    }
    // One PUBACK frees one slot: one more may come, not two.
    let id = first[0].packet_id.ok_or("QoS 1 without a packet id")?;
    sub.send(&Packet::PubAck(PublishAck::new(id))).await?;
    let after = publishes_within(&mut sub, ABSENCE).await;
    publisher.disconnect().await?;
    let _ = sub.disconnect().await;
    if after.len() > 1 {
        Ok(())
    } else {
        Err(format!(
            "{} more after one PUBACK with Receive Maximum 2",
            after.len()
        ))
    }
}

/// A raw 3.1.1 subscriber at QoS 2 that completes every exchange at once,
/// and a raw publisher that pipelines N QoS 2 PUBLISH packets: the
/// subscriber gets fewer than N before going idle for 3 s.
async fn prove_qos2_burst_stall(b: &dyn BrokerUnderTest) -> Proof {
    const N: u16 = 100;
    const T: &str = "quirk/burst";
    let mut sub = raw(b, V, "quirk-burst-sub", true).await?;
    sub.subscribe(&[(T, SubscriptionOptions::qos(QoS::ExactlyOnce))])
        .await?;
    let mut publisher = raw(b, V, "quirk-burst-pub", true).await?;
    for i in 1..=N {
        publisher
            .send(&Packet::Publish(Publish {
                dup: false,
                qos: QoS::ExactlyOnce,
                retain: false,
                topic: Some(TopicName::new(T).map_err(|e| format!("{e:?}"))?),
                packet_id: NonZeroU16::new(i),
                properties: Default::default(),
                payload: Bytes::from(format!("m{i}")),
            }))
            .await?;
    }
    let publishing = tokio::spawn(async move {
        let mut done = 0;
        while done < N {
            match publisher.recv(Duration::from_secs(5)).await {
                Ok(Some(Packet::PubRec(a))) => {
                    publisher
                        .send(&Packet::PubRel(PublishAck::new(a.packet_id)))
                        .await?
                }
                Ok(Some(Packet::PubComp(_))) => done += 1,
                Ok(Some(_)) => {}
                Ok(None) => return Err(format!("publisher: {done} of {N} completed")),
                Err(e) => return Err(e),
            }
        }
        publisher.disconnect().await
    });
    let mut got = std::collections::BTreeSet::new();
    loop {
        match sub.recv(Duration::from_secs(3)).await? {
            Some(Packet::Publish(p)) => {
                got.insert(p.payload.clone());
                if let Some(id) = p.packet_id {
                    sub.send(&Packet::PubRec(PublishAck::new(id))).await?;
                }
            }
            Some(Packet::PubRel(r)) => {
                sub.send(&Packet::PubComp(PublishAck::new(r.packet_id)))
                    .await?
            }
            Some(_) => {}
            None => break,
        }
    }
    let published = publishing.await.map_err(|e| format!("{e:?}"))?;
    let _ = sub.disconnect().await;
    published?;
    if got.len() < usize::from(N) {
        Ok(())
    } else {
        Err(format!("all {N} messages arrived"))
    }
}

async fn prove_qos0_upgraded(b: &dyn BrokerUnderTest) -> Proof {
    const T: &str = "quirk/qos0";
    let mut c = raw(b, V, "quirk-qos0", true).await?;
    c.subscribe(&[(T, SubscriptionOptions::qos(QoS::ExactlyOnce))])
        .await?;
    c.publish(T, b"zero", QoS::AtMostOnce, false).await?;
    let got = publishes_within(&mut c, ABSENCE).await;
    c.disconnect().await?;
    match got.as_slice() {
        [p] if p.qos > QoS::AtMostOnce => Ok(()),
        other => Err(format!("delivered: {other:?}")),
    }
}

async fn prove_takeover_keeps_old(b: &dyn BrokerUnderTest) -> Proof {
    let mut first = raw(b, V, "quirk-takeover-311", true).await?;
    let second = raw(b, V, "quirk-takeover-311", true).await?;
    let verdict = match first.recv(Duration::from_secs(2)).await {
        Ok(None) => Ok(()),
        other => Err(format!("the first connection: {other:?}")),
    };
    second.disconnect().await?;
    let _ = first.disconnect().await;
    verdict
}
