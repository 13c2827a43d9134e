//! A one-line summary of a packet for packet traces (`tern -d`, the
//! `tern_mqtt::packet` tracing target): type, flags, packet id, topic,
//! sizes and properties, in the spirit of mosquitto's debug lines.
//!
//! Never the password, authentication data, correlation data or payload
//! bytes: only their sizes.
//!
//! ```
//! use tern_mqtt::codec::{PacketSummary, Publish, QoS};
//! use tern_mqtt::topic::TopicName;
//!
//! let p = Publish {
//!     dup: false,
//!     qos: QoS::AtMostOnce,
//!     retain: true,
//!     topic: Some(TopicName::new("a/b").unwrap()),
//!     packet_id: None,
//!     properties: Default::default(),
//!     payload: "hello".into(),
//! };
//! let line = PacketSummary::publish(&p, 14).to_string();
//! assert_eq!(line, "PUBLISH (d0, q0, r1, 'a/b', 5 bytes payload) 14 bytes");
//! ```

use super::{
    AckProperties, Connect, ConnectProperties, MqttString, Packet, Publish, PublishProperties,
    UserProperty, WillProperties,
};
use std::fmt::{self, Display, Formatter, Write as _};

/// The tracing target of the packet trace events the session emits, one
/// per packet sent or received, at level TRACE.
pub const PACKET_TARGET: &str = "tern_mqtt::packet";

/// What [`PacketSummary`] describes.
#[derive(Debug, Clone, Copy)]
enum Subject<'a> {
    Packet(&'a Packet),
    Publish(&'a Publish),
}

/// A packet, summarised for a trace line by its `Display`.
#[derive(Debug, Clone, Copy)]
pub struct PacketSummary<'a> {
    subject: Subject<'a>,
    size: usize,
}

impl<'a> PacketSummary<'a> {
    /// A summary of `packet`, which is `size` bytes on the wire.
    pub fn packet(packet: &'a Packet, size: usize) -> Self {
        PacketSummary {
            subject: Subject::Packet(packet),
            size,
        }
    }

    /// A summary of a PUBLISH, which is `size` bytes on the wire.
    pub fn publish(publish: &'a Publish, size: usize) -> Self {
        PacketSummary {
            subject: Subject::Publish(publish),
            size,
        }
    }
}

impl Display for PacketSummary<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.subject {
            Subject::Publish(p) => publish(f, p)?,
            Subject::Packet(p) => packet(f, p)?,
        }
        write!(f, " {} bytes", self.size)
    }
}

fn packet(f: &mut Formatter<'_>, p: &Packet) -> fmt::Result {
    let name = p.name();
    match p {
        Packet::Connect(c) => connect(f, c),
        Packet::ConnAck(a) => connack(f, a),
        Packet::Publish(p) => publish(f, p),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            write!(f, "{name} (m{}, {})", a.packet_id, a.reason_code)?;
            ack_props(&a.properties).write(f)
        }
        Packet::Subscribe(s) => subscribe(f, s),
        Packet::SubAck(a) => codes(f, name, a.packet_id, &a.reason_codes, &a.properties),
        Packet::Unsubscribe(u) => {
            write!(f, "UNSUBSCRIBE (m{}", u.packet_id)?;
            for filter in &u.filters {
                write!(f, ", '{filter}'")?;
            }
            f.write_char(')')?;
            let mut props = Props::default();
            props.users(&u.properties.user_properties);
            props.write(f)
        }
        Packet::UnsubAck(a) => codes(f, name, a.packet_id, &a.reason_codes, &a.properties),
        Packet::PingReq(_) | Packet::PingResp(_) => f.write_str(name),
        Packet::Disconnect(d) => disconnect(f, d),
        Packet::Auth(a) => auth(f, a),
    }
}

fn connack(f: &mut Formatter<'_>, a: &super::ConnAck) -> fmt::Result {
    write!(
        f,
        "CONNACK (sp{}, {})",
        u8::from(a.session_present),
        a.reason_code
    )?;
    let mut props = Props::default();
    let q = &a.properties;
    props.opt("session_expiry", q.session_expiry_interval);
    props.opt("receive_max", q.receive_maximum);
    props.opt("max_qos", q.maximum_qos.map(|q| q as u8));
    props.opt("retain_available", q.retain_available);
    props.opt("max_packet_size", q.maximum_packet_size);
    props.text("assigned_client_id", q.assigned_client_identifier.as_ref());
    props.opt("topic_alias_max", q.topic_alias_maximum);
    props.text("reason", q.reason_string.as_ref());
    props.opt("server_keep_alive", q.server_keep_alive);
    props.text("server_reference", q.server_reference.as_ref());
    props.text("auth_method", q.authentication_method.as_ref());
    props.size("auth_data", q.authentication_data.as_ref().map(|d| d.len()));
    props.users(&q.user_properties);
    props.write(f)
}

