//! The scenario suite: each scenario drives tern against one broker at one
//! protocol version and returns `Err(what went wrong)` on any deviation
//! from the spec (the runner then looks the broker's quirks up).

use crate::brokers::{BrokerUnderTest, USER};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tern_mqtt::client::{ConnectionEvent, Events, Message, ReconnectOptions, Subscription};
use tern_mqtt::codec::{
    MqttString, ProtocolVersion, PublishProperties, QoS, ReasonCode, RetainHandling,
    SubscribeProperties, SubscriptionOptions, Will, WillProperties,
};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::{TopicFilter, TopicName};
use tern_mqtt::{Client, ConnectOptions, Error};

/// Bound on every wait for something that must happen.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for something that must not happen.
pub const ABSENCE: Duration = Duration::from_millis(700);

/// What a scenario runs against.
pub struct Ctx {
    /// The broker.
    pub broker: Arc<dyn BrokerUnderTest>,
    /// The protocol version of every client.
    pub v: ProtocolVersion,
}

/// A scenario's verdict before the quirks are consulted.
pub type Verdict = Result<(), String>;
type Run = for<'a> fn(&'a Ctx) -> Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// One row of the matrix.
pub struct Scenario {
    /// Row name.
    pub name: &'static str,
    /// Only meaningful in MQTT 5.0.
    pub v5_only: bool,
    /// The scenario.
    pub run: Run,
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

macro_rules! scenario {
    ($name:literal, $v5:expr, $f:ident) => {
        Scenario {
            name: $name,
            v5_only: $v5,
            run: |c| Box::pin($f(c)),
        }
    };
}

/// Every scenario, in matrix order.
pub fn all() -> Vec<Scenario> {
    vec![
        scenario!("connect", false, connect),
        scenario!("QoS 0/1/2 round trip", false, qos_round_trips),
        scenario!("QoS 2 burst (100)", false, qos2_burst),
        scenario!("batches (100)", false, batches),
        scenario!("retained", false, retained),
        scenario!("will", false, will),
        scenario!("wildcards", false, wildcards),
        scenario!("unsubscribe", false, unsubscribe),
        scenario!("session resume", false, session_resume),
        scenario!("session takeover", false, takeover),
        scenario!("keep alive", false, keep_alive),
        scenario!("shared subscriptions", false, shared),
        scenario!("auth refusal", false, auth_refusal),
        scenario!("v5 properties", true, v5_properties),
        scenario!("message expiry", true, message_expiry),
        scenario!("flow control", true, flow_control),
        scenario!("topic aliases", true, topic_aliases),
        scenario!("maximum packet size", true, packet_size),
        scenario!("subscription options", true, subscription_options),
    ]
}

fn e(err: impl std::fmt::Debug) -> String {
    format!("{err:?}")
}

impl Ctx {
    fn tag(&self) -> &'static str {
        match self.v {
            ProtocolVersion::V5 => "v5",
            _ => "v311",
        }
    }

    /// A client id unique to this version.
    pub fn id(&self, name: &str) -> String {
        format!("tern-{}-{name}", self.tag())
    }

    /// A topic unique to this version.
    pub fn topic(&self, name: &str) -> String {
        format!("interop/{}/{name}", self.tag())
    }

    /// Options for the plain listener (on a version the broker does not
    /// speak, its listener all the same, to see how it refuses).
    pub fn opts(&self, id: &str) -> Result<ConnectOptions, String> {
        let url = self
            .broker
            .url(self.v)
            .unwrap_or_else(|| format!("mqtt://{}", self.broker.addr(self.v)));
        Ok(ConnectOptions::new(&url)
            .map_err(e)?
            .version(self.v)
            .client_id(&self.id(id))
            .connect_timeout(WAIT))
    }

    /// A connected client.
    pub async fn client(&self, id: &str) -> Result<Client, String> {
        connect_with(self.opts(id)?).await
    }
}

