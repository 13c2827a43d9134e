//! The session engine: subscriptions: SUBACK and UNSUBACK per filter, subscription identifiers, acks that do not match.
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
use std::num::NonZeroU32;
use tern_mqtt::codec::{
    AckProperties, Packet, PublishProperties, QoS, ReasonCode, RetainHandling, SubscribeProperties,
    SubscriptionOptions, UnsubAck, UnsubscribeProperties,
};
use tern_mqtt::session::{ActiveSubscription, CommandError, Event, ProtocolError};

#[test]
fn suback_gives_per_filter_results_and_remembers_what_was_granted() {
    let mut d = Double::new(config(V5));
    d.connect();
    let opts = SubscriptionOptions {
        qos: QoS::ExactlyOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: RetainHandling::SendAtSubscribeIfNew,
    };
    let properties = SubscribeProperties {
        subscription_identifier: NonZeroU32::new(42),
        user_properties: vec![(s("k"), s("v"))],
    };
    let req = d
        .subscribe(
            vec![
                (filter("a/+"), opts),
                (filter("b/#"), SubscriptionOptions::qos(QoS::AtLeastOnce)),
                (filter("c"), SubscriptionOptions::qos(QoS::AtMostOnce)),
            ],
            properties.clone(),
        )
        .unwrap();
    let sent = d.sent();
    let [Packet::Subscribe(sub)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(sub.properties, properties);
    assert_eq!(sub.filters[0].1, opts);
    d.server(suback(
        sub.packet_id,
        vec![
            ReasonCode::GRANTED_QOS_1,
            ReasonCode::NOT_AUTHORIZED,
            ReasonCode::GRANTED_QOS_0,
        ],
    ));
    assert_eq!(
        d.events(),
        vec![Event::SubscribeDone {
            id: req,
            result: Ok(vec![
                Ok(QoS::AtLeastOnce),
                Err(ReasonCode::NOT_AUTHORIZED),
                Ok(QoS::AtMostOnce)
            ])
        }]
    );
    let active = d.session.subscriptions();
    assert_eq!(active.len(), 2, "the refused filter is not active");
    assert_eq!(
        active.get(&filter("a/+")),
        Some(&ActiveSubscription {
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..opts
            },
            subscription_id: NonZeroU32::new(42),
            requested_qos: opts.qos,
        }),
        "options kept, QoS capped to the granted one"
    );
    assert_eq!(
        active.get(&filter("c")).map(|a| a.options.qos),
        Some(QoS::AtMostOnce)
    );
    assert!(!active.contains_key(&filter("b/#")));
    assert!(!d.session.is_packet_id_in_use(sub.packet_id));
    d.assert_completions();
}

#[test]
fn subscription_identifiers_on_incoming_publish_are_attached_to_the_message() {
    let mut d = Double::new(config(V5));
    d.connect();
    let ids = vec![NonZeroU32::new(3).unwrap(), NonZeroU32::new(70000).unwrap()];
    d.server(incoming(
        Some("in/1"),
        QoS::AtLeastOnce,
        1,
        PublishProperties {
            subscription_identifiers: ids.clone(),
            ..Default::default()
        },
    ));
    let m = messages(&d.events());
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].subscription_ids(), &ids[..]);
    d.assert_completions();
}

#[test]
fn unsuback_gives_per_filter_results_and_removes_what_was_unsubscribed() {
    let mut d = Double::new(config(V5));
    d.connect();
    let q1 = SubscriptionOptions::qos(QoS::AtLeastOnce);
    d.subscribe(
        vec![(filter("a"), q1), (filter("b"), q1), (filter("c"), q1)],
        Default::default(),
    )
    .unwrap();
    let sent = d.sent();
    let [Packet::Subscribe(sub)] = &sent[..] else {
        panic!()
    };
    d.server(suback(sub.packet_id, vec![ReasonCode::GRANTED_QOS_1; 3]));
    d.events();
    let req = d
        .unsubscribe(
            vec![filter("a"), filter("b"), filter("zzz")],
            UnsubscribeProperties::default(),
        )
        .unwrap();
    let sent = d.sent();
    let [Packet::Unsubscribe(u)] = &sent[..] else {
        panic!("{sent:?}")
    };
    let codes = vec![
        ReasonCode::SUCCESS,
        ReasonCode::NOT_AUTHORIZED,
        ReasonCode::NO_SUBSCRIPTION_EXISTED,
    ];
    d.server(Packet::UnsubAck(UnsubAck {
        packet_id: u.packet_id,
        properties: AckProperties::default(),
        reason_codes: codes.clone(),
    }));
    assert_eq!(
        d.events(),
        vec![Event::UnsubscribeDone {
            id: req,
            result: Ok(codes)
        }]
    );
    let active: Vec<_> = d
        .session
        .subscriptions()
        .keys()
        .map(|f| f.to_string())
        .collect();
    assert_eq!(active, vec!["b", "c"], "a removed; b refused so kept");
    d.assert_completions();
}

