//! A gateway's streaming strategy, end to end against a private mosquitto
//! (started here, as `examples/demo.rs` does) over mutual TLS:
//!
//! 1. connect with a PKCS#12 client certificate and its password, a will
//!    and a reconnect hook;
//! 2. subscribe to several filters and consume every message as one
//!    stream with `Client::messages()`;
//! 3. publish bytes through the `Publisher` sink, reading each outcome
//!    from its completion stream;
//! 4. stop everything with one `CancellationToken`.
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    mosquitto::ensure_installed()?;
    let broker = Broker::start(BrokerOptions::listeners(&[Listener::MutualTls]));
    let url = format!("mqtts://127.0.0.1:{}", broker.mtls_port());

    // The client certificate as gateways often have it: a PKCS#12 (.pfx)
    // file with a password, made here from the broker's test certificates
    // with openssl (as `openssl pkcs12 -export` does for a real one).
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

    let cancel = CancellationToken::new();

    // Every message of every filter, once each, as one stream.
    let mut inbound = client.messages();
    let _telemetry = client
        .subscribe_all(&["plant/+/temp", "plant/+/pressure"], QoS::AtLeastOnce)
        .await?;
    let _alarms = client.subscribe("plant/#", QoS::AtLeastOnce).await?;
    let consumer = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            let mut received = 0u32;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    msg = inbound.next() => match msg {
                        Some(msg) => {
                            received += 1;
                            if received % 250 == 0 {
                                println!("streaming: received {received}, latest {msg}");
                            }
                        }
                        None => break,
                    },
                }
            }
            received
        }
    });

    // Publish bytes through the sink; outcomes come on their own stream.
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
    let acked = outcomes.await?;
    println!("streaming: {acked} of {MESSAGES} publishes acknowledged");

    // Give the last messages time to arrive, then cancel the consumer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    cancel.cancel();
    let received = consumer.await?;
    println!("streaming: received {received} messages (each once, though plant/# overlaps)");
    client.disconnect().await?;
    drop(broker);
    if acked != MESSAGES || received != MESSAGES {
        return Err("not every message made the round trip".into());
    }
    Ok(())
}
