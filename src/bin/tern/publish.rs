//! `tern pub`: publish a message, a file, the whole of stdin or one
//! message per line of stdin, as mosquitto_pub.

use crate::common::{
    connect, describe, describe_io, failed, parse_qos, parse_seconds, parse_topic,
    parse_user_property, usage, CliError,
};
use crate::conn::ConnArgs;
use crate::pipeline::Pipeline;
use crate::props::{Properties, PUB_COMMANDS};
use bytes::Bytes;
use clap::{ArgGroup, Args};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tern_mqtt::codec::{MqttString, ProtocolVersion, PublishProperties, QoS, UserProperty};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::TopicName;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Arguments of `tern pub`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("source").required(true)
    .args(["message", "file", "stdin_lines", "stdin_file", "null_message"])))]
pub struct PubArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Topic to publish to (or the path of an mqtt:// -L URL).
    #[arg(short = 't', long, value_parser = parse_topic, help_heading = "Message")]
    pub topic: Option<TopicName>,
    /// The message payload.
    #[arg(short = 'm', long, help_heading = "Message")]
    pub message: Option<String>,
    /// Send the contents of a file as the payload.
    #[arg(short = 'f', long, value_name = "FILE", help_heading = "Message")]
    pub file: Option<PathBuf>,
    /// Publish one message per line of standard input.
    #[arg(short = 'l', long, help_heading = "Message")]
    pub stdin_lines: bool,
    /// Publish the whole of standard input as one message.
    #[arg(short = 's', long, help_heading = "Message")]
    pub stdin_file: bool,
    /// Send a null (zero length) message.
    #[arg(short = 'n', long, help_heading = "Message")]
    pub null_message: bool,
    /// Quality of service: 0, 1 or 2.
    #[arg(short = 'q', long, value_parser = parse_qos, default_value = "0", help_heading = "Message")]
    pub qos: QoS,
    /// Ask the broker to retain the message.
    #[arg(short = 'r', long, help_heading = "Message")]
    pub retain: bool,
    /// Publish the message (-m, -f, -s, -n) N times.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..),
          help_heading = "Message")]
    pub repeat: u64,
    /// Seconds (decimals allowed) between repeated publishes.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "0",
          help_heading = "Message")]
    pub repeat_delay: Duration,
    /// Most QoS 1/2 messages awaiting their acknowledgement at once.
    #[arg(short = 'M', long = "max-inflight", value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=65_535), help_heading = "Session")]
    pub max_inflight: u64,
    /// v5 user property (repeatable; as -D publish user-property).
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
    /// The PUBLISH properties: -D publish, then the named flags.
    fn properties(
        &self,
        version: ProtocolVersion,
        base: PublishProperties,
    ) -> Result<PublishProperties, CliError> {
        let mut p = base;
        let mut v5_only = Vec::new();
        if !self.user_properties.is_empty() {
            v5_only.push("--user-property");
            p.user_properties
                .extend(self.user_properties.iter().cloned());
        }
        if let Some(ct) = &self.content_type {
            v5_only.push("--content-type");
            let ct = MqttString::try_from(ct.as_str())
                .map_err(|e| usage(format!("--content-type: {e}")))?;
            p.content_type = Some(ct);
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
        match v5_only.first() {
            Some(first) if version == ProtocolVersion::V311 => {
                Err(usage(format!("{first} needs MQTT 5 (-V 5)")))
            }
            _ => Ok(p),
        }
    }

    /// -t, or the topic of the -L URL.
    fn topic(&self) -> Result<TopicName, CliError> {
        if let Some(t) = &self.topic {
            return Ok(t.clone());
        }
        match self.conn.url_topic()? {
            Some(t) => parse_topic(&t).map_err(|e| usage(format!("topic of -L: {e}"))),
            None => Err(usage("a topic is needed: -t TOPIC or -L mqtt://host/TOPIC")),
        }
    }

    /// The payload of -m, -f, -s or -n; `None` for -l.
    fn single_payload(&self) -> Result<Option<Bytes>, CliError> {
        let payload = if let Some(m) = &self.message {
            Bytes::from(m.clone().into_bytes())
        } else if let Some(path) = &self.file {
            let data = std::fs::read(path).map_err(|e| {
                failed(format!(
                    "cannot read {}: {}",
                    path.display(),
                    describe_io(&e)
                ))
            })?;
            Bytes::from(data)
        } else if self.stdin_file {
            let mut data = Vec::new();
            std::io::stdin()
                .read_to_end(&mut data)
                .map_err(|e| failed(format!("cannot read stdin: {}", describe_io(&e))))?;
            Bytes::from(data)
        } else if self.null_message {
            Bytes::new()
        } else {
            return Ok(None);
        };
        self.check_utf8(&payload)?;
        Ok(Some(payload))
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

/// What each PUBLISH is made of.
struct Template {
    topic: TopicName,
    qos: QoS,
    retain: bool,
    properties: PublishProperties,
}

impl Template {
    fn command(&self, payload: Bytes) -> PublishCommand {
        let mut cmd =
            PublishCommand::new(self.topic.clone(), payload, self.qos).retain(self.retain);
        cmd.properties = self.properties.clone().into();
        cmd
    }
}

/// Runs `tern pub`.
pub async fn run(args: PubArgs) -> Result<(), CliError> {
    let version = args.conn.version_or(ProtocolVersion::V311);
    let props = Properties::parse(&args.conn.properties, version, PUB_COMMANDS)?;
    let template = Template {
        topic: args.topic()?,
        qos: args.qos,
        retain: args.retain,
        properties: args.properties(version, props.publish.clone())?,
    };
    if args.stdin_lines && args.repeat > 1 {
        return Err(usage("--repeat applies to -m, -f, -s and -n, not to -l"));
    }
    // Read the payload before connecting, so a bad file fails early.
    let single = args.single_payload()?;
    let client = connect(args.conn.options(version, &props, false, "")?).await?;
    let window = usize::try_from(args.max_inflight).unwrap_or(20);
    let mut pipeline = Pipeline::new(client.clone(), window, Arc::new(AtomicU64::new(0)));
    let result = match single {
        Some(payload) => publish_repeated(&mut pipeline, &args, &template, payload).await,
        None => publish_lines(&mut pipeline, &args, &template).await,
    };
    let result = match result {
        Ok(()) => pipeline
            .finish()
            .await
            .map_err(|e| publish_failed(&template, &e)),
        Err(e) => Err(e),
    };
    let _ = client.disconnect().await;
    result
}

fn publish_failed(template: &Template, e: &tern_mqtt::Error) -> CliError {
    failed(format!(
        "publish to {} failed: {}",
        template.topic,
        describe(e)
    ))
}

/// One payload, --repeat times, --repeat-delay apart.
async fn publish_repeated(
    pipeline: &mut Pipeline,
    args: &PubArgs,
    template: &Template,
    payload: Bytes,
) -> Result<(), CliError> {
    for i in 0..args.repeat {
        if i > 0 && !args.repeat_delay.is_zero() {
            tokio::time::sleep(args.repeat_delay).await;
        }
        pipeline
            .send(template.command(payload.clone()))
            .await
            .map_err(|e| publish_failed(template, &e))?;
    }
    Ok(())
}

/// One publish per line of stdin, pipelined, in order.
async fn publish_lines(
    pipeline: &mut Pipeline,
    args: &PubArgs,
    template: &Template,
) -> Result<(), CliError> {
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = stdin
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| failed(format!("cannot read stdin: {}", describe_io(&e))))?;
        if n == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        args.check_utf8(&line)?;
        pipeline
            .send(template.command(Bytes::copy_from_slice(&line)))
            .await
            .map_err(|e| publish_failed(template, &e))?;
    }
}
