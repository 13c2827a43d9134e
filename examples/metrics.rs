//! Metrics end to end: installs the Prometheus recorder of
//! `metrics-exporter-prometheus` (the library itself only records through
//! the `metrics` facade), starts a private mosquitto on a free port,
//! publishes and receives a few messages at each QoS, and prints what a
//! Prometheus scrape would see.
//!
//! ```text
//! cargo run --example metrics
//! ```
//!
//! In a service, use `PrometheusBuilder::new().install()` instead (with the
//! exporter's default `http-listener` feature) to serve `/metrics`.

#[path = "../tests/support/mosquitto.rs"]
mod mosquitto;

use metrics_exporter_prometheus::PrometheusBuilder;
use mosquitto::{Broker, BrokerOptions};
use tern_mqtt::codec::QoS;
use tern_mqtt::{Client, ConnectOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let broker = Broker::start(BrokerOptions::plain());
    let url = format!("mqtt://127.0.0.1:{}", broker.plain_port());
    let client = Client::connect(ConnectOptions::new(&url)?.client_id("metrics-example")).await?;
    let mut readings = client.subscribe("example/#", QoS::ExactlyOnce).await?;
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        client
            .publish(&format!("example/{i}"), format!("reading {i}"), qos, false)
            .await?;
        readings.recv().await.ok_or("the subscription ended")?;
    }
    client.disconnect().await?;
    for line in prometheus.render().lines() {
        if line.starts_with("tern_") {
            println!("{line}");
        }
    }
    Ok(())
}