fn subscribe(f: &mut Formatter<'_>, s: &super::Subscribe) -> fmt::Result {
    write!(f, "SUBSCRIBE (m{}", s.packet_id)?;
    for (filter, o) in &s.filters {
        write!(f, ", '{filter}' q{}", o.qos as u8)?;
        if o.no_local {
            f.write_str(" nl")?;
        }
        if o.retain_as_published {
            f.write_str(" rap")?;
        }
        write!(f, " rh{}", o.retain_handling as u8)?;
    }
    f.write_char(')')?;
    let mut props = Props::default();
    props.opt("subscription_id", s.properties.subscription_identifier);
    props.users(&s.properties.user_properties);
    props.write(f)
}

fn disconnect(f: &mut Formatter<'_>, d: &super::Disconnect) -> fmt::Result {
    write!(f, "DISCONNECT ({})", d.reason_code)?;
    let mut props = Props::default();
    let q = &d.properties;
    props.opt("session_expiry", q.session_expiry_interval);
    props.text("reason", q.reason_string.as_ref());
    props.text("server_reference", q.server_reference.as_ref());
    props.users(&q.user_properties);
    props.write(f)
}

fn auth(f: &mut Formatter<'_>, a: &super::Auth) -> fmt::Result {
    write!(f, "AUTH ({})", a.reason_code)?;
    let mut props = Props::default();
    let q = &a.properties;
    props.text("auth_method", q.authentication_method.as_ref());
    props.size("auth_data", q.authentication_data.as_ref().map(|d| d.len()));
    props.text("reason", q.reason_string.as_ref());
    props.users(&q.user_properties);
    props.write(f)
}

/// SUBACK and UNSUBACK: the id and one reason code per filter.
fn codes(
    f: &mut Formatter<'_>,
    name: &str,
    id: super::PacketId,
    codes: &[super::ReasonCode],
    properties: &AckProperties,
) -> fmt::Result {
    write!(f, "{name} (m{id}")?;
    for code in codes {
        write!(f, ", {code}")?;
    }
    f.write_char(')')?;
    ack_props(properties).write(f)
}

fn connect(f: &mut Formatter<'_>, c: &Connect) -> fmt::Result {
    write!(
        f,
        "CONNECT (v{}, c{}, k{}, '{}'",
        if c.protocol_version == super::ProtocolVersion::V5 {
            "5"
        } else {
            "3.1.1"
        },
        u8::from(c.clean_start),
        c.keep_alive,
        c.client_id.as_ref() as &str
    )?;
    if let Some(u) = &c.username {
        write!(f, ", u'{}'", u.as_ref() as &str)?;
    }
    if c.password.is_some() {
        // Never the password itself, nor its length.
        f.write_str(", p***")?;
    }
    if let Some(w) = &c.will {
        write!(
            f,
            ", will q{} r{} '{}' {} bytes payload",
            w.qos as u8,
            u8::from(w.retain),
            w.topic,
            w.payload.len()
        )?;
    }
    f.write_char(')')?;
    connect_props(&c.properties).write(f)?;
    if let Some(w) = &c.will {
        let props = will_props(&w.properties);
        if !props.0.is_empty() {
            f.write_str(" will")?;
            props.write(f)?;
        }
    }
    Ok(())
}

fn connect_props(q: &ConnectProperties) -> Props {
    let mut props = Props::default();
    props.opt("session_expiry", q.session_expiry_interval);
    props.opt("receive_max", q.receive_maximum);
    props.opt("max_packet_size", q.maximum_packet_size);
    props.opt("topic_alias_max", q.topic_alias_maximum);
    props.opt("request_response_info", q.request_response_information);
    props.opt("request_problem_info", q.request_problem_information);
    props.text("auth_method", q.authentication_method.as_ref());
    props.size("auth_data", q.authentication_data.as_ref().map(|d| d.len()));
    props.users(&q.user_properties);
    props
}

fn will_props(q: &WillProperties) -> Props {
    let mut props = Props::default();
    props.opt("will_delay", q.will_delay_interval);
    props.opt("payload_format_utf8", q.payload_format_indicator);
    props.opt("message_expiry", q.message_expiry_interval);
    props.text("content_type", q.content_type.as_ref());
    props.opt(
        "response_topic",
        q.response_topic.as_ref().map(|t| t.as_str()),
    );
    props.size(
        "correlation_data",
        q.correlation_data.as_ref().map(|d| d.len()),
    );
    props.users(&q.user_properties);
    props
}

