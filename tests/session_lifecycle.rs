//! The connection lifecycle: what the session does by itself across
//! connections (restoring subscriptions, settling QoS 2 exchanges the server
//! lost, giving up on publishes the server keeps closing on, skipping
//! oversized messages, the graceful disconnect), on virtual time.

#[path = "support/session_double.rs"]
mod double;

use bytes::Bytes;
use double::packets::{filter, pid, publish_full, pubrec, suback, topic};
use double::{config, connack, msg, Double, BOTH};
use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;
use tern_mqtt::codec::{
    AckProperties, ConnAckProperties, Disconnect, Packet, ProtocolVersion, Publish, PublishAck,
    PublishProperties, QoS, ReasonCode, SubscribeProperties, SubscriptionOptions,
};
use tern_mqtt::session::{
    CommandError, ConnectionState, Event, Initiator, PublishAcked, RequestId, SessionLostPolicy,
};
use tern_mqtt::topic::TopicFilter;

fn publish_done(events: &[Event]) -> Vec<(RequestId, Result<PublishAcked, CommandError>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PublishDone { id, result } => Some((*id, result.clone())),
            _ => None,
        })
        .collect()
}

/// A session that keeps its session state across connections.
fn persistent(version: ProtocolVersion) -> Double {
    let mut c = config(version);
    c.session_expiry_interval = 3600;
    c.clean_start = version == ProtocolVersion::V5;
    Double::new(c)
}

/// Publishes a QoS 2 message and takes it to PUBCOMP awaited.
fn qos2_at_pubcomp(d: &mut Double) -> RequestId {
    let req = d.publish(msg(QoS::ExactlyOnce)).unwrap();
    let Packet::Publish(p) = d.sent().remove(0) else {
        panic!("expected the PUBLISH")
    };
    let id = p.packet_id.unwrap();
    d.server(pubrec(id));
    assert_eq!(d.sent(), vec![Packet::PubRel(PublishAck::new(id))]);
    req
}

// ----- 2. QoS 2 whose PUBREC arrived is never sent again -----

#[test]
fn qos2_after_pubrec_completes_as_delivered_when_session_not_present() {
    for policy in [SessionLostPolicy::Resend, SessionLostPolicy::Fail] {
        for v in BOTH {
            let mut d = persistent(v);
            d.session.config_mut().session_lost_policy = policy;
            d.connect();
            let req = qos2_at_pubcomp(&mut d);
            d.drop_transport();
            d.open();
            d.server(Packet::ConnAck(Box::new(connack(false))));
            let events = d.events();
            assert_eq!(
                publish_done(&events),
                vec![(
                    req,
                    Ok(PublishAcked {
                        reason_code: ReasonCode::SUCCESS,
                        properties: AckProperties::default(),
                        pubcomp_lost: true,
                    })
                )],
                "{policy:?} {v:?}"
            );
            assert!(d.sent().is_empty(), "neither PUBLISH nor PUBREL again");
            assert_eq!(d.session.packet_ids_in_use(), 0);
            assert!(d.session.is_idle());
            d.assert_completions();
        }
    }
}

#[test]
fn qos2_after_pubrec_completes_as_delivered_when_session_not_kept_under_fail() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.session.config_mut().session_lost_policy = SessionLostPolicy::Fail;
        d.connect();
        let q2 = qos2_at_pubcomp(&mut d);
        let q1 = d.publish(msg(QoS::AtLeastOnce)).unwrap();
        let events = d.drop_transport();
        assert_eq!(
            publish_done(&events),
            vec![
                (
                    q2,
                    Ok(PublishAcked {
                        reason_code: ReasonCode::SUCCESS,
                        properties: AckProperties::default(),
                        pubcomp_lost: true,
                    })
                ),
                (q1, Err(CommandError::SessionLost)),
            ],
            "{v:?}"
        );
        assert_eq!(d.session.packet_ids_in_use(), 0);
    }
}

