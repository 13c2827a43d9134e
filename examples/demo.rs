//! The main job, end to end on one machine:
//!
//! 1. installs mosquitto if it is missing (Debian, as root);
//! 2. generates a CA, a server certificate and a client certificate, and
//!    starts a private mosquitto on free loopback ports with a TLS and a
//!    mutual-TLS listener;
//! 3. connects over `mqtts://` with the client certificate, subscribes, and
//!    publishes and receives at QoS 0, 1 and 2, printing what happens;
//! 4. stops the broker.
//!
//! ```text
//! cargo run --example demo
//! ```

#[path = "../tests/support/mosquitto.rs"]
mod mosquitto;

use mosquitto::{Broker, BrokerOptions, Listener};
use std::time::{Duration, Instant};
use tern_mqtt::client::Subscription;
use tern_mqtt::codec::{ProtocolVersion, QoS};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::TopicName;
use tern_mqtt::{Client, ConnectOptions};

type BoxError = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    mosquitto::ensure_installed()?;
    let broker = Broker::start(BrokerOptions::listeners(&[
        Listener::Tls,
        Listener::MutualTls,
    ]));
    println!(
        "demo: mosquitto running (pid {}) with TLS on 127.0.0.1:{} and mutual TLS on 127.0.0.1:{}",
        broker.pid().unwrap_or(0),
        broker.tls_port(),
        broker.mtls_port()
    );
    println!("demo: certificates generated in {}", broker.dir().display());
    for version in [ProtocolVersion::V5, ProtocolVersion::V311] {
        run_version(&broker, version).await?;
    }
    drop(broker);
    println!("\ndemo: broker stopped; done");
    Ok(())
}

/// Connects with the client certificate at `version`, subscribes, and
/// publishes and receives one message at each QoS.
async fn run_version(broker: &Broker, version: ProtocolVersion) -> Result<(), BoxError> {
    let url = format!("mqtts://127.0.0.1:{}", broker.mtls_port());
    let options = ConnectOptions::new(&url)?
        .version(version)
        .client_id(&format!("tern-demo-{version:?}").to_lowercase())
        .ca_file(broker.ca_path())
        .client_cert_files(broker.client_cert_path(), broker.client_key_path());
    let started = Instant::now();
    let client = Client::connect(options).await?;
    println!(
        "\ndemo: connected to {url} as MQTT {version:?} with a client certificate in {:?}",
        started.elapsed()
    );
    let mut sub = client.subscribe("demo/+/reading", QoS::ExactlyOnce).await?;
    println!(
        "demo: subscribed to demo/+/reading, granted {:?}",
        sub.results()
    );
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        publish_and_receive(&client, &mut sub, version, qos).await?;
    }
    client.disconnect().await?;
    println!("demo: disconnected");
    Ok(())
}

/// Publishes one reading at `qos` (with a user property on 5.0), waits
/// for its outcome, and prints it as the subscription receives it.
async fn publish_and_receive(
    client: &Client,
    sub: &mut Subscription,
    version: ProtocolVersion,
    qos: QoS,
) -> Result<(), BoxError> {
    let topic = format!("demo/sensor{}/reading", qos as u8);
    let mut cmd = PublishCommand::new(
        TopicName::new(&topic)?,
        format!("{} degrees", 20 + qos as u8),
        qos,
    );
    if version == ProtocolVersion::V5 {
        cmd = cmd.user_property("unit", "celsius")?;
    }
    let sent = Instant::now();
    let outcome = client.publish_command(cmd).await?;
    println!(
        "demo: published {topic} at {qos:?}; done with {} after {:?}",
        outcome.reason_code,
        sent.elapsed()
    );
    let msg = tokio::time::timeout(Duration::from_secs(10), sub.recv())
        .await?
        .ok_or("subscription closed")?;
    println!(
        "demo: received {} = {:?} at {:?}{}",
        msg.topic,
        String::from_utf8_lossy(&msg.payload),
        msg.qos,
        if msg.properties.user_properties.is_empty() {
            String::new()
        } else {
            format!(" with user properties {:?}", msg.properties.user_properties)
        }
    );
    Ok(())
}