async fn connect_with(o: ConnectOptions) -> Result<Client, String> {
    tokio::time::timeout(WAIT, Client::connect(o))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|err| format!("connect: {err:?}"))
}

/// The next message within [`WAIT`].
pub async fn next(sub: &mut Subscription) -> Result<Message, String> {
    tokio::time::timeout(WAIT, sub.recv())
        .await
        .map_err(|_| format!("no message within {WAIT:?}"))?
        .ok_or_else(|| "subscription stream ended".to_string())
}

/// Nothing arrives within [`ABSENCE`].
async fn nothing_more(sub: &mut Subscription, what: &str) -> Verdict {
    match tokio::time::timeout(ABSENCE, sub.recv()).await {
        Ok(Some(m)) => Err(format!(
            "{what}: unexpected {} {:?}",
            m.topic.as_str(),
            m.payload
        )),
        _ => Ok(()),
    }
}

async fn publish(c: &Client, topic: &str, payload: impl Into<Bytes>, qos: QoS) -> Verdict {
    publish_r(c, topic, payload, qos, false).await
}

async fn publish_r(
    c: &Client,
    topic: &str,
    payload: impl Into<Bytes>,
    qos: QoS,
    retain: bool,
) -> Verdict {
    let out = tokio::time::timeout(WAIT, c.publish(topic, payload, qos, retain))
        .await
        .map_err(|_| format!("publish to {topic} not completed within {WAIT:?}"))?
        .map_err(|err| format!("publish to {topic}: {err:?}"))?;
    ensure!(
        out.reason_code.is_success(),
        "publish to {topic}: {:?}",
        out.reason_code
    );
    Ok(())
}

async fn subscribe(c: &Client, filter: &str, qos: QoS) -> Result<Subscription, String> {
    subscribe_opts(c, filter, SubscriptionOptions::qos(qos)).await
}

async fn subscribe_opts(
    c: &Client,
    filter: &str,
    o: SubscriptionOptions,
) -> Result<Subscription, String> {
    let f = TopicFilter::new(filter).map_err(e)?;
    let sub = tokio::time::timeout(
        WAIT,
        c.subscribe_many(vec![(f, o)], SubscribeProperties::default()),
    )
    .await
    .map_err(|_| format!("no SUBACK for {filter}"))?
    .map_err(|err| format!("subscribe {filter}: {err:?}"))?;
    ensure!(
        sub.results().iter().all(|r| r.is_ok()),
        "subscribe {filter}: {:?}",
        sub.results()
    );
    Ok(sub)
}

async fn bye(clients: &[&Client]) -> Verdict {
    for c in clients {
        tokio::time::timeout(WAIT, c.disconnect())
            .await
            .map_err(|_| "disconnect timed out".to_string())?
            .map_err(|err| format!("disconnect: {err:?}"))?;
    }
    Ok(())
}

/// No connection loss among the events so far.
fn stayed_connected(events: &mut Events, when: &str) -> Verdict {
    while let Some(ev) = events.try_recv() {
        ensure!(
            !matches!(
                ev,
                ConnectionEvent::ConnectionLost { .. }
                    | ConnectionEvent::DisconnectedByServer { .. }
                    | ConnectionEvent::Reconnecting { .. }
            ),
            "{when}: {ev:?}"
        );
    }
    Ok(())
}

fn payload_str(m: &Message) -> String {
    String::from_utf8_lossy(&m.payload).into_owned()
}

// ----- the scenarios -----

async fn connect(c: &Ctx) -> Verdict {
    let client = c.client("connect").await?;
    ensure!(client.is_connected(), "not connected after connect");
    ensure!(
        !client.session_present(),
        "session present after a clean start"
    );
    bye(&[&client]).await
}