#[test]
fn qos2_before_pubrec_is_still_resent_as_new_when_session_not_present() {
    let mut d = persistent(ProtocolVersion::V5);
    d.connect();
    let req = d.publish(msg(QoS::ExactlyOnce)).unwrap();
    d.sent();
    d.drop_transport();
    d.open();
    d.server(Packet::ConnAck(Box::new(connack(false))));
    assert!(publish_done(&d.events()).is_empty());
    assert!(matches!(&d.sent()[..], [Packet::Publish(p)] if !p.dup && p.qos == QoS::ExactlyOnce));
    assert_eq!(d.session.inflight(), 1, "{req:?} awaits its new PUBREC");
}

// ----- 7. The graceful disconnect -----

#[test]
fn disconnect_when_idle_sends_disconnect_at_once_when_idle() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    d.session
        .disconnect_when_idle(d.now, ReasonCode::SUCCESS, Duration::from_secs(5))
        .unwrap();
    assert!(
        matches!(&d.sent()[..], [Packet::Disconnect(x)] if x.reason_code == ReasonCode::SUCCESS)
    );
    assert!(d.session.wants_close());
    assert!(matches!(
        &d.events()[..],
        [Event::Disconnected(i)] if i.initiator == Initiator::Local
    ));
    assert_eq!(d.session.poll_timeout(), None);
}

#[test]
fn disconnect_when_idle_waits_for_inflight_and_refuses_new_commands() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    let req = d.publish(msg(QoS::AtLeastOnce)).unwrap();
    let Packet::Publish(p) = d.sent().remove(0) else {
        panic!()
    };
    d.session
        .disconnect_when_idle(
            d.now,
            ReasonCode::DISCONNECT_WITH_WILL,
            Duration::from_secs(5),
        )
        .unwrap();
    assert!(d.sent().is_empty(), "the PUBACK is awaited first");
    assert!(!d.session.wants_close());
    assert_eq!(
        d.session.publish(d.now, msg(QoS::AtMostOnce)),
        Err(CommandError::Closed)
    );
    assert_eq!(
        d.session
            .disconnect(d.now, ReasonCode::SUCCESS, Default::default()),
        Err(CommandError::Closed)
    );
    assert_eq!(
        d.session.poll_timeout(),
        Some(d.now + Duration::from_secs(5))
    );
    d.advance(Duration::from_secs(1));
    d.server(Packet::PubAck(PublishAck::new(p.packet_id.unwrap())));
    assert!(
        matches!(&d.sent()[..], [Packet::Disconnect(x)] if x.reason_code == ReasonCode::DISCONNECT_WITH_WILL)
    );
    let events = d.events();
    assert!(matches!(&publish_done(&events)[..], [(id, Ok(_))] if *id == req));
    assert!(
        matches!(events.last(), Some(Event::Disconnected(i)) if i.initiator == Initiator::Local)
    );
    assert!(d.session.wants_close());
}

#[test]
fn disconnect_when_idle_gives_up_at_the_timeout_and_fails_what_is_left() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    let req = d.publish(msg(QoS::AtLeastOnce)).unwrap();
    d.sent();
    d.session
        .disconnect_when_idle(d.now, ReasonCode::SUCCESS, Duration::from_secs(5))
        .unwrap();
    d.advance(Duration::from_secs(4));
    assert!(d.sent().is_empty());
    d.advance(Duration::from_secs(1));
    assert!(matches!(&d.sent()[..], [Packet::Disconnect(_)]));
    let events = d.events();
    assert!(matches!(&publish_done(&events)[..], [(id, Err(CommandError::Closed))] if *id == req));
    assert!(d.session.wants_close());
}

#[test]
fn disconnect_when_idle_while_not_connected_closes_at_once() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    let req = d.publish(msg(QoS::AtLeastOnce)).unwrap();
    d.session
        .disconnect_when_idle(d.now, ReasonCode::SUCCESS, Duration::from_secs(5))
        .unwrap();
    assert!(d.sent().is_empty());
    assert!(
        matches!(&publish_done(&d.events())[..], [(id, Err(CommandError::Closed))] if *id == req)
    );
    assert!(d.session.is_closed());
    assert_eq!(d.session.poll_timeout(), None);
    assert_eq!(
        d.session.handle_transport_open(d.now),
        Err(CommandError::Closed)
    );
}

