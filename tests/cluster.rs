//! Broker clusters: an ordered list of servers with failover under the
//! reconnect policy, the session kept across nodes, and v5 Server
//! References followed when asked for, with a bound on redirects.

#[path = "support/scripted_broker.rs"]
mod scripted_broker;

use scripted_broker::{connack_props, ScriptedBroker};
use std::time::Duration;
use tern_mqtt::codec::{
    ConnAck, ConnAckProperties, Disconnect, DisconnectProperties, MqttString, Packet,
    ProtocolVersion, ReasonCode,
};
use tern_mqtt::{Client, ConnectOptions, ConnectionEvent, ConnectionStatus};

const V5: ProtocolVersion = ProtocolVersion::V5;

#[tokio::test(start_paused = true)]
async fn a_lost_connection_moves_on_to_the_next_server_and_resumes_the_session_there() {
    let (node_a, broker_a) = ScriptedBroker::in_memory();
    let (node_b, broker_b) = ScriptedBroker::in_memory();
    let opts = ConnectOptions::new("mqtt://node-a")
        .unwrap()
        .client_id("clustered")
        .session_expiry(3600)
        .connector(node_a.clone())
        .server_connector(node_b.clone());
    let (client, conn) = tokio::join!(
        Client::connect(opts),
        broker_a.accept_with(V5, connack_props())
    );
    let client = client.unwrap();
    node_a.set_refusing(true);
    drop(conn);
    // Node A is gone: the next attempt goes to node B, resuming the
    // session (Clean Start 0) the cluster shares.
    let mut conn_b = broker_b.accept(V5).await;
    assert!(!conn_b.connect.as_ref().unwrap().clean_start);
    conn_b.connack(true, connack_props()).await;
    let mut status = client.watch_status();
    status
        .wait_for(|s| {
            matches!(
                s,
                ConnectionStatus::Connected {
                    session_present: true,
                    ..
                }
            )
        })
        .await
        .unwrap();
    assert_eq!(node_a.connects(), 1, "node A was not tried again first");
    assert_eq!(node_b.connects(), 1);
}

#[tokio::test(start_paused = true)]
async fn failed_attempts_go_round_the_list() {
    let (node_a, broker_a) = ScriptedBroker::in_memory();
    let (node_b, _broker_b) = ScriptedBroker::in_memory();
    let (node_c, _broker_c) = ScriptedBroker::in_memory();
    let opts = ConnectOptions::new("mqtt://node-a")
        .unwrap()
        .connector(node_a.clone())
        .server_connector(node_b.clone())
        .server_connector(node_c.clone());
    let (client, conn) = tokio::join!(
        Client::connect(opts),
        broker_a.accept_with(V5, connack_props())
    );
    let client = client.unwrap();
    for node in [&node_a, &node_b, &node_c] {
        node.set_refusing(true);
    }
    drop(conn);
    let mut events = client.events();
    let mut attempts = 0;
    while attempts < 6 {
        if let Some(ConnectionEvent::Reconnecting { .. }) = events.recv().await {
            attempts += 1;
        }
    }
    // Seven attempts in all so far (the first connection, then six):
    // spread round the list.
    tokio::time::sleep(Duration::from_secs(120)).await;
    let (a, b, c) = (node_a.connects(), node_b.connects(), node_c.connects());
    assert!(b >= 2 && c >= 2 && a >= 3, "a {a}, b {b}, c {c}");
    assert!(
        a.abs_diff(b) <= 1 && b.abs_diff(c) <= 1,
        "a {a}, b {b}, c {c}"
    );
}

fn disconnect_to(reference: &str) -> Packet {
    Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::USE_ANOTHER_SERVER,
        properties: DisconnectProperties {
            server_reference: Some(MqttString::try_from(reference).unwrap()),
            ..Default::default()
        },
    })
}

fn refused_to(reference: &str) -> Packet {
    Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        reason_code: ReasonCode::SERVER_MOVED,
        properties: ConnAckProperties {
            server_reference: Some(MqttString::try_from(reference).unwrap()),
            ..Default::default()
        },
    }))
}

#[tokio::test]
async fn a_server_reference_is_followed_when_asked_for() {
    let first = ScriptedBroker::bind().await;
    let second = ScriptedBroker::bind().await;
    let second_addr = second.url().trim_start_matches("mqtt://").to_owned();
    let opts = ConnectOptions::new(&first.url())
        .unwrap()
        .follow_server_references(true);
    let (client, mut conn) = tokio::join!(
        Client::connect(opts),
        first.accept_with(V5, connack_props())
    );
    let client = client.unwrap();
    let mut events = client.events();
    conn.send(&disconnect_to(&second_addr)).await;
    let _moved = second.accept_with(V5, connack_props()).await;
    loop {
        match events.recv().await {
            Some(ConnectionEvent::Reconnecting { server, .. }) => {
                assert_eq!(server, second_addr, "the event names the referenced server");
                break;
            }
            Some(_) => {}
            None => panic!("events ended"),
        }
    }
    let mut status = client.watch_status();
    let s = status
        .wait_for(|s| matches!(s, ConnectionStatus::Connected { .. }))
        .await
        .unwrap()
        .clone();
    assert_eq!(
        s,
        ConnectionStatus::Connected {
            session_present: false,
            server: second_addr
        }
    );
}

#[tokio::test]
async fn a_server_reference_is_only_reported_by_default() {
    let first = ScriptedBroker::bind().await;
    let second = ScriptedBroker::bind().await;
    let second_addr = second.url().trim_start_matches("mqtt://").to_owned();
    let opts = ConnectOptions::new(&first.url()).unwrap();
    let (client, mut conn) = tokio::join!(
        Client::connect(opts),
        first.accept_with(V5, connack_props())
    );
    let client = client.unwrap();
    conn.send(&disconnect_to(&second_addr)).await;
    // Back to the one server of the list.
    let _again = first.accept_with(V5, connack_props()).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), second.accept_stream())
            .await
            .is_err(),
        "the referenced server was not tried"
    );
    drop(client);
}

#[tokio::test]
async fn redirects_stop_at_the_bound_and_the_list_resumes() {
    let first = ScriptedBroker::bind().await;
    let second = ScriptedBroker::bind().await;
    let first_addr = first.url().trim_start_matches("mqtt://").to_owned();
    let second_addr = second.url().trim_start_matches("mqtt://").to_owned();
    let opts = ConnectOptions::new(&first.url())
        .unwrap()
        .follow_server_references(true)
        .max_redirects(2);
    let (client, mut conn) = tokio::join!(
        Client::connect(opts),
        first.accept_with(V5, connack_props())
    );
    let client = client.unwrap();
    // first -> second -> first: two redirects, the bound.
    conn.send(&disconnect_to(&second_addr)).await;
    let mut at_second = second.accept(V5).await;
    at_second.send(&refused_to(&first_addr)).await;
    let mut at_first = first.accept(V5).await;
    at_first.send(&refused_to(&second_addr)).await;
    // Not followed a third time: the next attempt is the list's own server.
    let mut resumed = first.accept(V5).await;
    resumed.connack(false, connack_props()).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), second.accept_stream())
            .await
            .is_err(),
        "no third redirect"
    );
    drop(client);
}