async fn qos_round_trips(c: &Ctx) -> Verdict {
    let client = c.client("qos").await?;
    let mut sub = subscribe(&client, &c.topic("qos/#"), QoS::ExactlyOnce).await?;
    ensure!(
        sub.results() == [Ok(QoS::ExactlyOnce)],
        "granted {:?}",
        sub.results()
    );
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let topic = c.topic(&format!("qos/{}", qos as u8));
        publish(&client, &topic, format!("payload {qos:?}"), qos).await?;
        let m = next(&mut sub).await?;
        ensure!(
            m.topic.as_str() == topic
                && m.qos == qos
                && payload_str(&m) == format!("payload {qos:?}"),
            "sent {qos:?} on {topic}, got {:?} on {} ({:?})",
            m.qos,
            m.topic.as_str(),
            m.payload
        );
    }
    bye(&[&client]).await
}

async fn qos2_burst(c: &Ctx) -> Verdict {
    const N: usize = 100;
    let topic = c.topic("burst");
    let receiver = c.client("burst-sub").await?;
    let mut sub = subscribe(&receiver, &topic, QoS::ExactlyOnce).await?;
    let sender = c.client("burst-pub").await?;
    // Handed over back to back; the client pipelines them.
    let mut pending = Vec::new();
    for i in 0..N {
        let cmd = PublishCommand::new(
            TopicName::new(&topic).map_err(e)?,
            Bytes::from(format!("{i}")),
            QoS::ExactlyOnce,
        );
        pending.push(sender.try_publish(cmd).map_err(e)?);
    }
    for (i, p) in pending.into_iter().enumerate() {
        tokio::time::timeout(WAIT, p)
            .await
            .map_err(|_| format!("publish {i} not completed"))?
            .map_err(|err| format!("publish {i}: {err:?}"))?;
    }
    for i in 0..N {
        let m = next(&mut sub)
            .await
            .map_err(|err| format!("message {i} of {N}: {err}"))?;
        ensure!(
            payload_str(&m) == i.to_string(),
            "message {i}: got {}",
            payload_str(&m)
        );
    }
    bye(&[&sender, &receiver]).await
}

/// `publish_batch` of 100 QoS 1 messages, each acknowledged, read back in
/// order through `recv_many`.
async fn batches(c: &Ctx) -> Verdict {
    const N: usize = 100;
    let topic = c.topic("batch");
    let receiver = c.client("batch-sub").await?;
    let mut sub = subscribe(&receiver, &topic, QoS::AtLeastOnce).await?;
    let sender = c.client("batch-pub").await?;
    let name = TopicName::new(&topic).map_err(e)?;
    let batch = (0..N)
        .map(|i| PublishCommand::new(name.clone(), Bytes::from(i.to_string()), QoS::AtLeastOnce))
        .collect();
    let outcomes = tokio::time::timeout(WAIT, sender.publish_batch(batch))
        .await
        .map_err(|_| "batch not completed".to_string())?
        .map_err(e)?;
    ensure!(outcomes.len() == N, "{} outcomes", outcomes.len());
    for (i, o) in outcomes.into_iter().enumerate() {
        o.map_err(|err| format!("message {i}: {err:?}"))?;
    }
    let mut got = Vec::new();
    while got.len() < N {
        let read = tokio::time::timeout(WAIT, sub.recv_many(&mut got, N)).await;
        ensure!(
            matches!(read, Ok(k) if k > 0),
            "{} of {N} messages read",
            got.len()
        );
    }
    let payloads: Vec<String> = got.iter().map(payload_str).collect();
    let expected: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    ensure!(payloads == expected, "out of order: {payloads:?}");
    bye(&[&sender, &receiver]).await
}