fn publish(f: &mut Formatter<'_>, p: &Publish) -> fmt::Result {
    write!(
        f,
        "PUBLISH (d{}, q{}, r{}",
        u8::from(p.dup),
        p.qos as u8,
        u8::from(p.retain)
    )?;
    if let Some(id) = p.packet_id {
        write!(f, ", m{id}")?;
    }
    let topic = p.topic.as_ref().map(|t| t.as_str()).unwrap_or_default();
    write!(f, ", '{topic}', {} bytes payload)", p.payload.len())?;
    publish_props(&p.properties).write(f)
}

fn publish_props(q: &PublishProperties) -> Props {
    let mut props = Props::default();
    props.opt("payload_format_utf8", q.payload_format_indicator);
    props.opt("message_expiry", q.message_expiry_interval);
    props.opt("topic_alias", q.topic_alias);
    props.opt(
        "response_topic",
        q.response_topic.as_ref().map(|t| t.as_str()),
    );
    props.size(
        "correlation_data",
        q.correlation_data.as_ref().map(|d| d.len()),
    );
    props.text("content_type", q.content_type.as_ref());
    for id in &q.subscription_identifiers {
        props.opt("subscription_id", Some(id));
    }
    props.users(&q.user_properties);
    props
}

fn ack_props(q: &AckProperties) -> Props {
    let mut props = Props::default();
    props.text("reason", q.reason_string.as_ref());
    props.users(&q.user_properties);
    props
}

/// Properties as ` [name=value, ...]`, nothing when there are none.
#[derive(Default)]
struct Props(Vec<String>);

impl Props {
    fn opt(&mut self, name: &str, value: Option<impl Display>) {
        if let Some(v) = value {
            self.0.push(format!("{name}={v}"));
        }
    }

    fn text(&mut self, name: &str, value: Option<&MqttString>) {
        if let Some(v) = value {
            self.0.push(format!("{name}='{}'", v.as_ref() as &str));
        }
    }

    fn size(&mut self, name: &str, len: Option<usize>) {
        if let Some(n) = len {
            self.0.push(format!("{name}=<{n} bytes>"));
        }
    }

    fn users(&mut self, users: &[UserProperty]) {
        for (k, v) in users {
            self.0.push(format!(
                "user '{}'='{}'",
                k.as_ref() as &str,
                v.as_ref() as &str
            ));
        }
    }

    fn write(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(f, " [{}]", self.0.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{QoS, Will};
    use crate::topic::TopicName;
    use bytes::Bytes;

    #[test]
    fn connect_never_shows_the_password_or_will_payload() {
        let mut c = Connect {
            protocol_version: crate::codec::ProtocolVersion::V5,
            clean_start: true,
            keep_alive: 60,
            properties: ConnectProperties::default(),
            client_id: MqttString::try_from("id-1").unwrap(),
            will: Some(Will::new("w/t", "last-words", QoS::AtLeastOnce, true).unwrap()),
            username: Some(MqttString::try_from("alice").unwrap()),
            password: Some(Bytes::from_static(b"s3cret-pw")),
        };
        c.properties.authentication_data = Some(Bytes::from_static(b"tok3n"));
        c.properties.session_expiry_interval = Some(60);
        let line = PacketSummary::packet(&Packet::Connect(Box::new(c)), 50).to_string();
        assert!(
            !line.contains("s3cret") && !line.contains("last-words"),
            "{line}"
        );
        assert!(!line.contains("tok3n"), "{line}");
        assert!(
            line.contains("u'alice'") && line.contains("session_expiry=60"),
            "{line}"
        );
        assert!(line.contains("will q1 r1 'w/t' 10 bytes payload"), "{line}");
    }

    #[test]
    fn publish_shows_id_flags_and_properties_not_payload() {
        let mut p = Publish {
            dup: false,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic: Some(TopicName::new("t").unwrap()),
            packet_id: crate::codec::PacketId::new(7),
            properties: PublishProperties::default().into(),
            payload: Bytes::from_static(b"payload!"),
        };
        p.properties.correlation_data = Some(Bytes::from_static(b"corr"));
        p.properties.user_properties = vec![(
            MqttString::try_from("k").unwrap(),
            MqttString::try_from("v").unwrap(),
        )];
        let line = PacketSummary::publish(&p, 30).to_string();
        assert_eq!(
            line,
            "PUBLISH (d0, q2, r0, m7, 't', 8 bytes payload) \
             [correlation_data=<4 bytes>, user 'k'='v'] 30 bytes"
        );
    }
}
