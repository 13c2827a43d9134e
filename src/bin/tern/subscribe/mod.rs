//! `tern sub`: subscribe and print messages, as mosquitto_sub (plain, -v,
//! -F formats, --json lines).

mod format;
mod json;
mod output;
mod receive;

pub use json::to_json;

use crate::common::{connect, describe, failed, parse_qos, usage, CliError};
use crate::conn::ConnArgs;
use crate::props::{Properties, SUB_COMMANDS};
use clap::Args;
use tern_mqtt::client::Subscription;
use tern_mqtt::codec::{ProtocolVersion, QoS, SubscribeProperties, SubscriptionOptions};
use tern_mqtt::topic::TopicFilter;
use tern_mqtt::Client;

/// Arguments of `tern sub`.
#[derive(Args, Debug)]
pub struct SubArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Topic filter to subscribe to (repeatable; or the path of -L).
    #[arg(
        short = 't',
        long = "topic",
        value_name = "FILTER",
        help_heading = "Subscription"
    )]
    pub topics: Vec<String>,
    /// Maximum QoS of the subscriptions: 0, 1 or 2.
    #[arg(short = 'q', long, value_parser = parse_qos, default_value = "0", help_heading = "Subscription")]
    pub qos: QoS,
    /// Unsubscribe from this filter after subscribing (repeatable; for a
    /// persistent session's old subscriptions).
    #[arg(
        short = 'U',
        long = "unsubscribe",
        value_name = "FILTER",
        help_heading = "Subscription"
    )]
    pub unsubscribe: Vec<String>,
    /// Exit once the broker acknowledged the subscriptions.
    #[arg(
        short = 'E',
        long = "exit-after-subscribe",
        help_heading = "Subscription"
    )]
    pub exit_after_subscribe: bool,
    /// v5 subscription identifier attached to matching messages.
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(u32).range(1..=268_435_455),
          help_heading = "Subscription")]
    pub subscription_id: Option<u32>,
    /// v5: do not receive messages this connection publishes.
    #[arg(long, help_heading = "Subscription")]
    pub no_local: bool,
    /// Exit after this many messages.
    #[arg(short = 'C', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          help_heading = "Messages")]
    pub count: Option<u64>,
    /// Stop after this many seconds: "Timed out", exit code 27 (as mosquitto).
    #[arg(short = 'W', long = "timeout", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..),
          help_heading = "Messages")]
    pub timeout: Option<u64>,
    /// Do not print stale (retained) messages.
    #[arg(short = 'R', long = "no-retained", help_heading = "Messages")]
    pub no_retained: bool,
    /// Only handle retained messages; exit at the first one that is not.
    #[arg(long, help_heading = "Messages")]
    pub retained_only: bool,
    /// Clear each retained message received (a retained empty publish).
    #[arg(long, help_heading = "Messages")]
    pub remove_retained: bool,
    /// Ignore messages whose topic matches this filter (repeatable).
    #[arg(
        short = 'T',
        long = "filter-out",
        value_name = "FILTER",
        help_heading = "Messages"
    )]
    pub filter_out: Vec<String>,
    /// Print only this percentage of the messages, chosen at random.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent, help_heading = "Messages")]
    pub random_filter: Option<f64>,
    /// Print "topic payload" instead of the payload alone.
    #[arg(short = 'v', long, help_heading = "Output format")]
    pub verbose: bool,
    /// Output format: %t topic, %p payload, %j JSON... (see the README).
    #[arg(
        short = 'F',
        long = "format",
        value_name = "FORMAT",
        conflicts_with = "verbose",
        help_heading = "Output format"
    )]
    pub format: Option<String>,
    /// Do not add an end of line after each message.
    #[arg(short = 'N', long = "no-eol", help_heading = "Output format")]
    pub no_eol: bool,
    /// Indent the JSON of -F %j / %J.
    #[arg(long, help_heading = "Output format")]
    pub pretty: bool,
    /// One JSON object per message and line: topic, qos, retain,
    /// properties, and payload (UTF-8) or payload_base64.
    #[arg(long, conflicts_with_all = ["verbose", "format"], help_heading = "Output format")]
    pub json: bool,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("expected a percentage from 0 to 100, got {s:?}")),
    }
}