#[test]
fn disconnect_when_idle_closes_when_the_connection_is_lost_meanwhile() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    let req = d.publish(msg(QoS::AtLeastOnce)).unwrap();
    d.sent();
    d.session
        .disconnect_when_idle(d.now, ReasonCode::SUCCESS, Duration::from_secs(5))
        .unwrap();
    let events = d.drop_transport();
    assert!(
        matches!(events.first(), Some(Event::Disconnected(i)) if i.initiator == Initiator::Transport)
    );
    assert!(matches!(&publish_done(&events)[..], [(id, Err(CommandError::Closed))] if *id == req));
    assert_eq!(d.session.poll_timeout(), None);
}

// ----- 8. Durations saturate -----

#[test]
fn connect_timeout_of_duration_max_does_not_panic() {
    let mut c = config(ProtocolVersion::V5);
    c.connect_timeout = Duration::MAX;
    let mut d = Double::new(c);
    d.open();
    let at = d.session.poll_timeout().unwrap();
    assert!(at > d.now + Duration::from_secs(365 * 24 * 3600));
    d.advance(Duration::from_secs(3600));
    assert_eq!(d.session.state(), ConnectionState::Connecting);
}

#[test]
fn ping_timeout_of_duration_max_does_not_panic() {
    let mut c = config(ProtocolVersion::V5);
    c.keep_alive = 10;
    c.ping_timeout = Some(Duration::MAX);
    let mut d = Double::new(c);
    d.connect();
    d.advance(Duration::from_secs(10));
    assert!(matches!(&d.sent()[..], [Packet::PingReq(_)]));
    assert!(d.session.poll_timeout().unwrap() > d.now + Duration::from_secs(365 * 24 * 3600));
    d.session.set_reading_paused(d.now, true);
    d.session.set_reading_paused(d.now, false);
    d.advance(Duration::from_secs(3600));
    assert_eq!(d.session.state(), ConnectionState::Connected);
}

#[test]
fn disconnect_timeout_of_duration_max_does_not_panic() {
    let mut c = config(ProtocolVersion::V5);
    c.keep_alive = 0;
    let mut d = Double::new(c);
    d.connect();
    d.publish(msg(QoS::AtLeastOnce)).unwrap();
    d.sent();
    d.session
        .disconnect_when_idle(d.now, ReasonCode::SUCCESS, Duration::MAX)
        .unwrap();
    assert!(d.session.poll_timeout().unwrap() > d.now + Duration::from_secs(365 * 24 * 3600));
    d.advance(Duration::from_secs(3600));
    assert_eq!(d.session.state(), ConnectionState::Connected);
}

// ----- 5. Receive Maximum is a v5 notion -----

fn incoming(id: u16, qos: QoS) -> Packet {
    let payload = Bytes::from_static(b"x");
    publish_full(
        Some("in/1"),
        payload,
        qos,
        id,
        false,
        PublishProperties::default(),
    )
}

#[test]
fn receive_maximum_is_not_enforced_on_a_v311_server() {
    let mut c = config(ProtocolVersion::V311);
    c.receive_maximum = 2;
    c.manual_acks = true;
    let mut d = Double::new(c);
    d.connect();
    for id in 1..=5 {
        d.server(incoming(id, QoS::AtLeastOnce));
    }
    assert!(d.sent().is_empty(), "no DISCONNECT");
    assert_eq!(d.session.state(), ConnectionState::Connected);
    let delivered = d
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    assert_eq!(delivered, 5);
}

// ----- 6. A v5 CONNECT answered by a 3.1.1-only server -----

#[test]
fn v311_connack_refusing_our_v5_connect_is_unsupported_protocol_version() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.open();
    d.server_bytes(&[0x20, 0x02, 0x00, 0x01]);
    assert!(
        d.sent().is_empty(),
        "a refusal, not a protocol error: no DISCONNECT"
    );
    assert!(d.session.wants_close());
    let events = d.events();
    assert!(
        matches!(&events[..], [Event::Disconnected(i)] if i.initiator == Initiator::Remote
            && i.reason_code == Some(ReasonCode::UNSUPPORTED_PROTOCOL_VERSION)
            && i.error.is_none()),
        "{events:?}"
    );
    assert_eq!(d.session.poll_timeout(), None);
}

// ----- 1. The session restores subscriptions itself -----

