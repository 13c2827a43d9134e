//! The session engine: server disconnects and protocol errors: malformed bytes, packets a server never sends, acks of the wrong kind, packets before CONNACK.
//!
//! Driven only through the engine's public inputs and outputs against the
//! scripted broker double (`support/session_double.rs`), on virtual time;
//! every test ends with `Double::assert_completions`: each command that
//! returned `Ok(id)` got exactly one completion event.

#[path = "support/session_double.rs"]
mod double;

#[allow(unused_imports)]
use double::packets::*;
#[allow(unused_imports)]
use double::*;
use tern_mqtt::codec::{
    DecodeError, Disconnect, DisconnectProperties, Packet, QoS, ReasonCode, Subscribe,
    SubscriptionOptions,
};
use tern_mqtt::session::{Initiator, ProtocolError};

#[test]
fn server_disconnect_with_server_reference_is_reported() {
    let mut d = Double::new(config(V5));
    d.connect();
    let properties = DisconnectProperties {
        reason_string: Some(s("go elsewhere")),
        server_reference: Some(s("other.example:1883")),
        ..Default::default()
    };
    d.server(Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::USE_ANOTHER_SERVER,
        properties: properties.clone(),
    }));
    assert!(d.sent().is_empty(), "no answer to a DISCONNECT");
    assert!(d.session.wants_close());
    let info = disconnected(&d.events());
    assert_eq!(info.initiator, Initiator::Remote);
    assert_eq!(info.reason_code, Some(ReasonCode::USE_ANOTHER_SERVER));
    assert_eq!(
        info.properties.server_reference,
        Some(s("other.example:1883"))
    );
    assert_eq!(info.properties, properties);
    assert_eq!(info.error, None);
    d.assert_completions();
}

#[test]
fn malformed_bytes_close_with_0x81() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.publish(msg(QoS::AtLeastOnce)).unwrap();
        d.sent();
        // PUBACK with a Remaining Length of 1: too short for a packet id.
        d.server_bytes(&[0x40, 0x01, 0x00]);
        let error = assert_protocol_close(&mut d, ReasonCode::MALFORMED_PACKET);
        assert!(
            matches!(error, ProtocolError::Decode(DecodeError::Malformed { .. })),
            "{error:?}"
        );
        // Bytes after the end are dropped; nothing else happens.
        d.server_bytes(&[0x40, 0x02, 0x00, 0x01]);
        assert!(d.events().is_empty() && d.sent().is_empty());
        // The publish is still pending (Resend policy) and completes on disconnect.
        assert_eq!(d.session.inflight(), 1);
        d.assert_completions();
    }
}

#[test]
fn client_to_server_packets_from_the_server_close_with_0x82() {
    let from_server = [
        Packet::Subscribe(Subscribe {
            packet_id: pid(1),
            properties: Default::default(),
            filters: vec![(filter("a"), SubscriptionOptions::qos(QoS::AtMostOnce))],
        }),
        Packet::PingReq(tern_mqtt::codec::PingReq),
    ];
    for v in BOTH {
        for packet in from_server.clone() {
            let mut d = Double::new(config(v));
            d.connect();
            d.server(packet);
            let error = assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
            assert!(matches!(error, ProtocolError::Violation { .. }));
            d.assert_completions();
        }
    }
}

#[test]
fn puback_for_a_qos2_exchange_is_a_protocol_error() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.publish(msg(QoS::ExactlyOnce)).unwrap();
        let id = only_publish_id(&d.sent());
        d.server(puback(id));
        assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
        d.assert_completions();
    }
}

#[test]
fn a_packet_before_connack_is_a_protocol_error() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.open();
        d.server(incoming(
            Some("in/1"),
            QoS::AtMostOnce,
            0,
            Default::default(),
        ));
        assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
        d.assert_completions();
    }
}