impl SubArgs {
    /// The filters of -t and -L, with their options and properties.
    fn filters(
        &self,
        version: ProtocolVersion,
        props: &Properties,
    ) -> Result<(Vec<(TopicFilter, SubscriptionOptions)>, SubscribeProperties), CliError> {
        let v5 = version == ProtocolVersion::V5;
        if !v5 && self.subscription_id.is_some() {
            return Err(usage("--subscription-id needs MQTT 5 (-V 5)"));
        }
        if !v5 && self.no_local {
            return Err(usage("--no-local needs MQTT 5 (-V 5)"));
        }
        let mut topics = self.topics.clone();
        topics.extend(self.conn.url_topic()?);
        if topics.is_empty() && self.unsubscribe.is_empty() && !self.conn.persistent {
            return Err(usage(
                "a topic filter is needed: -t FILTER (or -L mqtt://host/FILTER)",
            ));
        }
        let mut filters = Vec::with_capacity(topics.len());
        for t in &topics {
            let filter = parse_filter(t)?;
            let mut options = SubscriptionOptions::qos(self.qos);
            options.no_local = self.no_local;
            filters.push((filter, options));
        }
        let mut properties = props.subscribe.clone();
        if let Some(id) = self.subscription_id {
            properties.subscription_identifier = std::num::NonZeroU32::new(id);
        }
        Ok((filters, properties))
    }
}

/// A topic filter, or a usage error naming it.
fn parse_filter(t: &str) -> Result<TopicFilter, CliError> {
    TopicFilter::new(t).map_err(|e| usage(format!("topic filter {t:?}: {e}")))
}

/// Runs `tern sub`.
pub async fn run(args: SubArgs) -> Result<(), CliError> {
    let version = args.conn.version_or(ProtocolVersion::V311);
    let props = Properties::parse(&args.conn.properties, version, SUB_COMMANDS)?;
    let (filters, properties) = args.filters(version, &props)?;
    let out = output::Output::new(&args)?;
    let filter_out = args
        .filter_out
        .iter()
        .map(|t| parse_filter(t))
        .collect::<Result<Vec<_>, _>>()?;
    for t in &args.unsubscribe {
        parse_filter(t)?;
    }
    let client = connect(args.conn.options(version, &props, true, "")?).await?;
    // The subscription lives until after the DISCONNECT: dropped before,
    // it would be unsubscribed, and a persistent session (-c) lose it.
    let mut sub = None;
    let result = match subscribe(&client, filters, properties, &args.unsubscribe).await {
        Ok(s) if args.exit_after_subscribe => {
            sub = s;
            Ok(())
        }
        Ok(s) => {
            sub = s;
            let mut r = receive::Receiver::new(&args, out, filter_out, client.clone());
            r.run(&mut sub).await
        }
        Err(e) => Err(e),
    };
    let _ = client.disconnect().await;
    drop(sub);
    result
}

/// SUBSCRIBE (when there are filters), then UNSUBSCRIBE for -U.
async fn subscribe(
    client: &Client,
    filters: Vec<(TopicFilter, SubscriptionOptions)>,
    properties: SubscribeProperties,
    unsubscribe: &[String],
) -> Result<Option<Subscription>, CliError> {
    let sub = if filters.is_empty() {
        None
    } else {
        let sub = client
            .subscribe_many(filters, properties)
            .await
            .map_err(|e| failed(format!("subscribe failed: {}", describe(&e))))?;
        for ((filter, _), result) in sub.filters().iter().zip(sub.results()) {
            if let Err(code) = result {
                crate::common::note(format_args!(
                    "warning: the broker refused the subscription to {filter}: {code}"
                ));
            }
        }
        Some(sub)
    };
    if !unsubscribe.is_empty() {
        let list: Vec<&str> = unsubscribe.iter().map(String::as_str).collect();
        client
            .unsubscribe(&list)
            .await
            .map_err(|e| failed(format!("unsubscribe failed: {}", describe(&e))))?;
    }
    Ok(sub)
}
