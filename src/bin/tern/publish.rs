//! `tern pub`: publish one message, a file, or one message per line of stdin.

use crate::common::{
    connect, describe, failed, parse_qos, parse_topic, parse_user_property, usage, CliError,
    ConnArgs,
};
use crate::pipeline::Pipeline;
use bytes::Bytes;
use clap::{ArgGroup, Args};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tern_mqtt::codec::{MqttString, ProtocolVersion, PublishProperties, QoS, UserProperty};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::TopicName;
use tern_mqtt::Client;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Arguments of `tern pub`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("source").required(true).args(["message", "file", "stdin_lines", "null_message"])))]
pub struct PubArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Topic to publish to.
    #[arg(short = 't', long, value_parser = parse_topic)]
    pub topic: TopicName,
    /// The message payload.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Send the contents of a file as the payload.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Publish one message per line of standard input.
    #[arg(short = 'l', long)]
    pub stdin_lines: bool,
    /// Send an empty payload.
    #[arg(short = 'n', long)]
    pub null_message: bool,
    /// Quality of service: 0, 1 or 2.
    #[arg(short = 'q', long, value_parser = parse_qos, default_value = "0")]
    pub qos: QoS,
    /// Ask the broker to retain the message.
    #[arg(short = 'r', long)]
    pub retain: bool,
    /// v5 user property (repeatable).
    #[arg(long = "user-property", value_name = "KEY=VALUE", value_parser = parse_user_property, help_heading = "MQTT 5 properties")]
    pub user_properties: Vec<UserProperty>,
    /// v5 content type (MIME type of the payload).
    #[arg(long, value_name = "TYPE", help_heading = "MQTT 5 properties")]
    pub content_type: Option<String>,
    /// v5 response topic.
    #[arg(long, value_name = "TOPIC", value_parser = parse_topic, help_heading = "MQTT 5 properties")]
    pub response_topic: Option<TopicName>,
    /// v5 correlation data (its bytes as given).
    #[arg(long, value_name = "DATA", help_heading = "MQTT 5 properties")]
    pub correlation_data: Option<String>,
    /// v5 message expiry interval in seconds.
    #[arg(long, value_name = "SECS", help_heading = "MQTT 5 properties")]
    pub message_expiry: Option<u32>,
    /// v5 payload format indicator: the payload is UTF-8 text.
    #[arg(long, help_heading = "MQTT 5 properties")]
    pub payload_format_utf8: bool,
}

impl PubArgs {
    fn properties(&self) -> Result<PublishProperties, CliError> {
        let mut p = PublishProperties::default();
        let mut v5_only = Vec::new();
        if !self.user_properties.is_empty() {
            v5_only.push("--user-property");
            p.user_properties = self.user_properties.clone();
        }
        if let Some(ct) = &self.content_type {
            v5_only.push("--content-type");
            p.content_type = Some(
                MqttString::try_from(ct.as_str())
                    .map_err(|e| usage(format!("--content-type: {e}")))?,
            );
        }
        if let Some(rt) = &self.response_topic {
            v5_only.push("--response-topic");
            p.response_topic = Some(rt.clone());
        }
        if let Some(cd) = &self.correlation_data {
            v5_only.push("--correlation-data");
            p.correlation_data = Some(Bytes::from(cd.clone().into_bytes()));
        }
        if let Some(secs) = self.message_expiry {
            v5_only.push("--message-expiry");
            p.message_expiry_interval = Some(secs);
        }
        if self.payload_format_utf8 {
            v5_only.push("--payload-format-utf8");
            p.payload_format_indicator = Some(true);
        }
        if self.conn.version == ProtocolVersion::V311 {
            if let Some(first) = v5_only.first() {
                return Err(usage(format!("{first} needs MQTT 5 (-V 5)")));
            }
        }
        Ok(p)
    }

    fn command(&self, payload: Bytes, properties: &PublishProperties) -> PublishCommand {
        let mut cmd =
            PublishCommand::new(self.topic.clone(), payload, self.qos).retain(self.retain);
        cmd.properties = properties.clone();
        cmd
    }

    fn check_utf8(&self, payload: &[u8]) -> Result<(), CliError> {
        if self.payload_format_utf8 && std::str::from_utf8(payload).is_err() {
            return Err(failed(
                "--payload-format-utf8 was given but the payload is not valid UTF-8",
            ));
        }
        Ok(())
    }
}

/// Runs `tern pub`.
pub async fn run(args: PubArgs) -> Result<(), CliError> {
    let properties = args.properties()?;
    // Read the payload before connecting, so a bad file fails early.
    let single = if let Some(m) = &args.message {
        Some(Bytes::from(m.clone().into_bytes()))
    } else if let Some(path) = &args.file {
        let data = std::fs::read(path).map_err(|e| {
            failed(format!(
                "cannot read {}: {}",
                path.display(),
                crate::common::describe_io(&e)
            ))
        })?;
        Some(Bytes::from(data))
    } else if args.null_message {
        Some(Bytes::new())
    } else {
        None
    };
    if let Some(payload) = &single {
        args.check_utf8(payload)?;
    }
    let client = connect(args.conn.options(false, "")?).await?;
    let result = match single {
        Some(payload) => client
            .publish_command(args.command(payload, &properties))
            .await
            .map(drop)
            .map_err(|e| {
                failed(format!(
                    "publish to {} failed: {}",
                    args.topic,
                    describe(&e)
                ))
            }),
        None => publish_lines(&client, &args, &properties).await,
    };
    let _ = client.disconnect().await;
    result
}

/// One publish per line of stdin, pipelined, in order.
async fn publish_lines(
    client: &Client,
    args: &PubArgs,
    properties: &PublishProperties,
) -> Result<(), CliError> {
    let fail = |e: tern_mqtt::Error| {
        failed(format!(
            "publish to {} failed: {}",
            args.topic,
            describe(&e)
        ))
    };
    let mut pipeline = Pipeline::new(client.clone(), 512, Arc::new(AtomicU64::new(0)));
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = stdin.read_until(b'\n', &mut line).await.map_err(|e| {
            failed(format!(
                "cannot read stdin: {}",
                crate::common::describe_io(&e)
            ))
        })?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        args.check_utf8(&line)?;
        pipeline
            .send(args.command(Bytes::copy_from_slice(&line), properties))
            .await
            .map_err(fail)?;
    }
    pipeline.finish().await.map_err(fail)
}