fn subscribe_granted(
    d: &mut Double,
    filters: Vec<(TopicFilter, SubscriptionOptions)>,
    id: Option<u32>,
    granted: Vec<ReasonCode>,
) {
    let props = SubscribeProperties {
        subscription_identifier: id.and_then(NonZeroU32::new),
        ..Default::default()
    };
    d.subscribe(filters, props).unwrap();
    let Packet::Subscribe(s) = d.sent().remove(0) else {
        panic!("expected a SUBSCRIBE")
    };
    send_suback(d, s.packet_id, granted);
    assert!(matches!(
        &d.events()[..],
        [Event::SubscribeDone { result: Ok(_), .. }]
    ));
}

fn send_suback(d: &mut Double, id: NonZeroU16, codes: Vec<ReasonCode>) {
    d.server(suback(id, codes));
}

fn qos(q: QoS) -> SubscriptionOptions {
    SubscriptionOptions::qos(q)
}

/// Subscribed to `a/+` (id 7, v5 only), `b/#` and `c` (no id), all granted.
fn three_subscriptions(d: &mut Double) {
    let v5 = d.version == ProtocolVersion::V5;
    subscribe_granted(
        d,
        vec![(filter("a/+"), qos(QoS::AtLeastOnce))],
        v5.then_some(7),
        vec![ReasonCode::GRANTED_QOS_1],
    );
    subscribe_granted(
        d,
        vec![
            (filter("b/#"), qos(QoS::AtMostOnce)),
            (filter("c"), qos(QoS::ExactlyOnce)),
        ],
        None,
        vec![ReasonCode::GRANTED_QOS_0, ReasonCode::GRANTED_QOS_2],
    );
}

fn reconnect_without_session(d: &mut Double, ack: tern_mqtt::codec::ConnAck) -> Vec<Event> {
    d.drop_transport();
    d.open();
    d.server(Packet::ConnAck(Box::new(ack)));
    d.events()
}