async fn retained(c: &Ctx) -> Verdict {
    let topic = c.topic("retained");
    let client = c.client("retain-pub").await?;
    publish_r(&client, &topic, "kept", QoS::AtLeastOnce, true).await?;
    let later = c.client("retain-sub-1").await?;
    let mut sub = subscribe(&later, &topic, QoS::AtLeastOnce).await?;
    let m = next(&mut sub).await?;
    ensure!(
        m.retain && m.payload == "kept",
        "retained on subscribe: {m:?}"
    );
    publish_r(&client, &topic, Bytes::new(), QoS::AtLeastOnce, true).await?;
    let m = next(&mut sub).await?;
    ensure!(m.payload.is_empty(), "the clearing publish: {m:?}");
    let last = c.client("retain-sub-2").await?;
    let mut sub2 = subscribe(&last, &topic, QoS::AtLeastOnce).await?;
    publish(&client, &topic, "marker", QoS::AtLeastOnce).await?;
    let m = next(&mut sub2).await?;
    ensure!(
        m.payload == "marker" && !m.retain,
        "after clearing, a new subscriber got {m:?} first"
    );
    bye(&[&client, &later, &last]).await
}

fn will_of(topic: &str) -> Result<Will, String> {
    Ok(Will {
        topic: TopicName::new(topic).map_err(e)?,
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: WillProperties::default(),
    })
}

async fn will(c: &Ctx) -> Verdict {
    let topic = c.topic("will");
    let watcher = c.client("will-watcher").await?;
    let mut sub = subscribe(&watcher, &topic, QoS::AtLeastOnce).await?;
    let dying = connect_with(c.opts("will-dying")?.will(will_of(&topic)?)).await?;
    dying.abort().await.map_err(e)?;
    let m = next(&mut sub)
        .await
        .map_err(|err| format!("will after abort: {err}"))?;
    ensure!(m.payload == "gone", "will after abort: {m:?}");
    let polite = connect_with(c.opts("will-polite")?.will(will_of(&topic)?)).await?;
    bye(&[&polite]).await?;
    publish(&watcher, &topic, "marker", QoS::AtLeastOnce).await?;
    let m = next(&mut sub).await?;
    ensure!(
        m.payload == "marker",
        "a will after a clean disconnect: {m:?}"
    );
    bye(&[&watcher]).await
}

/// Topics a stream got up to (not including) a message with `stop` payload.
async fn drain_until(sub: &mut Subscription, stop: &str) -> Result<Vec<String>, String> {
    let mut got = Vec::new();
    loop {
        let m = next(sub).await?;
        if m.payload == stop.as_bytes() {
            return Ok(got);
        }
        got.push(m.topic.to_string());
    }
}

async fn wildcards(c: &Ctx) -> Verdict {
    let client = c.client("wildcards").await?;
    let t = |s: &str| c.topic(&format!("w/{s}"));
    let mut plus = subscribe(&client, &t("+/t"), QoS::AtLeastOnce).await?;
    let mut hash = subscribe(&client, &t("#"), QoS::AtLeastOnce).await?;
    for s in ["a/t", "b/t", "x", "a/t/deeper"] {
        publish(&client, &t(s), s.to_string(), QoS::AtLeastOnce).await?;
    }
    publish(&client, &t("z/t"), "end", QoS::AtLeastOnce).await?;
    let hash_got = drain_until(&mut hash, "end").await?;
    let plus_got = drain_until(&mut plus, "end").await?;
    let want_hash = ["a/t", "b/t", "x", "a/t/deeper"].map(&t);
    let want_plus = ["a/t", "b/t"].map(&t);
    ensure!(
        hash_got == want_hash,
        "# got {hash_got:?}, want {want_hash:?}"
    );
    ensure!(
        plus_got == want_plus,
        "+ got {plus_got:?}, want {want_plus:?}"
    );
    bye(&[&client]).await
}

