//! `-F FORMAT`: mosquitto_sub's output format. `%` codes print parts of
//! the message, `@` codes the time of receipt (strftime's letters, in
//! UTC), `\` escapes print control characters. Codes tern cannot fill are
//! refused when the format is parsed, never printed empty.

use super::json;
use crate::common::{usage, CliError};
use std::time::SystemTime;
use tern_mqtt::client::Message;
use tern_mqtt::codec::{PublishProperties, QoS};
use time::OffsetDateTime;

/// What the formats print of a received message.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// The topic name.
    pub topic: &'a str,
    /// The payload.
    pub payload: &'a [u8],
    /// The QoS it was delivered at.
    pub qos: QoS,
    /// Whether it came retained.
    pub retain: bool,
    /// Its v5 properties.
    pub properties: &'a PublishProperties,
}

impl<'a> From<&'a Message> for Received<'a> {
    fn from(m: &'a Message) -> Self {
        Received {
            topic: m.topic.as_str(),
            payload: &m.payload,
            qos: m.qos,
            retain: m.retain,
            properties: &m.properties,
        }
    }
}

/// One piece of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    Message(char),
    Time(char),
}

/// A parsed -F format.
#[derive(Debug, Clone)]
pub struct Format {
    pieces: Vec<Piece>,
    pretty: bool,
}

const MESSAGE_CODES: &str = "%ACDEFIjJlPpqRrStxXU";
const TIME_CODES: &str = "@aAbBdeFHIjmMpSsTyYzZ";

impl Format {
    /// Parses `spec`; `pretty` indents %j and %J.
    pub fn parse(spec: &str, pretty: bool) -> Result<Format, CliError> {
        let mut pieces = Vec::new();
        let mut text = Vec::new();
        let mut chars = spec.chars();
        while let Some(c) = chars.next() {
            let piece = match c {
                '%' | '@' => {
                    let code = chars.next().unwrap_or(c);
                    let known = if c == '%' { MESSAGE_CODES } else { TIME_CODES };
                    if code == 'm' && c == '%' {
                        return Err(usage("-F %m is refused: tern does not expose the packet id of a received message"));
                    }
                    if !known.contains(code) {
                        return Err(usage(format!("-F: unknown code {c}{code}")));
                    }
                    match (c, code) {
                        ('%', '%') | ('@', '@') => Piece::Text(vec![code as u8]),
                        ('%', _) => Piece::Message(code),
                        _ => Piece::Time(code),
                    }
                }
                '\\' => Piece::Text(escape(chars.next())?),
                _ => Piece::Text(c.to_string().into_bytes()),
            };
            match piece {
                Piece::Text(t) => text.extend_from_slice(&t),
                other => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(other);
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Format { pieces, pretty })
    }

    /// The bytes to print for `msg`, received at `at`.
    pub fn render(&self, msg: Received<'_>, at: SystemTime) -> Vec<u8> {
        let when = OffsetDateTime::from(at);
        let mut out = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.extend_from_slice(t),
                Piece::Message(code) => self.message_code(&mut out, *code, msg, when),
                Piece::Time(code) => out.extend_from_slice(time_code(*code, when).as_bytes()),
            }
        }
        out
    }

    fn message_code(&self, out: &mut Vec<u8>, code: char, msg: Received<'_>, when: OffsetDateTime) {
        let p = &msg.properties;
        let text = match code {
            'p' => return out.extend_from_slice(msg.payload),
            'D' => return out.extend_from_slice(p.correlation_data.as_deref().unwrap_or_default()),
            'j' | 'J' => json::mosquitto(msg, when, code == 'J', self.pretty),
            't' => msg.topic.to_owned(),
            'q' => (msg.qos as u8).to_string(),
            'r' => u8::from(msg.retain).to_string(),
            'l' => msg.payload.len().to_string(),
            'x' => msg.payload.iter().map(|b| format!("{b:02x}")).collect(),
            'X' => msg.payload.iter().map(|b| format!("{b:02X}")).collect(),
            'I' => iso8601(when),
            'U' => format!("{}.{:09}", when.unix_timestamp(), when.nanosecond()),
            'A' => opt(p.topic_alias),
            'C' => p
                .content_type
                .as_ref()
                .map(|c| c.as_ref().to_owned())
                .unwrap_or_default(),
            'E' => opt(p.message_expiry_interval),
            'F' => opt(p.payload_format_indicator.map(u8::from)),
            'R' => opt(p.response_topic.as_ref()),
            'S' => join(p.subscription_identifiers.iter()),
            'P' => p
                .user_properties
                .iter()
                .map(|(k, v)| format!("{}:{}", k.as_ref() as &str, v.as_ref() as &str))
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        };
        out.extend_from_slice(text.as_bytes());
    }
}

fn opt(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn join<T: ToString>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(" ")
}

/// `\` escapes as mosquitto reads them.
fn escape(c: Option<char>) -> Result<Vec<u8>, CliError> {
    Ok(vec![match c {
        Some('\\') => b'\\',
        Some('0') => 0,
        Some('a') => 0x07,
        Some('e') => 0x1B,
        Some('n') => b'\n',
        Some('r') => b'\r',
        Some('t') => b'\t',
        Some('v') => 0x0B,
        Some(other) => return Err(usage(format!("-F: unknown escape \\{other}"))),
        None => return Err(usage("-F: a lone \\ at the end")),
    }])
}

/// `2016-08-10T09:47:38+0000`, as %I.
pub fn iso8601(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// One strftime letter, in UTC.
fn time_code(code: char, t: OffsetDateTime) -> String {
    let month = t.month().to_string();
    let weekday = t.weekday().to_string();
    match code {
        'Y' => format!("{:04}", t.year()),
        'y' => format!("{:02}", t.year().rem_euclid(100)),
        'm' => format!("{:02}", u8::from(t.month())),
        'd' => format!("{:02}", t.day()),
        'e' => format!("{:2}", t.day()),
        'H' => format!("{:02}", t.hour()),
        'I' => format!("{:02}", (t.hour() + 11) % 12 + 1),
        'p' => (if t.hour() < 12 { "AM" } else { "PM" }).to_owned(),
        'M' => format!("{:02}", t.minute()),
        'S' => format!("{:02}", t.second()),
        'j' => format!("{:03}", t.ordinal()),
        'z' => "+0000".to_owned(),
        'Z' => "UTC".to_owned(),
        's' => t.unix_timestamp().to_string(),
        'F' => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        'T' => format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()),
        'B' => month,
        'b' => month.chars().take(3).collect(),
        'A' => weekday,
        'a' => weekday.chars().take(3).collect(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_PROPERTIES: &PublishProperties = &PublishProperties::EMPTY;

    fn message(payload: &'static [u8]) -> Received<'static> {
        Received {
            topic: "a/b",
            payload,
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: NO_PROPERTIES,
        }
    }

    #[test]
    fn codes_escapes_and_time() {
        let f = Format::parse(r"%t %q%r %l %x %X %% @Y-@m-@d @@\t|%p", false).unwrap();
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400 * 365);
        let out = f.render(message(b"\x01\xab"), at);
        assert_eq!(out, b"a/b 11 2 01ab 01AB % 1971-01-01 @\t|\x01\xab");
        assert!(Format::parse("%m", false).is_err());
        assert!(Format::parse("%K", false).is_err());
        assert!(Format::parse("@Q", false).is_err());
        assert!(Format::parse("\\q", false).is_err());
    }
}