fn subscribes(sent: &[Packet]) -> Vec<&tern_mqtt::codec::Subscribe> {
    sent.iter()
        .filter_map(|p| match p {
            Packet::Subscribe(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn session_not_present_restores_subscriptions_before_queued_publishes() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        three_subscriptions(&mut d);
        d.drop_transport();
        // Queued while offline.
        d.publish(msg(QoS::AtLeastOnce)).unwrap();
        d.publish(msg(QoS::AtMostOnce)).unwrap();
        d.open();
        d.server(Packet::ConnAck(Box::new(connack(false))));
        let events = d.events();
        assert!(!events
            .iter()
            .any(|e| matches!(e, Event::SubscriptionsLost { .. })));
        let sent = d.sent();
        let n = if v == ProtocolVersion::V5 { 2 } else { 1 };
        assert!(
            sent[..n].iter().all(|p| matches!(p, Packet::Subscribe(_))),
            "{v:?}: {sent:?}"
        );
        assert!(sent[n..].iter().all(|p| matches!(p, Packet::Publish(_))));
        assert_eq!(sent.len(), n + 2);
        let subs = subscribes(&sent);
        if v == ProtocolVersion::V5 {
            assert_eq!(subs[0].properties.subscription_identifier, None);
            assert_eq!(
                subs[0].filters,
                vec![
                    (filter("b/#"), qos(QoS::AtMostOnce)),
                    (filter("c"), qos(QoS::ExactlyOnce))
                ]
            );
            assert_eq!(
                subs[1].properties.subscription_identifier,
                NonZeroU32::new(7)
            );
            assert_eq!(
                subs[1].filters,
                vec![(filter("a/+"), qos(QoS::AtLeastOnce))]
            );
        } else {
            assert_eq!(subs[0].filters.len(), 3);
        }
        assert!(d.session.subscriptions().is_empty(), "until the SUBACKs");
        let answers: Vec<_> = subs
            .iter()
            .map(|s| {
                (
                    s.packet_id,
                    s.filters
                        .iter()
                        .map(|(_, o)| ReasonCode(o.qos as u8))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        for (id, codes) in answers {
            send_suback(&mut d, id, codes);
        }
        let events = d.events();
        assert_eq!(
            events
                .iter()
                .filter(|e| !matches!(e, Event::PublishDone { .. }))
                .collect::<Vec<_>>(),
            vec![&Event::SubscriptionsRestored {
                filters: 3,
                refused: vec![]
            }],
            "{v:?}: no SubscribeDone for the restoration"
        );
        assert_eq!(d.session.subscriptions().len(), 3);
        d.assert_completions();
    }
}

#[test]
fn restored_subscriptions_keep_their_original_options() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    let mut o = qos(QoS::ExactlyOnce);
    o.no_local = true;
    o.retain_as_published = true;
    subscribe_granted(
        &mut d,
        vec![(filter("x"), o)],
        None,
        vec![ReasonCode::GRANTED_QOS_1],
    );
    assert_eq!(
        d.session.subscriptions()[&filter("x")].options.qos,
        QoS::AtLeastOnce
    );
    reconnect_without_session(&mut d, connack(false));
    let sent = d.sent();
    assert_eq!(
        subscribes(&sent)[0].filters,
        vec![(filter("x"), o)],
        "QoS 2 asked again"
    );
}

#[test]
fn restore_goes_without_identifiers_when_the_server_no_longer_has_them() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    three_subscriptions(&mut d);
    let mut ack = connack(false);
    ack.properties = ConnAckProperties {
        subscription_identifiers_available: Some(false),
        ..Default::default()
    };
    reconnect_without_session(&mut d, ack);
    let sent = d.sent();
    let subs = subscribes(&sent);
    assert!(!subs.is_empty());
    assert!(subs
        .iter()
        .all(|s| s.properties.subscription_identifier.is_none()));
    let restored: usize = subs.iter().map(|s| s.filters.len()).sum();
    assert_eq!(restored, 3);
}

#[test]
fn restore_reports_refused_filters_and_drops_them() {
    let mut d = Double::new(config(ProtocolVersion::V311));
    d.connect();
    three_subscriptions(&mut d);
    reconnect_without_session(&mut d, connack(false));
    let sent = d.sent();
    let s = subscribes(&sent)[0].clone();
    let codes = s
        .filters
        .iter()
        .map(|(f, _)| {
            if f.as_str() == "c" {
                ReasonCode(0x80)
            } else {
                ReasonCode::GRANTED_QOS_0
            }
        })
        .collect();
    send_suback(&mut d, s.packet_id, codes);
    assert_eq!(
        d.events(),
        vec![Event::SubscriptionsRestored {
            filters: 3,
            refused: vec![(filter("c"), ReasonCode(0x80))]
        }]
    );
    assert_eq!(d.session.subscriptions().len(), 2);
    assert!(!d.session.subscriptions().contains_key(&filter("c")));
}

#[test]
fn restore_cut_short_by_a_lost_connection_completes_on_the_next_exactly_once() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    three_subscriptions(&mut d);
    reconnect_without_session(&mut d, connack(false));
    let sent = d.sent();
    let first = subscribes(&sent)[0].clone();
    // Only the first of the two restoring SUBSCRIBEs is answered.
    send_suback(
        &mut d,
        first.packet_id,
        vec![ReasonCode::GRANTED_QOS_0; first.filters.len()],
    );
    assert!(d.events().is_empty(), "not all answered yet");
    let events = reconnect_without_session(&mut d, connack(false));
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::SubscriptionsRestored { .. })));
    let sent = d.sent();
    let subs = subscribes(&sent);
    let mut filters: Vec<String> = subs
        .iter()
        .flat_map(|s| s.filters.iter().map(|(f, _)| f.as_str().to_owned()))
        .collect();
    filters.sort();
    assert_eq!(filters, vec!["a/+", "b/#", "c"], "each filter once");
    let answers: Vec<_> = subs
        .iter()
        .map(|s| {
            (
                s.packet_id,
                vec![ReasonCode::GRANTED_QOS_0; s.filters.len()],
            )
        })
        .collect();
    for (id, codes) in answers {
        send_suback(&mut d, id, codes);
    }
    assert_eq!(
        d.events(),
        vec![Event::SubscriptionsRestored {
            filters: 3,
            refused: vec![]
        }]
    );
    assert_eq!(d.session.subscriptions().len(), 3);
    assert!(d.session.is_idle());
}

