//! A message pipeline: subscribe to `sensors/+/temperature`, convert each
//! reading from Celsius to Fahrenheit, and publish the result to
//! `fahrenheit/{sensor}` at QoS 1.
//!
//! ```text
//! cargo run --example pipeline -- mqtt://localhost:1883 [count]
//! ```
//! It stops after `count` messages (default: runs until Ctrl-C).

use tern_mqtt::codec::QoS;
use tern_mqtt::{Client, ConnectOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mqtt://localhost:1883".to_owned());
    let limit: Option<usize> = std::env::args().nth(2).and_then(|n| n.parse().ok());
    let client = Client::connect(ConnectOptions::new(&url)?.client_id("tern-pipeline")).await?;
    let mut readings = client
        .subscribe("sensors/+/temperature", QoS::AtLeastOnce)
        .await?;
    println!("pipeline: subscribed to sensors/+/temperature on {url}");
    let mut done = 0usize;
    while let Some(msg) = readings.recv().await {
        let sensor = msg.topic.split('/').nth(1).unwrap_or("unknown").to_owned();
        let text = String::from_utf8_lossy(&msg.payload);
        let Ok(celsius) = text.trim().parse::<f64>() else {
            eprintln!(
                "pipeline: skipping non-numeric reading {text:?} on {}",
                msg.topic
            );
            continue;
        };
        let fahrenheit = celsius * 9.0 / 5.0 + 32.0;
        let out = format!("fahrenheit/{sensor}");
        let outcome = client
            .publish(&out, format!("{fahrenheit:.1}"), QoS::AtLeastOnce, false)
            .await?;
        println!(
            "pipeline: {} {celsius} C -> {out} {fahrenheit:.1} F ({})",
            msg.topic, outcome.reason_code
        );
        done += 1;
        if limit.is_some_and(|l| done >= l) {
            break;
        }
    }
    client.disconnect().await?;
    Ok(())
}
