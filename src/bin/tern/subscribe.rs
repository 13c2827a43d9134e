//! `tern sub`: subscribe and print messages, plain or as JSON lines.

use crate::common::{connect, describe, failed, parse_qos, usage, CliError, ConnArgs};
use base64::Engine as _;
use clap::Args;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::num::NonZeroU32;
use std::time::Duration;
use tern_mqtt::client::{ConnectionEvent, Message};
use tern_mqtt::codec::{ProtocolVersion, QoS, SubscribeProperties, SubscriptionOptions};
use tern_mqtt::topic::TopicFilter;

/// Arguments of `tern sub`.
#[derive(Args, Debug)]
pub struct SubArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Topic filter to subscribe to (repeatable).
    #[arg(short = 't', long = "topic", value_name = "FILTER", required = true)]
    pub topics: Vec<String>,
    /// Maximum QoS: 0, 1 or 2.
    #[arg(short = 'q', long, value_parser = parse_qos, default_value = "0")]
    pub qos: QoS,
    /// Print "topic payload" instead of the payload alone.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Exit after this many messages.
    #[arg(short = 'C', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// One JSON object per message and line: topic, qos, retain,
    /// properties, and payload (UTF-8) or payload_base64.
    #[arg(long, conflicts_with = "verbose")]
    pub json: bool,
    /// Stop after this many seconds (an error if --count was not reached).
    #[arg(short = 'W', long = "timeout", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
    /// v5 subscription identifier attached to matching messages.
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(u32).range(1..=268_435_455))]
    pub subscription_id: Option<u32>,
    /// v5: do not receive messages this connection publishes.
    #[arg(long)]
    pub no_local: bool,
}

/// Runs `tern sub`.
pub async fn run(args: SubArgs) -> Result<(), CliError> {
    let v5 = args.conn.version == ProtocolVersion::V5;
    if !v5 && args.subscription_id.is_some() {
        return Err(usage("--subscription-id needs MQTT 5 (-V 5)"));
    }
    if !v5 && args.no_local {
        return Err(usage("--no-local needs MQTT 5 (-V 5)"));
    }
    let mut filters = Vec::with_capacity(args.topics.len());
    for t in &args.topics {
        let filter = TopicFilter::new(t).map_err(|e| usage(format!("topic filter {t:?}: {e}")))?;
        let mut options = SubscriptionOptions::qos(args.qos);
        options.no_local = args.no_local;
        filters.push((filter, options));
    }
    let properties = SubscribeProperties {
        subscription_identifier: args.subscription_id.and_then(NonZeroU32::new),
        ..SubscribeProperties::default()
    };
    let client = connect(args.conn.options(true, "")?).await?;
    let mut events = client.events();
    let mut sub = match client.subscribe_many(filters, properties).await {
        Ok(sub) => sub,
        Err(e) => {
            let _ = client.disconnect().await;
            return Err(failed(format!("subscribe failed: {}", describe(&e))));
        }
    };
    for ((filter, _), result) in sub.filters().iter().zip(sub.results()) {
        if let Err(code) = result {
            eprintln!("tern: warning: the broker refused the subscription to {filter}: {code}");
        }
    }

    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut events_open = true;
    let mut received: u64 = 0;
    let result = loop {
        tokio::select! {
            msg = sub.recv() => match msg {
                Some(msg) => {
                    match print(&args, &msg) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break Ok(()),
                        Err(e) => break Err(failed(format!("cannot write to stdout: {e}"))),
                    }
                    received += 1;
                    if args.count.is_some_and(|n| received >= n) {
                        break Ok(());
                    }
                }
                None => break Err(failed("the connection was closed")),
            },
            _ = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } }, if deadline.is_some() => {
                break match args.count {
                    Some(n) => Err(failed(format!(
                        "timed out after {} s with {received} of {n} messages",
                        args.timeout.unwrap_or_default()
                    ))),
                    None => Ok(()),
                };
            }
            _ = &mut ctrl_c => break Ok(()),
            ev = events.recv(), if events_open => match ev {
                Some(ConnectionEvent::ConnectionLost { reason }) => {
                    eprintln!("tern: connection lost: {reason}; reconnecting");
                }
                Some(ConnectionEvent::DisconnectedByServer { reason_code, reason_string, .. }) => {
                    let why = reason_string.map(|s| format!(" ({s})")).unwrap_or_default();
                    eprintln!("tern: the broker disconnected: {reason_code}{why}; reconnecting");
                }
                Some(ConnectionEvent::Reconnected { .. }) => eprintln!("tern: reconnected"),
                Some(ConnectionEvent::GaveUp { attempts }) => {
                    break Err(failed(format!("gave up reconnecting after {attempts} attempts")));
                }
                Some(_) => {}
                None => events_open = false,
            },
        }
    };
    drop(sub);
    let _ = client.disconnect().await;
    result
}

fn print(args: &SubArgs, msg: &Message) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if args.json {
        let line = to_json(msg).to_string();
        out.write_all(line.as_bytes())?;
    } else {
        if args.verbose {
            out.write_all(msg.topic.as_str().as_bytes())?;
            out.write_all(b" ")?;
        }
        out.write_all(&msg.payload)?;
    }
    out.write_all(b"\n")?;
    out.flush()
}

/// The JSON form of a message.
pub fn to_json(msg: &Message) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let p = &msg.properties;
    let mut props = Map::new();
    let user: Vec<Value> = p
        .user_properties
        .iter()
        .map(|(k, v)| json!([k.as_ref(), v.as_ref()]))
        .collect();
    props.insert("user_properties".into(), Value::Array(user));
    if let Some(ct) = &p.content_type {
        props.insert("content_type".into(), json!(ct.as_ref()));
    }
    if let Some(rt) = &p.response_topic {
        props.insert("response_topic".into(), json!(rt.as_str()));
    }
    if let Some(cd) = &p.correlation_data {
        props.insert("correlation_data_base64".into(), json!(b64.encode(cd)));
    }
    if let Some(secs) = p.message_expiry_interval {
        props.insert("message_expiry".into(), json!(secs));
    }
    if let Some(utf8) = p.payload_format_indicator {
        props.insert("payload_format_utf8".into(), json!(utf8));
    }
    let ids: Vec<u32> = p
        .subscription_identifiers
        .iter()
        .map(|id| id.get())
        .collect();
    props.insert("subscription_ids".into(), json!(ids));

    let mut obj = Map::new();
    obj.insert("topic".into(), json!(msg.topic.as_str()));
    obj.insert("qos".into(), json!(msg.qos as u8));
    obj.insert("retain".into(), json!(msg.retain));
    obj.insert("properties".into(), Value::Object(props));
    match std::str::from_utf8(&msg.payload) {
        Ok(text) => obj.insert("payload".into(), json!(text)),
        Err(_) => obj.insert("payload_base64".into(), json!(b64.encode(&msg.payload))),
    };
    Value::Object(obj)
}