#[test]
fn restore_goes_ahead_of_requests_requeued_from_the_lost_connection() {
    let mut d = Double::new(config(ProtocolVersion::V311));
    d.connect();
    subscribe_granted(
        &mut d,
        vec![(filter("old"), qos(QoS::AtMostOnce))],
        None,
        vec![ReasonCode::GRANTED_QOS_0],
    );
    let user = d
        .subscribe(
            vec![(filter("new"), qos(QoS::AtMostOnce))],
            SubscribeProperties::default(),
        )
        .unwrap();
    d.sent();
    d.publish(msg(QoS::AtLeastOnce)).unwrap();
    let Packet::Publish(_) = d.sent().remove(0) else {
        panic!()
    };
    reconnect_without_session(&mut d, connack(false));
    let sent = d.sent();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(matches!(&sent[0], Packet::Subscribe(s) if s.filters[0].0 == filter("old")));
    assert!(matches!(&sent[1], Packet::Subscribe(s) if s.filters[0].0 == filter("new")));
    assert!(matches!(&sent[2], Packet::Publish(p) if !p.dup));
    let Packet::Subscribe(user_sub) = &sent[1] else {
        panic!()
    };
    send_suback(&mut d, user_sub.packet_id, vec![ReasonCode::GRANTED_QOS_0]);
    assert!(matches!(&d.events()[..], [Event::SubscribeDone { id, .. }] if *id == user));
}

#[test]
fn restore_disabled_reports_subscriptions_lost() {
    let mut c = config(ProtocolVersion::V311);
    c.restore_subscriptions = false;
    let mut d = Double::new(c);
    d.connect();
    three_subscriptions(&mut d);
    let events = reconnect_without_session(&mut d, connack(false));
    assert!(events.iter().any(
        |e| matches!(e, Event::SubscriptionsLost { subscriptions } if subscriptions.len() == 3)
    ));
    assert!(subscribes(&d.sent()).is_empty());
    assert!(d.session.subscriptions().is_empty());
}

// ----- 3. No poison loop on a publish the broker cannot take -----

/// Reconnects (no session) and returns what was sent after the CONNACK.
fn reconnect_and_sent(d: &mut Double) -> Vec<Packet> {
    d.open();
    d.server(Packet::ConnAck(Box::new(connack(false))));
    d.sent()
}

#[test]
fn publish_the_server_keeps_closing_on_fails_after_max_strikes() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        let req = d.publish(msg(QoS::AtLeastOnce)).unwrap();
        assert!(matches!(&d.sent()[..], [Packet::Publish(_)]));
        // The default: ten connections in a row.
        for strike in 1..=10 {
            let events = d.drop_transport();
            if strike < 10 {
                assert!(publish_done(&events).is_empty(), "{v:?} strike {strike}");
                assert!(matches!(
                    &reconnect_and_sent(&mut d)[..],
                    [Packet::Publish(_)]
                ));
            } else {
                assert_eq!(
                    publish_done(&events),
                    vec![(req, Err(CommandError::RejectedByServer { attempts: 10 }))],
                    "{v:?}"
                );
            }
        }
        assert!(
            reconnect_and_sent(&mut d).is_empty(),
            "{v:?}: not sent again"
        );
        assert_eq!(d.session.packet_ids_in_use(), 0);
        assert!(d.session.is_idle());
        d.assert_completions();
    }
}

#[test]
fn a_server_disconnect_right_after_a_publish_counts_as_a_strike() {
    let mut c = config(ProtocolVersion::V5);
    c.max_publish_strikes = 2;
    let mut d = Double::new(c);
    d.connect();
    let req = d.publish(msg(QoS::ExactlyOnce)).unwrap();
    d.sent();
    let refuse = || {
        Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::NOT_AUTHORIZED,
            properties: Default::default(),
        })
    };
    d.server(refuse());
    assert!(publish_done(&d.events()).is_empty());
    d.session.handle_transport_closed(d.now);
    assert!(matches!(
        &reconnect_and_sent(&mut d)[..],
        [Packet::Publish(_)]
    ));
    d.server(refuse());
    assert_eq!(
        publish_done(&d.events()),
        vec![(req, Err(CommandError::RejectedByServer { attempts: 2 }))]
    );
}