async fn unsubscribe(c: &Ctx) -> Verdict {
    let client = c.client("unsub").await?;
    let gone = c.topic("unsub/gone");
    let marker = c.topic("unsub/marker");
    let _sub = subscribe(&client, &gone, QoS::AtLeastOnce).await?;
    let mut marks = subscribe(&client, &marker, QoS::AtLeastOnce).await?;
    let mut unmatched = client.unmatched().await.map_err(e)?;
    let codes = client.unsubscribe(&[&gone]).await.map_err(e)?;
    ensure!(codes.iter().all(|r| r.is_success()), "UNSUBACK {codes:?}");
    publish(&client, &gone, "after unsubscribe", QoS::AtLeastOnce).await?;
    publish(&client, &marker, "marker", QoS::AtLeastOnce).await?;
    let m = next(&mut marks).await?;
    ensure!(m.payload == "marker", "marker stream got {m:?}");
    nothing_more(&mut unmatched, "after UNSUBSCRIBE").await?;
    bye(&[&client]).await
}

fn persistent(c: &Ctx, id: &str) -> Result<ConnectOptions, String> {
    Ok(c.opts(id)?.clean_start(false).session_expiry(3600))
}

async fn session_resume(c: &Ctx) -> Verdict {
    let topic = c.topic("resume");
    let sub_client = connect_with(persistent(c, "resume-sub")?).await?;
    // Held until after the DISCONNECT: dropping it earlier unsubscribes.
    let keep = subscribe(&sub_client, &topic, QoS::AtLeastOnce).await?;
    bye(&[&sub_client]).await?;
    drop(keep);
    let publisher = c.client("resume-pub").await?;
    for i in 0..3 {
        publish(&publisher, &topic, format!("queued {i}"), QoS::AtLeastOnce).await?;
    }
    bye(&[&publisher]).await?;
    let back = connect_with(persistent(c, "resume-sub")?).await?;
    ensure!(back.session_present(), "session not present on reconnect");
    let mut unmatched = back.unmatched().await.map_err(e)?;
    for i in 0..3 {
        let m = next(&mut unmatched)
            .await
            .map_err(|err| format!("queued message {i} after resume: {err}"))?;
        ensure!(
            m.payload == format!("queued {i}").as_bytes(),
            "queued {i}: got {m:?}"
        );
    }
    bye(&[&back]).await?;
    // Leave no session behind.
    let clean = c.client("resume-sub").await?;
    bye(&[&clean]).await
}

fn no_reconnect() -> ReconnectOptions {
    ReconnectOptions {
        enabled: false,
        ..Default::default()
    }
}

async fn takeover(c: &Ctx) -> Verdict {
    let first = connect_with(c.opts("takeover")?.reconnect(no_reconnect())).await?;
    let mut events = first.events();
    let second = connect_with(c.opts("takeover")?.reconnect(no_reconnect())).await?;
    let seen = tokio::time::timeout(WAIT, async {
        while let Some(ev) = events.recv().await {
            match ev {
                ConnectionEvent::DisconnectedByServer { reason_code, .. } => {
                    return Some(Ok(reason_code))
                }
                ConnectionEvent::ConnectionLost { reason } => return Some(Err(reason)),
                _ => {}
            }
        }
        None
    })
    .await
    .map_err(|_| "the first connection was not closed".to_string())?;
    match (c.v, seen) {
        (ProtocolVersion::V5, Some(Ok(ReasonCode::SESSION_TAKEN_OVER))) => {}
        (ProtocolVersion::V5, other) => {
            return Err(format!(
                "v5 displaced connection: want DISCONNECT 0x8E, got {other:?}"
            ))
        }
        (_, Some(Err(_))) => {}
        (_, other) => return Err(format!("3.1.1 displaced connection: {other:?}")),
    }
    ensure!(second.is_connected(), "the second connection was lost too");
    bye(&[&second]).await
}

async fn keep_alive(c: &Ctx) -> Verdict {
    let topic = c.topic("keepalive");
    let client = connect_with(c.opts("keepalive")?.keep_alive(Duration::from_secs(1))).await?;
    let mut events = client.events();
    let mut sub = subscribe(&client, &topic, QoS::AtLeastOnce).await?;
    // The scenario is 3 s of idleness (three keep-alive periods).
    tokio::time::sleep(Duration::from_secs(3)).await;
    stayed_connected(&mut events, "while idle with keep alive 1 s")?;
    ensure!(client.is_connected(), "not connected after 3 s idle");
    publish(&client, &topic, "still here", QoS::AtLeastOnce).await?;
    ensure!(next(&mut sub).await?.payload == "still here", "round trip");
    bye(&[&client]).await
}

