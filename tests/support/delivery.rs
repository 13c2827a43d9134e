//! Numbered test messages and what mosquitto's log says about their
//! delivery: the payload scheme of the chaos and crash tests (a sequence
//! number with a filler derived from it, so corruption is noticed) and
//! [`BrokerAudit`], which finds the QoS 2 re-sends mosquitto makes on its
//! own, so that only duplicates the broker explains are excused; and the
//! options of their clients.
#![allow(dead_code)]

use super::proxy::XorShift;
use std::time::Duration;
use tern_mqtt::client::ReconnectOptions;
use tern_mqtt::ConnectOptions;

/// Options of a client on a persistent session (Clean Start 0, an hour of
/// session expiry) that reconnects quickly: the chaos and crash tests'
/// publisher and subscriber.
pub fn persistent_session(url: &str, id: &str) -> ConnectOptions {
    ConnectOptions::new(url)
        .expect("a valid broker url")
        .client_id(id)
        .clean_start(false)
        .session_expiry(3600)
        .keep_alive(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .reconnect(ReconnectOptions {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
            ..Default::default()
        })
}

/// The payload of message `seq`: the number and a filler derived from it,
/// so a corrupted payload is noticed.
pub fn payload(qos: u8, seq: u32) -> String {
    format!(
        "{qos}:{seq:08}:{:016x}",
        XorShift::new(u64::from(seq)).next_u64()
    )
}

/// The sequence number in a payload made by [`payload`], if it is intact.
pub fn parse_payload(qos: u8, bytes: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut parts = text.split(':');
    let q: u8 = parts.next()?.parse().ok()?;
    let seq: u32 = parts.next()?.parse().ok()?;
    (q == qos && payload(qos, seq) == text).then_some(seq)
}

/// What mosquitto's log (`log_type all`) shows about the QoS 2 flows.
///
/// mosquitto 2.0.11 breaks [MQTT-4.3.3-6] ("the sender MUST NOT re-send the
/// PUBLISH once it has sent the corresponding PUBREL"): on a reconnect it
/// turns every outgoing QoS 2 message that is not in state
/// `wait_for_pubcomp` back into `publish_qos2`
/// (`db__message_reconnect_reset_outgoing`). A message whose PUBREL was
/// due for a resend (`resend_pubrel`) but not yet written when the next
/// connection broke is therefore sent again as a PUBLISH (DUP=1) on the
/// connection after, although the subscriber had already got the PUBREL
/// and answered PUBCOMP, so for it the packet id is free and the PUBLISH a
/// new message [MQTT-4.3.3-12]. The audit counts those re-sends per
/// message, so that only duplicates they explain are excused.
#[derive(Debug, Default)]
pub struct BrokerAudit {
    /// Per QoS 2 sequence number: PUBLISH packets sent to the subscriber
    /// after the broker had received the subscriber's PUBREC for it.
    pub resent_after_pubrec: std::collections::HashMap<u32, u32>,
    /// Per QoS 2 sequence number: PUBLISH packets sent to the subscriber
    /// again (DUP) before the broker had its PUBREC: the subscriber had not
    /// acknowledged it (yet), so a client that died in between gets it again.
    pub resent_before_pubrec: std::collections::HashMap<u32, u32>,
    /// QoS 2 sequence numbers the publisher sent again as PUBLISH after the
    /// broker had received its PUBREL (a client bug).
    pub publisher_resent_after_pubrel: Vec<u32>,
    /// QoS 2 flows to the subscriber the log showed (a sanity check).
    pub sub_flows_seen: u64,
}

impl BrokerAudit {
    /// Reads the log of `publisher` and `subscriber` (client ids); QoS 2
    /// messages are those on `q2_prefix` followed by their sequence number
    /// (`chaos/q2/` for `chaos/q2/17`).
    pub fn from_log(log: &str, publisher: &str, subscriber: &str, q2_prefix: &str) -> BrokerAudit {
        use std::collections::HashMap;
        /// `(mid, topic)` from a mosquitto PUBLISH log line's
        /// ` (d1, q2, r0, m123, 'topic', ...` part, for QoS 2 only.
        fn publish_fields(rest: &str) -> Option<(u32, &str)> {
            let rest = rest.strip_prefix(" (d")?.get(1..)?;
            let rest = rest.strip_prefix(", q2, r")?;
            let rest = rest.get(1..)?.strip_prefix(", m")?;
            let end = rest.find(|c: char| !c.is_ascii_digit())?;
            let mid = rest[..end].parse().ok()?;
            let rest = rest[end..].strip_prefix(", '")?;
            let topic = &rest[..rest.find('\'')?];
            Some((mid, topic))
        }
        fn mid_field(rest: &str) -> Option<u32> {
            let rest = rest.strip_prefix(" (Mid: ")?;
            let end = rest.find(|c: char| !c.is_ascii_digit())?;
            rest[..end].parse().ok()
        }
        let q2_seq = |topic: &str| -> Option<u32> { topic.strip_prefix(q2_prefix)?.parse().ok() };
        let pub_publish = format!("Received PUBLISH from {publisher}");
        let pub_rel = format!("Received PUBREL from {publisher}");
        let sub_publish = format!("Sending PUBLISH to {subscriber}");
        let sub_rec = format!("Received PUBREC from {subscriber}");
        let sub_comp = format!("Received PUBCOMP from {subscriber}");
        // mid -> (seq, PUBREC received / PUBREL received)
        let mut sub_flows: HashMap<u32, (u32, bool)> = HashMap::new();
        let mut pub_flows: HashMap<u32, (u32, bool)> = HashMap::new();
        let mut audit = BrokerAudit::default();
        for line in log.lines() {
            if let Some(i) = line.find(&sub_publish) {
                let Some((mid, seq)) = publish_fields(&line[i + sub_publish.len()..])
                    .and_then(|(mid, t)| Some((mid, q2_seq(t)?)))
                else {
                    continue;
                };
                match sub_flows.get_mut(&mid) {
                    Some((s, rec)) if *s == seq => {
                        let resends = if *rec {
                            &mut audit.resent_after_pubrec
                        } else {
                            &mut audit.resent_before_pubrec
                        };
                        *resends.entry(seq).or_default() += 1;
                        *rec = false;
                    }
                    _ => {
                        audit.sub_flows_seen += 1;
                        sub_flows.insert(mid, (seq, false));
                    }
                }
            } else if let Some(i) = line.find(&sub_rec) {
                if let Some(f) =
                    mid_field(&line[i + sub_rec.len()..]).and_then(|mid| sub_flows.get_mut(&mid))
                {
                    f.1 = true;
                }
            } else if let Some(i) = line.find(&sub_comp) {
                if let Some(mid) = mid_field(&line[i + sub_comp.len()..]) {
                    sub_flows.remove(&mid);
                }
            } else if let Some(i) = line.find(&pub_publish) {
                let Some((mid, seq)) = publish_fields(&line[i + pub_publish.len()..])
                    .and_then(|(mid, t)| Some((mid, q2_seq(t)?)))
                else {
                    continue;
                };
                match pub_flows.get(&mid) {
                    Some((s, true)) if *s == seq => audit.publisher_resent_after_pubrel.push(seq),
                    Some((s, false)) if *s == seq => {}
                    _ => {
                        pub_flows.insert(mid, (seq, false));
                    }
                }
            } else if let Some(i) = line.find(&pub_rel) {
                if let Some(f) =
                    mid_field(&line[i + pub_rel.len()..]).and_then(|mid| pub_flows.get_mut(&mid))
                {
                    f.1 = true;
                }
            }
        }
        audit
    }
}