#[test]
fn v311_unsuback_gives_success_per_filter() {
    let mut d = Double::new(config(V311));
    d.connect();
    let q0 = SubscriptionOptions::qos(QoS::AtMostOnce);
    d.subscribe(
        vec![(filter("a"), q0), (filter("b"), q0)],
        Default::default(),
    )
    .unwrap();
    let sent = d.sent();
    let [Packet::Subscribe(sub)] = &sent[..] else {
        panic!()
    };
    d.server(suback(
        sub.packet_id,
        vec![ReasonCode::GRANTED_QOS_0, ReasonCode::V311_SUBACK_FAILURE],
    ));
    assert!(
        matches!(&d.events()[..], [Event::SubscribeDone { result: Ok(r), .. }] if r == &vec![Ok(QoS::AtMostOnce), Err(ReasonCode::V311_SUBACK_FAILURE)])
    );
    let req = d
        .unsubscribe(vec![filter("a"), filter("b")], Default::default())
        .unwrap();
    let sent = d.sent();
    let [Packet::Unsubscribe(u)] = &sent[..] else {
        panic!()
    };
    d.server(Packet::UnsubAck(UnsubAck {
        packet_id: u.packet_id,
        properties: AckProperties::default(),
        reason_codes: Vec::new(),
    }));
    assert_eq!(
        d.events(),
        vec![Event::UnsubscribeDone {
            id: req,
            result: Ok(vec![ReasonCode::SUCCESS, ReasonCode::SUCCESS])
        }]
    );
    assert!(d.session.subscriptions().is_empty());
    d.assert_completions();
}

#[test]
fn suback_with_the_wrong_number_of_codes_is_a_protocol_error() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        let q1 = SubscriptionOptions::qos(QoS::AtLeastOnce);
        let req = d
            .subscribe(
                vec![(filter("a"), q1), (filter("b"), q1)],
                Default::default(),
            )
            .unwrap();
        let sent = d.sent();
        let [Packet::Subscribe(sub)] = &sent[..] else {
            panic!()
        };
        d.server(suback(sub.packet_id, vec![ReasonCode::GRANTED_QOS_1]));
        let events = d.events();
        assert!(
            matches!(&events[0], Event::SubscribeDone { id, result: Err(CommandError::Invalid(_)) } if *id == req),
            "{events:?}"
        );
        // Put the events back through the checks of a protocol close.
        let info = disconnected(&events);
        assert_eq!(info.reason_code, Some(ReasonCode::PROTOCOL_ERROR));
        assert!(matches!(
            info.error,
            Some(ProtocolError::Violation {
                spec: "MQTT-3.8.4-6",
                ..
            })
        ));
        match v {
            V5 => assert_eq!(disconnect_reason(&d.sent()), ReasonCode::PROTOCOL_ERROR),
            V311 => assert!(d.sent().is_empty()),
        }
        assert!(d.session.subscriptions().is_empty());
        d.assert_completions();
    }
}

#[test]
fn suback_for_an_unsubscribe_is_a_protocol_error_and_the_unsubscribe_still_completes() {
    let mut d = Double::new(config(V5));
    d.connect();
    let req = d
        .unsubscribe(vec![filter("a")], Default::default())
        .unwrap();
    let sent = d.sent();
    let [Packet::Unsubscribe(u)] = &sent[..] else {
        panic!()
    };
    d.server(suback(u.packet_id, vec![ReasonCode::GRANTED_QOS_0]));
    assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
    d.session.handle_transport_closed(d.now);
    d.open();
    d.server(Packet::ConnAck(Box::new(connack(false))));
    let sent = d.sent();
    let [Packet::Unsubscribe(again)] = &sent[..] else {
        panic!("sent again: {sent:?}")
    };
    d.server(Packet::UnsubAck(UnsubAck {
        packet_id: again.packet_id,
        properties: AckProperties::default(),
        reason_codes: vec![ReasonCode::SUCCESS],
    }));
    let events = d.events();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::UnsubscribeDone { id, result: Ok(_) } if *id == req)));
    d.assert_completions();
}
