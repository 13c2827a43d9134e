//! A gateway's streaming strategy, end to end against a private mosquitto
//! (started here, as `examples/demo.rs` does) over mutual TLS:
//!
//! 1. connect with a PKCS#12 client certificate and its password, a will
//!    and a reconnect hook;
//! 2. subscribe to several filters and consume every message as one
//!    stream with `Client::messages()`;
//! 3. publish bytes through the `Publisher` sink, reading each outcome
//!    from its completion stream;
//! 4. wait for every message, with a `CancellationToken` that stops the
//!    consumer if they do not all come.
//!
//! ```text
//! cargo run --example streaming
//! ```

#[path = "../tests/support/mosquitto.rs"]
mod mosquitto;

use futures_util::{SinkExt, StreamExt};
use mosquitto::{Broker, BrokerOptions, Listener};
use std::time::Duration;
use tern_mqtt::prelude::*;
use tokio_util::sync::CancellationToken;

const MESSAGES: u32 = 1_000;

type BoxError = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    mosquitto::ensure_installed()?;
    let broker = Broker::start(BrokerOptions::listeners(&[Listener::MutualTls]));
    let client = connect(&broker).await?;
    let cancel = CancellationToken::new();

    // Every message of every filter, once each, as one stream.
    let inbound = client.messages();
    let _telemetry = client
        .subscribe_all(&["plant/+/temp", "plant/+/pressure"], QoS::AtLeastOnce)
        .await?;
    let _alarms = client.subscribe("plant/#", QoS::AtLeastOnce).await?;
    let consumer = tokio::spawn(consume(inbound, cancel.clone()));

    let acked = publish_all(&client).await?;
    println!("streaming: {acked} of {MESSAGES} publishes acknowledged");

    // The consumer stops once it has every message; one token stops it
    // (and anything else listening) if they do not all come.
    let consumer = std::pin::pin!(consumer);
    let received = match tokio::time::timeout(Duration::from_secs(10), consumer).await {
        Ok(received) => received?,
        Err(_) => {
            cancel.cancel();
            Received {
                distinct: 0,
                duplicates: 0,
            }
        }
    };
    println!(
        "streaming: received {} messages, {} twice (plant/# overlaps the other filters)",
        received.distinct, received.duplicates
    );
    client.disconnect().await?;
    drop(broker);
    if acked != MESSAGES || received.distinct != MESSAGES || received.duplicates > 0 {
        return Err("not every message made the round trip once".into());
    }
    Ok(())
}

/// Connects over mutual TLS with a PKCS#12 client certificate and its
/// password, a will and a reconnect hook.
async fn connect(broker: &Broker) -> Result<Client, BoxError> {
    let url = format!("mqtts://127.0.0.1:{}", broker.mtls_port());
    let pfx = make_pkcs12(broker)?;
    let options = ConnectOptions::new(&url)?
        .client_id("gateway-streaming")
        .ca_file(broker.ca_path())
        .client_cert_pkcs12(&pfx, "gateway-secret")
        .will(Will::new(
            "gateways/streaming/status",
            "offline",
            QoS::AtLeastOnce,
            true,
        )?)
        .reconnect(ReconnectOptions::default().hook(|attempt| async move {
            // A real gateway fetches a fresh token here; None keeps the
            // credentials in force.
            println!("streaming: reconnect attempt {}", attempt.attempt);
            None
        }));
    let client = Client::connect(options).await?;
    println!("streaming: connected to {url} ({})", client.status());
    Ok(client)
}

/// The client certificate as gateways often have it: a PKCS#12 (.pfx)
/// file with a password, made here from the broker's test certificates
/// with openssl (as `openssl pkcs12 -export` does for a real one).
fn make_pkcs12(broker: &Broker) -> Result<std::path::PathBuf, BoxError> {
    let pfx = broker.dir().join("client.p12");
    let made = std::process::Command::new("openssl")
        .args([
            "pkcs12",
            "-export",
            "-passout",
            "pass:gateway-secret",
            "-out",
        ])
        .arg(&pfx)
        .arg("-in")
        .arg(broker.client_cert_path())
        .arg("-inkey")
        .arg(broker.client_key_path())
        .status()?;
    if !made.success() {
        return Err("openssl pkcs12 -export failed".into());
    }
    Ok(pfx)
}

/// What the consumer saw: distinct messages (by the number each payload
/// carries) and duplicates.
struct Received {
    distinct: u32,
    duplicates: u32,
}

/// Counts what arrives until every message has, or until cancelled.
async fn consume(mut inbound: Subscription, cancel: CancellationToken) -> Received {
    let mut seen = std::collections::HashSet::new();
    let mut duplicates = 0u32;
    while seen.len() < MESSAGES as usize {
        tokio::select! {
            _ = cancel.cancelled() => break,
            msg = inbound.next() => match msg {
                Some(msg) => {
                    if !seen.insert(msg.payload.clone()) {
                        duplicates += 1;
                    }
                    if seen.len() % 250 == 0 {
                        println!("streaming: received {}, latest {msg}", seen.len());
                    }
                }
                None => break,
            },
        }
    }
    Received {
        distinct: u32::try_from(seen.len()).unwrap_or(u32::MAX),
        duplicates,
    }
}

/// Publishes bytes through the sink; outcomes come on their own stream.
/// Returns how many were acknowledged.
async fn publish_all(client: &Client) -> Result<u32, BoxError> {
    let mut publisher = client.publisher();
    let mut completions = publisher.completions();
    let outcomes = tokio::spawn(async move {
        let mut ok = 0u32;
        while let Some((sequence, outcome)) = completions.next().await {
            match outcome {
                Ok(_) => ok += 1,
                Err(e) => println!("streaming: message {sequence} failed: {e}"),
            }
        }
        ok
    });
    for i in 0..MESSAGES {
        let topic = if i % 2 == 0 {
            "plant/1/temp"
        } else {
            "plant/1/pressure"
        };
        let payload = i.to_be_bytes().to_vec();
        publisher
            .feed(PublishCommand::to(topic, payload, QoS::AtLeastOnce)?)
            .await?;
    }
    publisher.close().await?;
    drop(publisher);
    Ok(outcomes.await?)
}
