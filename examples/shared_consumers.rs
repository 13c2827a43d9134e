//! Scaling consumers with a shared subscription: N consumer processes
//! subscribe to `$share/workers/jobs/#` at QoS 1 and drain one topic
//! together; each message goes to exactly one of them, and the total
//! equals what was published.
//!
//! The example starts a private mosquitto on a free port, runs itself N
//! times as consumer processes, publishes the jobs, and counts what each
//! consumer reports on its standard output.
//!
//! ```text
//! cargo run --example shared_consumers            # 3 consumers, 3,000 jobs
//! cargo run --example shared_consumers -- 5 10000
//! ```

#[path = "../tests/support/mosquitto.rs"]
mod mosquitto;

use mosquitto::{Broker, BrokerOptions};
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;
use tern_mqtt::prelude::*;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let (Some("consumer"), Some(url), Some(index)) =
        (args.get(1).map(String::as_str), args.get(2), args.get(3))
    {
        return consume(url, index).await;
    }
    let consumers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let jobs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3_000);
    mosquitto::ensure_installed()?;
    let broker = Broker::start(BrokerOptions::plain());
    let url = format!("mqtt://127.0.0.1:{}", broker.plain_port());
    println!("shared_consumers: mosquitto on {url}; {consumers} consumers, {jobs} jobs");
    run(&url, consumers, jobs).await
}

/// Starts the consumers, publishes the jobs, and checks the total.
async fn run(url: &str, consumers: usize, jobs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
    let children = spawn_consumers(url, consumers, &tx)?;
    // Every consumer says "ready" once subscribed.
    let mut ready = 0;
    while ready < consumers {
        match rx.recv().await {
            Some((_, line)) if line == "ready" => ready += 1,
            Some(_) => {}
            None => return Err("a consumer ended early".into()),
        }
    }
    let publisher = Client::connect(ConnectOptions::new(url)?.client_id("jobs-publisher")).await?;
    for n in 0..jobs {
        publisher
            .publish(
                &format!("jobs/{}", n % 7),
                n.to_string(),
                QoS::AtLeastOnce,
                false,
            )
            .await?;
    }
    publisher.disconnect().await?;
    // Each job reported once, by one consumer.
    let mut seen = HashSet::new();
    let mut per_consumer = vec![0usize; consumers];
    while seen.len() < jobs {
        let (i, line) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await?
            .ok_or("the consumers ended before every job arrived")?;
        let job: usize = line.parse()?;
        if !seen.insert(job) {
            return Err(format!("job {job} was delivered twice").into());
        }
        if let Some(n) = per_consumer.get_mut(i) {
            *n += 1;
        }
    }
    for (i, n) in per_consumer.iter().enumerate() {
        println!("shared_consumers: consumer {i} took {n} jobs");
    }
    let total: usize = per_consumer.iter().sum();
    println!("shared_consumers: {total} of {jobs} jobs, each exactly once");
    drop(children);
    Ok(())
}

/// Starts `consumers` consumer processes (this program again); each line
/// one prints goes to `tx` with its index.
fn spawn_consumers(
    url: &str,
    consumers: usize,
    tx: &tokio::sync::mpsc::UnboundedSender<(usize, String)>,
) -> Result<Vec<tokio::process::Child>, Box<dyn std::error::Error>> {
    let me = std::env::current_exe()?;
    let mut children = Vec::new();
    for i in 0..consumers {
        let mut child = tokio::process::Command::from(Command::new(&me))
            .args(["consumer", url, &i.to_string()])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send((i, line));
            }
        });
        children.push(child);
    }
    Ok(children)
}

/// One consumer process: subscribes to the shared group and prints each
/// job it receives, one per line.
async fn consume(url: &str, index: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client =
        Client::connect(ConnectOptions::new(url)?.client_id(&format!("worker-{index}"))).await?;
    let mut jobs = client
        .subscribe("$share/workers/jobs/#", QoS::AtLeastOnce)
        .await?;
    println!("ready");
    while let Some(job) = jobs.recv().await {
        println!("{}", String::from_utf8_lossy(&job.payload));
    }
    Ok(())
}
