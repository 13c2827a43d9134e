//! `-D COMMAND IDENTIFIER VALUE`: MQTT 5 properties by mosquitto's names,
//! for CONNECT, PUBLISH, SUBSCRIBE and the will. Properties the library
//! cannot send are refused with the reason.

use crate::common::{usage, CliError};
use bytes::Bytes;
use std::num::NonZeroU32;
use tern_mqtt::client::ConnectOptions;
use tern_mqtt::codec::{
    MqttString, ProtocolVersion, PublishProperties, SubscribeProperties, UserProperty,
    WillProperties,
};
use tern_mqtt::topic::TopicName;

/// One CONNECT property.
#[derive(Debug, Clone)]
enum ConnectProperty {
    SessionExpiry(u32),
    ReceiveMaximum(u16),
    MaximumPacketSize(u32),
    TopicAliasMaximum(u16),
    RequestResponseInformation(bool),
    RequestProblemInformation(bool),
    User(UserProperty),
}

/// The properties of every -D, by the packet they go on.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    connect: Vec<ConnectProperty>,
    /// PUBLISH properties.
    pub publish: PublishProperties,
    /// SUBSCRIBE properties.
    pub subscribe: SubscribeProperties,
    /// Will properties.
    pub will: WillProperties,
}

/// Which -D commands a subcommand takes (mosquitto_pub: no subscribe;
/// mosquitto_sub: no publish).
pub const PUB_COMMANDS: &[&str] = &["connect", "publish", "will"];
/// The -D commands of `tern sub`.
pub const SUB_COMMANDS: &[&str] = &["connect", "subscribe", "will"];

impl Properties {
    /// Parses every -D group; `allowed` are the commands of this subcommand.
    pub fn parse(
        groups: &[Vec<String>],
        version: ProtocolVersion,
        allowed: &[&str],
    ) -> Result<Properties, CliError> {
        let mut props = Properties::default();
        if !groups.is_empty() && version != ProtocolVersion::V5 {
            return Err(usage("-D needs MQTT 5 (-V 5)"));
        }
        for group in groups {
            let [command, identifier, values @ ..] = group.as_slice() else {
                return Err(usage("-D takes COMMAND IDENTIFIER VALUE"));
            };
            let what = format!("-D {command} {identifier}");
            if matches!(command.as_str(), "unsubscribe" | "disconnect" | "auth") {
                return Err(usage(format!(
                    "{what}: refused: tern sends no properties on {}",
                    command.to_uppercase()
                )));
            }
            if !allowed.contains(&command.as_str()) {
                return Err(usage(format!(
                    "{what}: this subcommand takes -D for {}",
                    allowed.join(", ")
                )));
            }
            props.add(command, identifier, values, &what)?;
        }
        Ok(props)
    }

    fn add(
        &mut self,
        command: &str,
        id: &str,
        values: &[String],
        what: &str,
    ) -> Result<(), CliError> {
        if id == "user-property" {
            let [name, value] = values else {
                return Err(usage(format!("{what} takes NAME VALUE")));
            };
            let pair = (mqtt_string(name, what)?, mqtt_string(value, what)?);
            match command {
                "connect" => self.connect.push(ConnectProperty::User(pair)),
                "publish" => self.publish.user_properties.push(pair),
                "subscribe" => self.subscribe.user_properties.push(pair),
                _ => self.will.user_properties.push(pair),
            }
            return Ok(());
        }
        let [value] = values else {
            return Err(usage(format!("{what} takes one VALUE")));
        };
        match command {
            "connect" => self.add_connect(id, value, what),
            "publish" => add_message(&mut self.publish, id, value, what),
            "subscribe" => match id {
                "subscription-identifier" => {
                    let n: u32 = number(value, what)?;
                    let id = NonZeroU32::new(n)
                        .filter(|n| n.get() <= 268_435_455)
                        .ok_or_else(|| usage(format!("{what}: 1 to 268435455")))?;
                    self.subscribe.subscription_identifier = Some(id);
                    Ok(())
                }
                _ => Err(unknown(what)),
            },
            _ => self.add_will(id, value, what),
        }
    }

    fn add_connect(&mut self, id: &str, value: &str, what: &str) -> Result<(), CliError> {
        let p = match id {
            "session-expiry-interval" => ConnectProperty::SessionExpiry(number(value, what)?),
            "receive-maximum" => ConnectProperty::ReceiveMaximum(number(value, what)?),
            "maximum-packet-size" => ConnectProperty::MaximumPacketSize(number(value, what)?),
            "topic-alias-maximum" => ConnectProperty::TopicAliasMaximum(number(value, what)?),
            "request-response-information" => {
                ConnectProperty::RequestResponseInformation(flag(value, what)?)
            }
            "request-problem-information" => {
                ConnectProperty::RequestProblemInformation(flag(value, what)?)
            }
            "authentication-method" | "authentication-data" => {
                return Err(usage(format!(
                    "{what}: refused: enhanced authentication needs an authenticator (library API)"
                )))
            }
            _ => return Err(unknown(what)),
        };
        self.connect.push(p);
        Ok(())
    }