async fn shared(c: &Ctx) -> Verdict {
    const N: usize = 10;
    let topic = c.topic("shared");
    let filter = format!("$share/g/{topic}");
    let a = c.client("share-a").await?;
    let b = c.client("share-b").await?;
    let mut sa = subscribe(&a, &filter, QoS::AtLeastOnce).await?;
    let mut sb = subscribe(&b, &filter, QoS::AtLeastOnce).await?;
    let publisher = c.client("share-pub").await?;
    for i in 0..N {
        publish(&publisher, &topic, format!("{i}"), QoS::AtLeastOnce).await?;
    }
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < N {
        let m = tokio::select! {
            m = sa.recv() => m,
            m = sb.recv() => m,
            _ = tokio::time::sleep_until(deadline) => None,
        };
        match m {
            Some(m) => got.push(payload_str(&m)),
            None => break,
        }
    }
    nothing_more(&mut sa, "first consumer").await?;
    nothing_more(&mut sb, "second consumer").await?;
    got.sort_by_key(|s| s.parse::<usize>().unwrap_or(usize::MAX));
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    ensure!(got == want, "between them the consumers got {got:?}");
    bye(&[&a, &b, &publisher]).await
}

async fn auth_refusal(c: &Ctx) -> Verdict {
    let Some(addr) = c.broker.auth_addr(c.v) else {
        return Err("no auth listener".into());
    };
    let url = format!("mqtt://{addr}");
    let o = |id: &str, pass: &'static str| -> Result<ConnectOptions, String> {
        Ok(ConnectOptions::new(&url)
            .map_err(e)?
            .version(c.v)
            .client_id(&c.id(id))
            .credentials(USER.0, Bytes::from_static(pass.as_bytes())))
    };
    let good = connect_with(o("auth-good", USER.1)?).await?;
    bye(&[&good]).await?;
    match tokio::time::timeout(WAIT, Client::connect(o("auth-bad", "wrong")?)).await {
        Err(_) => Err("no answer to bad credentials".into()),
        Ok(Err(Error::ConnectionRefused { reason_code, .. })) => {
            ensure!(
                reason_code == ReasonCode::BAD_USER_NAME_OR_PASSWORD
                    || reason_code == ReasonCode::NOT_AUTHORIZED,
                "refused with {reason_code:?}, want 0x86 or 0x87"
            );
            Ok(())
        }
        Ok(other) => Err(format!("bad credentials: {other:?}")),
    }
}

async fn v5_properties(c: &Ctx) -> Verdict {
    let topic = c.topic("props");
    let client = c.client("props").await?;
    let mut sub = subscribe(&client, &topic, QoS::AtLeastOnce).await?;
    let s = |x: &str| MqttString::try_from(x).expect("string");
    let properties = PublishProperties {
        content_type: Some(s("application/json")),
        response_topic: Some(TopicName::new(&c.topic("props/reply")).map_err(e)?),
        correlation_data: Some(Bytes::from_static(b"\x01\x02corr")),
        user_properties: vec![(s("b"), s("2")), (s("a"), s("1")), (s("b"), s("3"))],
        ..Default::default()
    };
    let mut cmd = PublishCommand::new(TopicName::new(&topic).map_err(e)?, "{}", QoS::AtLeastOnce);
    cmd.properties = properties.clone().into();
    client.publish_command(cmd).await.map_err(e)?;
    let m = next(&mut sub).await?;
    let p = &m.properties;
    ensure!(
        p.user_properties == properties.user_properties,
        "user properties {:?}",
        p.user_properties
    );
    ensure!(
        p.content_type == properties.content_type,
        "content type {:?}",
        p.content_type
    );
    ensure!(
        p.response_topic == properties.response_topic,
        "response topic {:?}",
        p.response_topic
    );
    ensure!(
        p.correlation_data == properties.correlation_data,
        "correlation data {:?}",
        p.correlation_data
    );
    bye(&[&client]).await
}