#[test]
fn strikes_count_only_connections_in_a_row_the_server_closed_on_the_publish() {
    let mut d = Double::new(config(ProtocolVersion::V311));
    d.connect();
    d.publish(msg(QoS::AtLeastOnce)).unwrap();
    d.sent();
    d.drop_transport(); // strike 1
    reconnect_and_sent(&mut d);
    d.drop_transport(); // strike 2
    reconnect_and_sent(&mut d);
    // The server answers something after the PUBLISH: it took it; no suspect.
    d.server(Packet::PingResp(tern_mqtt::codec::PingResp));
    d.drop_transport(); // the run is broken
    reconnect_and_sent(&mut d);
    d.drop_transport(); // strike 1
    reconnect_and_sent(&mut d);
    // A connection we end ourselves (here on a protocol error) is no strike
    // either, and breaks the run.
    d.server(Packet::ConnAck(Box::new(connack(false))));
    assert!(d.session.wants_close());
    d.drop_transport();
    reconnect_and_sent(&mut d);
    d.drop_transport(); // strike 1
    reconnect_and_sent(&mut d);
    let events = d.drop_transport(); // strike 2
    assert!(publish_done(&events).is_empty());
    assert_eq!(d.session.inflight(), 1);
}

#[test]
fn max_publish_strikes_zero_never_gives_up() {
    let mut c = config(ProtocolVersion::V311);
    c.max_publish_strikes = 0;
    let mut d = Double::new(c);
    d.connect();
    d.publish(msg(QoS::AtLeastOnce)).unwrap();
    d.sent();
    for _ in 0..10 {
        assert!(publish_done(&d.drop_transport()).is_empty());
        assert!(matches!(
            &reconnect_and_sent(&mut d)[..],
            [Packet::Publish(_)]
        ));
    }
}

// ----- 4. Oversized incoming packets are skipped as they stream -----

/// The bytes of a PUBLISH from the server with a payload of `len` bytes.
fn big_publish(version: ProtocolVersion, id: u16, qos: QoS, len: usize) -> Vec<u8> {
    let p = Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: Some(topic("big/1")),
        packet_id: (qos != QoS::AtMostOnce).then(|| pid(id)),
        properties: PublishProperties::default().into(),
        payload: Bytes::from(vec![7u8; len]),
    });
    let mut buf = bytes::BytesMut::new();
    tern_mqtt::codec::encode(&p, version, &mut buf).unwrap();
    buf.to_vec()
}

fn small_max(version: ProtocolVersion) -> Double {
    let mut c = config(version);
    c.maximum_packet_size = 1024;
    Double::new(c)
}

#[test]
fn oversized_publish_is_skipped_acknowledged_and_the_connection_goes_on_in_v311() {
    for qos_level in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut d = small_max(ProtocolVersion::V311);
        d.connect();
        let bytes = big_publish(ProtocolVersion::V311, 9, qos_level, 5000);
        d.server_bytes(&bytes);
        assert_eq!(d.session.state(), ConnectionState::Connected);
        let events = d.events();
        assert_eq!(
            events,
            vec![Event::MessageDiscarded {
                topic: topic("big/1"),
                qos: qos_level,
                size: bytes.len()
            }]
        );
        let sent = d.sent();
        match qos_level {
            QoS::AtMostOnce => assert!(sent.is_empty()),
            QoS::AtLeastOnce => assert_eq!(sent, vec![Packet::PubAck(PublishAck::new(pid(9)))]),
            QoS::ExactlyOnce => {
                assert_eq!(sent, vec![Packet::PubRec(PublishAck::new(pid(9)))]);
                d.server(Packet::PubRel(PublishAck::new(pid(9))));
                assert_eq!(d.sent(), vec![Packet::PubComp(PublishAck::new(pid(9)))]);
            }
        }
        // The next packet is read as usual.
        d.server(incoming(3, QoS::AtLeastOnce));
        assert!(matches!(&d.events()[..], [Event::Message(_)]));
    }
}

