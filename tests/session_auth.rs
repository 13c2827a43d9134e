//! The session engine: enhanced authentication and re-authentication.
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
use tern_mqtt::codec::{ConnAckProperties, Packet, ReasonCode};
use tern_mqtt::session::{CommandError, Event, ProtocolError};

#[test]
fn enhanced_auth_challenge_response_then_connack() {
    let (c, seen) = auth_config();
    let mut d = Double::new(c);
    let connect = d.open();
    assert_eq!(connect.properties.authentication_method, Some(s("REVERSE")));
    assert_eq!(
        connect.properties.authentication_data,
        Some(Bytes::from_static(b"hello"))
    );
    d.server(server_auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "REVERSE",
        Some(b"abc"),
    ));
    assert_eq!(
        d.sent(),
        vec![client_auth(
            ReasonCode::CONTINUE_AUTHENTICATION,
            Some(b"cba")
        )]
    );
    d.server(server_auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "REVERSE",
        Some(b"xy"),
    ));
    assert_eq!(
        d.sent(),
        vec![client_auth(
            ReasonCode::CONTINUE_AUTHENTICATION,
            Some(b"yx")
        )]
    );
    assert!(d.events().is_empty());
    d.server(auth_connack(ConnAckProperties::default()));
    assert!(matches!(&d.events()[..], [Event::Connected { .. }]));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            Some(Bytes::from_static(b"abc")),
            Some(Bytes::from_static(b"xy"))
        ]
    );
    d.assert_completions();
}

#[test]
fn auth_with_another_method_is_a_protocol_error() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(server_auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "OTHER",
        Some(b"abc"),
    ));
    let error = assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
    assert!(
        matches!(
            error,
            ProtocolError::Violation {
                spec: "MQTT-4.12.0-5",
                ..
            }
        ),
        "{error:?}"
    );
    d.assert_completions();
}

#[test]
fn connack_with_another_auth_method_is_a_protocol_error() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(Packet::ConnAck(Box::new(connack_with(ConnAckProperties {
        authentication_method: Some(s("OTHER")),
        ..Default::default()
    }))));
    assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
    d.assert_completions();
}

#[test]
fn authenticator_refusal_closes_with_0x87() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(server_auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "REVERSE",
        Some(b"refuse"),
    ));
    let error = assert_protocol_close(&mut d, ReasonCode::NOT_AUTHORIZED);
    assert_eq!(error, ProtocolError::Auth("refused".to_owned()));
    d.assert_completions();
}

#[test]
fn reauthentication_round_trip() {
    let (c, seen) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(auth_connack(ConnAckProperties::default()));
    d.events();
    let req = d.reauthenticate().unwrap();
    assert_eq!(
        d.sent(),
        vec![client_auth(ReasonCode::REAUTHENTICATE, Some(b"hello"))]
    );
    assert_eq!(d.reauthenticate(), Err(CommandError::AuthInProgress));
    assert!(!d.session.is_idle());
    d.server(server_auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "REVERSE",
        Some(b"123"),
    ));
    assert_eq!(
        d.sent(),
        vec![client_auth(
            ReasonCode::CONTINUE_AUTHENTICATION,
            Some(b"321")
        )]
    );
    assert!(d.events().is_empty());
    d.server(server_auth(ReasonCode::SUCCESS, "REVERSE", None));
    assert_eq!(
        d.events(),
        vec![Event::ReauthDone {
            id: req,
            result: Ok(())
        }]
    );
    assert!(d.sent().is_empty());
    assert!(d.session.is_idle());
    assert_eq!(seen.lock().unwrap().len(), 1);
    // A second one after the first finished is fine; a lost connection ends it.
    let again = d.reauthenticate().unwrap();
    d.sent();
    let events = d.drop_transport();
    assert_eq!(
        events[0],
        Event::ReauthDone {
            id: again,
            result: Err(CommandError::SessionLost)
        }
    );
    d.assert_completions();
}

#[test]
fn reauthentication_needs_v5_an_authenticator_and_a_connection() {
    let mut d = Double::new(config(V5));
    d.connect();
    assert_eq!(d.reauthenticate(), Err(CommandError::NoAuthMethod));
    d.assert_completions();
    let mut d = Double::new(config(V311));
    d.connect();
    assert!(matches!(d.reauthenticate(), Err(CommandError::NeedsV5(_))));
    d.assert_completions();
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    assert!(matches!(d.reauthenticate(), Err(CommandError::Invalid(_))));
    assert!(d.sent().is_empty() && d.events().is_empty());
    d.assert_completions();
}

#[test]
fn auth_without_a_configured_method_is_a_protocol_error() {
    // While connecting and once connected.
    for connected in [false, true] {
        let mut d = Double::new(config(V5));
        if connected {
            d.connect();
        } else {
            d.open();
        }
        d.server(server_auth(
            ReasonCode::CONTINUE_AUTHENTICATION,
            "ANY",
            Some(b"x"),
        ));
        let error = assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
        assert!(
            matches!(
                error,
                ProtocolError::Violation {
                    spec: "MQTT-4.12.0-6",
                    ..
                }
            ),
            "{error:?}"
        );
        d.assert_completions();
    }
}

#[test]
fn unsolicited_auth_success_is_a_protocol_error() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(auth_connack(ConnAckProperties::default()));
    d.events();
    d.server(server_auth(ReasonCode::SUCCESS, "REVERSE", None));
    assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
    d.assert_completions();
}

#[test]
fn connack_without_the_connect_auth_method_is_a_protocol_error() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    // [MQTT-4.12.0-5]: a successful CONNACK repeats the CONNECT's method.
    d.server(Packet::ConnAck(Box::new(connack(false))));
    assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
    d.assert_completions();
}

#[test]
fn an_auth_answer_larger_than_the_server_maximum_is_not_sent() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(auth_connack(ConnAckProperties {
        maximum_packet_size: std::num::NonZeroU32::new(20),
        ..Default::default()
    }));
    d.events();
    let _ = d.session.reauthenticate(d.now);
    // [MQTT-3.2.2-15]: the AUTH (method + data, 22 bytes) exceeds 20.
    let sent = d.sent();
    assert!(
        !sent.iter().any(|p| matches!(p, Packet::Auth(_))),
        "{sent:?}"
    );
    assert!(d.session.wants_close());
}