async fn message_expiry(c: &Ctx) -> Verdict {
    let topic = c.topic("expiry");
    let sub_client = connect_with(persistent(c, "expiry-sub")?).await?;
    let _keep = subscribe(&sub_client, &topic, QoS::AtLeastOnce).await?;
    bye(&[&sub_client]).await?;
    let publisher = c.client("expiry-pub").await?;
    for (payload, expiry) in [("short", 1), ("long", 60)] {
        let mut cmd = PublishCommand::new(
            TopicName::new(&topic).map_err(e)?,
            payload,
            QoS::AtLeastOnce,
        );
        cmd.properties.message_expiry_interval = Some(expiry);
        publisher.publish_command(cmd).await.map_err(e)?;
    }
    bye(&[&publisher]).await?;
    // Let the short one's 1 s run out while the subscriber is away.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let back = connect_with(persistent(c, "expiry-sub")?).await?;
    let mut unmatched = back.unmatched().await.map_err(e)?;
    let m = next(&mut unmatched).await?;
    ensure!(
        m.payload == "long",
        "first message after 2.2 s away: {:?} (the 1 s one should have expired)",
        m.payload
    );
    let left = m.properties.message_expiry_interval;
    ensure!(
        matches!(left, Some(s) if (50..60).contains(&s)),
        "the 60 s message arrived with expiry {left:?}, want it counted down"
    );
    nothing_more(&mut unmatched, "after the live message").await?;
    bye(&[&back]).await?;
    let clean = c.client("expiry-sub").await?;
    bye(&[&clean]).await
}

async fn flow_control(c: &Ctx) -> Verdict {
    const N: usize = 6;
    let topic = c.topic("flow");
    let receiver = connect_with(c.opts("flow-sub")?.receive_maximum(2).manual_acks(true)).await?;
    let mut events = receiver.events();
    let mut sub = subscribe(&receiver, &topic, QoS::AtLeastOnce).await?;
    let publisher = c.client("flow-pub").await?;
    for i in 0..N {
        publish(&publisher, &topic, format!("{i}"), QoS::AtLeastOnce).await?;
    }
    let first = next(&mut sub).await?;
    let second = next(&mut sub).await?;
    // Receive Maximum 2 and nothing acknowledged: the broker must wait.
    if let Ok(Some(m)) = tokio::time::timeout(ABSENCE, sub.recv()).await {
        return Err(format!(
            "a third unacknowledged message with Receive Maximum 2: {:?}",
            m.payload
        ));
    }
    let mut got = vec![first, second];
    let mut i = 0;
    while got.len() < N {
        got[i].ack();
        i += 1;
        got.push(next(&mut sub).await?);
    }
    for m in &got[i..] {
        m.ack();
    }
    let payloads: Vec<String> = got.iter().map(payload_str).collect();
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    ensure!(payloads == want, "got {payloads:?}");
    stayed_connected(&mut events, "during the scenario")?;
    bye(&[&publisher, &receiver]).await
}

async fn topic_aliases(c: &Ctx) -> Verdict {
    let base = c.topic("alias");
    let receiver = connect_with(c.opts("alias-sub")?.topic_alias_maximum(10)).await?;
    let mut sub = subscribe(&receiver, &format!("{base}/#"), QoS::AtLeastOnce).await?;
    let publisher = connect_with(c.opts("alias-pub")?.topic_alias_maximum(10)).await?;
    let mut sent = Vec::new();
    for round in 0..5 {
        for t in 0..4 {
            let topic = format!("{base}/{t}");
            publish(
                &publisher,
                &topic,
                format!("{topic} {round}"),
                QoS::AtLeastOnce,
            )
            .await?;
            sent.push(format!("{topic} {round}"));
        }
    }
    for want in &sent {
        let m = next(&mut sub).await?;
        let got = format!(
            "{} {}",
            m.topic.as_str(),
            payload_str(&m).rsplit(' ').next().unwrap_or("")
        );
        ensure!(
            payload_str(&m) == *want && got == *want,
            "want {want}, got {} on {}",
            payload_str(&m),
            m.topic.as_str()
        );
    }
    bye(&[&publisher, &receiver]).await
}