    fn add_will(&mut self, id: &str, value: &str, what: &str) -> Result<(), CliError> {
        if id == "will-delay-interval" {
            self.will.will_delay_interval = Some(number(value, what)?);
            return Ok(());
        }
        let mut p = PublishProperties::default();
        add_message(&mut p, id, value, what)?;
        let w = &mut self.will;
        w.payload_format_indicator = p.payload_format_indicator.or(w.payload_format_indicator);
        w.message_expiry_interval = p.message_expiry_interval.or(w.message_expiry_interval);
        w.content_type = p.content_type.or(w.content_type.take());
        w.response_topic = p.response_topic.or(w.response_topic.take());
        w.correlation_data = p.correlation_data.or(w.correlation_data.take());
        Ok(())
    }

    /// Whether any -D will property was given.
    pub fn has_will(&self) -> bool {
        self.will != WillProperties::default()
    }

    /// The CONNECT properties on `opts`.
    pub fn apply_connect(&self, mut opts: ConnectOptions) -> ConnectOptions {
        for p in &self.connect {
            opts = match p {
                ConnectProperty::SessionExpiry(s) => opts.session_expiry(*s),
                ConnectProperty::ReceiveMaximum(n) => opts.receive_maximum(*n),
                ConnectProperty::MaximumPacketSize(n) => opts.maximum_packet_size(*n),
                ConnectProperty::TopicAliasMaximum(n) => opts.topic_alias_maximum(*n),
                ConnectProperty::RequestResponseInformation(b) => {
                    opts.session_config_mut().request_response_information = *b;
                    opts
                }
                ConnectProperty::RequestProblemInformation(b) => {
                    opts.session_config_mut().request_problem_information = *b;
                    opts
                }
                ConnectProperty::User(pair) => opts.user_property_pair(pair.clone()),
            };
        }
        opts
    }
}

/// The message properties PUBLISH and the will share.
fn add_message(
    p: &mut PublishProperties,
    id: &str,
    value: &str,
    what: &str,
) -> Result<(), CliError> {
    match id {
        "payload-format-indicator" => p.payload_format_indicator = Some(flag(value, what)?),
        "message-expiry-interval" => p.message_expiry_interval = Some(number(value, what)?),
        "content-type" => p.content_type = Some(mqtt_string(value, what)?),
        "response-topic" => {
            let t = TopicName::new(value).map_err(|e| usage(format!("{what}: {e}")))?;
            p.response_topic = Some(t);
        }
        "correlation-data" => p.correlation_data = Some(Bytes::from(value.to_owned().into_bytes())),
        "topic-alias" => {
            return Err(usage(format!(
                "{what}: refused: tern assigns topic aliases itself, up to the broker's maximum"
            )))
        }
        _ => return Err(unknown(what)),
    }
    Ok(())
}

fn unknown(what: &str) -> CliError {
    usage(format!(
        "{what}: not a property of that packet (mosquitto's names, e.g. content-type)"
    ))
}

fn number<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, CliError> {
    value
        .parse()
        .map_err(|_| usage(format!("{what}: {value:?} is not a number in range")))
}

fn flag(value: &str, what: &str) -> Result<bool, CliError> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(usage(format!("{what}: 0 or 1, not {value:?}"))),
    }
}

fn mqtt_string(value: &str, what: &str) -> Result<MqttString, CliError> {
    MqttString::try_from(value).map_err(|e| usage(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn properties_go_to_their_packet_and_unsendable_ones_are_refused() {
        let groups = vec![
            group(&["publish", "content-type", "text/plain"]),
            group(&["publish", "user-property", "k", "v"]),
            group(&["will", "will-delay-interval", "5"]),
            group(&["connect", "receive-maximum", "10"]),
        ];
        let p = Properties::parse(&groups, ProtocolVersion::V5, PUB_COMMANDS).unwrap();
        assert_eq!(
            p.publish.content_type.as_ref().map(|c| c.as_ref() as &str),
            Some("text/plain")
        );
        assert_eq!(p.publish.user_properties.len(), 1);
        assert_eq!(p.will.will_delay_interval, Some(5));
        let refused = [
            group(&["publish", "topic-alias", "1"]),
            group(&["disconnect", "session-expiry-interval", "1"]),
            group(&["subscribe", "subscription-identifier", "1"]),
        ];
        for g in refused {
            assert!(Properties::parse(&[g], ProtocolVersion::V5, PUB_COMMANDS).is_err());
        }
        assert!(Properties::parse(&groups, ProtocolVersion::V311, PUB_COMMANDS).is_err());
    }
}
