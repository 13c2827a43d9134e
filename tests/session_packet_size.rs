//! The session engine: maximum packet size, ours and the server's.
//!
//! Driven only through the engine's public inputs and outputs against the
//! scripted broker double (`support/session_double.rs`), on virtual time;
//! every test ends with `Double::assert_completions`: each command that
//! returned `Ok(id)` got exactly one completion event.

#[path = "support/session_double.rs"]
mod double;

use bytes::Bytes;
#[allow(unused_imports)]
use double::packets::*;
#[allow(unused_imports)]
use double::*;
use std::num::NonZeroU32;
use tern_mqtt::codec::{
    ConnAckProperties, DecodeError, DisconnectProperties, Packet, Publish, QoS, ReasonCode,
};
use tern_mqtt::session::{Initiator, ProtocolError};

#[test]
fn incoming_packet_above_our_maximum_is_0x95() {
    let mut c = config(V5);
    c.maximum_packet_size = 64;
    let mut d = Double::new(c);
    assert_eq!(d.open().properties.maximum_packet_size, NonZeroU32::new(64));
    d.server(Packet::ConnAck(Box::new(connack(false))));
    d.events();
    let mut p = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: Some(topic("in/1")),
        packet_id: None,
        properties: Default::default(),
        payload: Bytes::from(vec![7u8; 100]),
    };
    d.server(Packet::Publish(p.clone()));
    let error = assert_protocol_close(&mut d, ReasonCode::PACKET_TOO_LARGE);
    assert!(
        matches!(
            error,
            ProtocolError::Decode(DecodeError::PacketTooLarge { max: 64, .. })
        ),
        "{error:?}"
    );
    // One that fits is fine on a new connection.
    d.drop_transport();
    d.connect();
    p.payload = Bytes::from_static(b"small");
    d.server(Packet::Publish(p));
    assert_eq!(messages(&d.events()).len(), 1);
    d.assert_completions();
}

#[test]
fn disconnect_drops_reason_string_and_user_properties_beyond_the_server_maximum() {
    let long = DisconnectProperties {
        reason_string: Some(s(&"r".repeat(100))),
        user_properties: vec![(s("key"), s(&"v".repeat(100)))],
        ..Default::default()
    };
    let short = DisconnectProperties {
        reason_string: Some(s("bye")),
        ..Default::default()
    };
    for (props, kept) in [(long, false), (short, true)] {
        let mut d = Double::new(config(V5));
        d.connect_with(connack_with(ConnAckProperties {
            maximum_packet_size: NonZeroU32::new(64),
            ..Default::default()
        }));
        d.session
            .disconnect(d.now, ReasonCode::SUCCESS, props.clone())
            .unwrap();
        let sent = d.sent();
        let [Packet::Disconnect(x)] = &sent[..] else {
            panic!("{sent:?}")
        };
        assert_eq!(x.reason_code, ReasonCode::SUCCESS);
        if kept {
            assert_eq!(x.properties, props);
        } else {
            assert_eq!(x.properties.reason_string, None, "[MQTT-3.14.2-3]");
            assert!(x.properties.user_properties.is_empty(), "[MQTT-3.14.2-4]");
        }
        let info = disconnected(&d.events());
        assert_eq!(info.initiator, Initiator::Local);
        d.assert_completions();
    }
}