async fn packet_size(c: &Ctx) -> Verdict {
    let topic = c.topic("size");
    let receiver = connect_with(c.opts("size-sub")?.maximum_packet_size(512)).await?;
    let mut events = receiver.events();
    let mut sub = subscribe(&receiver, &topic, QoS::AtLeastOnce).await?;
    let publisher = c.client("size-pub").await?;
    publish(&publisher, &topic, vec![b'x'; 2000], QoS::AtLeastOnce).await?;
    publish(&publisher, &topic, "small", QoS::AtLeastOnce).await?;
    let m = next(&mut sub).await?;
    ensure!(
        m.payload == "small",
        "first delivery to a 512-byte client: {} bytes",
        m.payload.len()
    );
    stayed_connected(&mut events, "during the scenario")?;
    bye(&[&publisher, &receiver]).await
}

async fn subscription_options(c: &Ctx) -> Verdict {
    let t = |s: &str| c.topic(&format!("opts/{s}"));
    let client = c.client("opts").await?;
    let other = c.client("opts-other").await?;
    // No Local.
    let mut local = subscribe_opts(
        &client,
        &t("nolocal"),
        SubscriptionOptions {
            no_local: true,
            ..SubscriptionOptions::qos(QoS::AtLeastOnce)
        },
    )
    .await?;
    publish(&client, &t("nolocal"), "own", QoS::AtLeastOnce).await?;
    publish(&other, &t("nolocal"), "other", QoS::AtLeastOnce).await?;
    let m = next(&mut local).await?;
    ensure!(
        m.payload == "other",
        "No Local: got our own {:?}",
        m.payload
    );
    // Retain As Published: live retained messages keep the flag only with it.
    let mut rap = subscribe_opts(
        &client,
        &t("rap/on"),
        SubscriptionOptions {
            retain_as_published: true,
            ..SubscriptionOptions::qos(QoS::AtLeastOnce)
        },
    )
    .await?;
    let mut plain = subscribe(&client, &t("rap/off"), QoS::AtLeastOnce).await?;
    publish_r(&other, &t("rap/on"), "r", QoS::AtLeastOnce, true).await?;
    publish_r(&other, &t("rap/off"), "r", QoS::AtLeastOnce, true).await?;
    let on = next(&mut rap).await?;
    let off = next(&mut plain).await?;
    ensure!(on.retain, "Retain As Published: flag lost");
    ensure!(!off.retain, "without Retain As Published: flag kept");
    // Retain Handling 2: no retained message at subscribe.
    publish_r(&other, &t("rh"), "old", QoS::AtLeastOnce, true).await?;
    let mut rh = subscribe_opts(
        &client,
        &t("rh"),
        SubscriptionOptions {
            retain_handling: RetainHandling::DoNotSend,
            ..SubscriptionOptions::qos(QoS::AtLeastOnce)
        },
    )
    .await?;
    publish(&other, &t("rh"), "live", QoS::AtLeastOnce).await?;
    let m = next(&mut rh).await?;
    ensure!(
        m.payload == "live",
        "Retain Handling 2: got the retained {:?}",
        m.payload
    );
    for topic in [t("rap/on"), t("rap/off"), t("rh")] {
        publish_r(&other, &topic, Bytes::new(), QoS::AtLeastOnce, true).await?;
    }
    bye(&[&client, &other]).await
}