#[test]
fn oversized_publish_never_grows_the_receive_buffer_to_its_size() {
    let mut d = small_max(ProtocolVersion::V311);
    d.connect();
    let bytes = big_publish(ProtocolVersion::V311, 1, QoS::AtLeastOnce, 4 << 20);
    let mut max_capacity = 0;
    for chunk in bytes.chunks(16 * 1024) {
        d.session.handle_data(d.now, chunk);
        max_capacity = max_capacity.max(d.session.recv_buffer().capacity());
    }
    assert!(
        max_capacity <= 128 * 1024,
        "receive buffer grew to {max_capacity}"
    );
    assert!(
        matches!(&d.events()[..], [Event::MessageDiscarded { size, .. }] if *size == bytes.len())
    );
    assert_eq!(d.sent(), vec![Packet::PubAck(PublishAck::new(pid(1)))]);
}

#[test]
fn oversized_publish_read_through_recv_buffer_in_small_reads_is_skipped() {
    let mut d = small_max(ProtocolVersion::V311);
    d.connect();
    let mut bytes = big_publish(ProtocolVersion::V311, 1, QoS::AtLeastOnce, 300_000);
    let mut tail = bytes::BytesMut::new();
    tern_mqtt::codec::encode(
        &incoming(2, QoS::AtLeastOnce),
        ProtocolVersion::V311,
        &mut tail,
    )
    .unwrap();
    bytes.extend_from_slice(&tail);
    for chunk in bytes.chunks(7) {
        d.session.recv_buffer().extend_from_slice(chunk);
        d.session.handle_received(d.now);
        assert!(d.session.recv_buffer().capacity() <= 128 * 1024);
    }
    let events = d.events();
    assert!(
        matches!(
            &events[..],
            [Event::MessageDiscarded { .. }, Event::Message(_)]
        ),
        "{events:?}"
    );
    assert_eq!(
        d.sent(),
        vec![
            Packet::PubAck(PublishAck::new(pid(1))),
            Packet::PubAck(PublishAck::new(pid(2)))
        ]
    );
}

#[test]
fn oversized_publish_takes_its_place_in_the_manual_ack_order() {
    let mut c = config(ProtocolVersion::V311);
    c.maximum_packet_size = 1024;
    c.manual_acks = true;
    let mut d = Double::new(c);
    d.connect();
    d.server(incoming(1, QoS::AtLeastOnce));
    d.server_bytes(&big_publish(
        ProtocolVersion::V311,
        2,
        QoS::AtLeastOnce,
        5000,
    ));
    assert!(
        d.sent().is_empty(),
        "the PUBACK of #2 waits for the application's ack of #1"
    );
    let events = d.events();
    let Event::Message(m) = &events[0] else {
        panic!("{events:?}")
    };
    assert!(matches!(events[1], Event::MessageDiscarded { .. }));
    d.session.ack(d.now, m.ack.unwrap());
    assert_eq!(
        d.sent(),
        vec![
            Packet::PubAck(PublishAck::new(pid(1))),
            Packet::PubAck(PublishAck::new(pid(2)))
        ]
    );
}

#[test]
fn oversized_publish_in_v5_is_refused_with_0x95_once_then_skipped() {
    let mut d = small_max(ProtocolVersion::V5);
    d.connect();
    let bytes = big_publish(ProtocolVersion::V5, 4, QoS::AtLeastOnce, 5000);
    d.server_bytes(&bytes);
    assert!(
        matches!(&d.sent()[..], [Packet::Disconnect(x)] if x.reason_code == ReasonCode::PACKET_TOO_LARGE)
    );
    assert!(d.session.wants_close());
    d.drop_transport();
    d.connect();
    d.server_bytes(&bytes);
    assert_eq!(d.session.state(), ConnectionState::Connected);
    assert_eq!(d.sent(), vec![Packet::PubAck(PublishAck::new(pid(4)))]);
    assert!(matches!(
        &d.events()[..],
        [Event::MessageDiscarded {
            qos: QoS::AtLeastOnce,
            ..
        }]
    ));
}

#[test]
fn oversized_non_publish_still_fails_the_connection() {
    let mut d = small_max(ProtocolVersion::V311);
    d.connect();
    // A SUBACK announcing 5000 bytes.
    let mut bytes = vec![0x90, 0x88, 0x27];
    bytes.extend_from_slice(&[0; 64]);
    d.server_bytes(&bytes);
    assert!(d.session.wants_close());
    assert!(
        matches!(d.events().last(), Some(Event::Disconnected(i)) if i.initiator == Initiator::Protocol)
    );
}
