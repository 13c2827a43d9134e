//! QoS 1/2 publishes we receive: exactly-once for QoS 2, acknowledgements
//! in the order the spec requires, and our Receive Maximum.

use super::event::AckToken;
use crate::codec::{PacketId, QoS, ReasonCode};
use std::collections::{HashMap, VecDeque};

/// Where an incoming QoS 2 exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qos2 {
    /// Delivered to the application; its ack (and so our PUBREC) awaited.
    AwaitAppAck,
    /// PUBREC sent; PUBREL awaited.
    AwaitPubRel,
    /// The application refused it, but the failing PUBREC has not gone out
    /// yet (the connection was down): a resend is answered with it, and is
    /// not delivered again.
    Refused(ReasonCode),
}

/// A delivered message whose acknowledgement the application owes.
#[derive(Debug)]
struct Pending {
    seq: u64,
    packet_id: PacketId,
    qos: QoS,
    acked: Option<ReasonCode>,
    /// QoS 2 resends that arrived before the application's ack: each is
    /// owed a PUBREC of its own once the ack goes out.
    resends: u16,
}

/// What to do with an incoming QoS 1/2 PUBLISH.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// A new message: deliver it (with a token under manual acks).
    Deliver(Option<AckToken>),
    /// A QoS 2 message already delivered, sent again before its PUBREL:
    /// do not deliver; answer PUBREC (with this reason code) if one is due.
    Duplicate { resend_pubrec: Option<ReasonCode> },
    /// More unacknowledged publishes than our Receive Maximum.
    ReceiveMaximumExceeded,
}

/// An acknowledgement to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AckOut {
    pub packet_id: PacketId,
    pub qos: QoS,
    pub reason_code: ReasonCode,
}

/// Incoming publishes.
#[derive(Debug, Default)]
pub(crate) struct Incoming {
    qos2: HashMap<u16, Qos2, foldhash::fast::RandomState>,
    pending: VecDeque<Pending>,
    next_seq: u64,
}

impl Incoming {
    /// Unacknowledged incoming QoS 1/2 publishes: QoS 1 until our PUBACK,
    /// QoS 2 until our PUBCOMP.
    pub fn unacknowledged(&self) -> usize {
        self.qos2.len()
            + self
                .pending
                .iter()
                .filter(|p| p.qos == QoS::AtLeastOnce)
                .count()
    }

    /// Handles the arrival of a QoS 1/2 PUBLISH with `packet_id`.
    /// `receive_maximum` is `None` where the server cannot know ours (3.1.1).
    pub fn arrive(
        &mut self,
        packet_id: PacketId,
        qos: QoS,
        manual: bool,
        receive_maximum: Option<u16>,
    ) -> Arrival {
        if qos == QoS::ExactlyOnce {
            if let Some(state) = self.qos2.get(&packet_id.get()) {
                // Until it has received the corresponding PUBREL packet, the
                // receiver MUST acknowledge any subsequent PUBLISH packet with
                // the same Packet Identifier by sending a PUBREC. It MUST NOT
                // cause duplicate messages to be delivered [MQTT-4.3.3-10].
                let resend_pubrec = match *state {
                    Qos2::AwaitAppAck => {
                        // Its PUBREC waits for the application's ack; this
                        // resend gets one of its own then.
                        if let Some(p) = self
                            .pending
                            .iter_mut()
                            .find(|p| p.packet_id == packet_id && p.qos == QoS::ExactlyOnce)
                        {
                            p.resends = p.resends.saturating_add(1);
                        }
                        None
                    }
                    Qos2::AwaitPubRel => Some(ReasonCode::SUCCESS),
                    Qos2::Refused(code) => Some(code),
                };
                return Arrival::Duplicate { resend_pubrec };
            }
        }
        if receive_maximum.is_some_and(|max| self.unacknowledged() >= usize::from(max)) {
            return Arrival::ReceiveMaximumExceeded;
        }
        if qos == QoS::ExactlyOnce {
            let state = if manual {
                Qos2::AwaitAppAck
            } else {
                Qos2::AwaitPubRel
            };
            self.qos2.insert(packet_id.get(), state);
        }
        if !manual {
            return Arrival::Deliver(None);
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        self.pending.push_back(Pending {
            seq,
            packet_id,
            qos,
            acked: None,
            resends: 0,
        });
        Arrival::Deliver(Some(AckToken { seq }))
    }

    /// The application acknowledged `token`. The spec wants PUBACKs and
    /// PUBRECs in the order the PUBLISHes arrived [MQTT-4.6.0-2],
    /// [MQTT-4.6.0-3], so its ack waits for every earlier one: the acks
    /// that may go out now come from [`next_ack`](Self::next_ack).
    pub fn app_ack(&mut self, token: AckToken, reason_code: ReasonCode) {
        // Nearly always the oldest pending: acks mostly come in arrival
        // order, and a read of many packets leaves many pending at once.
        let oldest = self.pending.front().is_some_and(|p| p.seq == token.seq);
        let at = match oldest {
            true => Some(0),
            false => self
                .pending
                .binary_search_by_key(&token.seq, |p| p.seq)
                .ok(),
        };
        if let Some(p) = at.and_then(|k| self.pending.get_mut(k)) {
            p.acked.get_or_insert(reason_code);
        }
    }

    /// The next acknowledgement that may go out, in arrival order, and how
    /// many copies of it are owed; `None` while the oldest pending message
    /// is not acknowledged.
    pub fn next_ack(&mut self) -> Option<(AckOut, usize)> {
        let front = self.pending.front()?;
        let reason_code = front.acked?;
        let (packet_id, qos, resends) = (front.packet_id, front.qos, front.resends);
        self.pending.pop_front();
        if qos == QoS::ExactlyOnce {
            if reason_code.is_success() {
                self.qos2.insert(packet_id.get(), Qos2::AwaitPubRel);
            } else {
                // Until the failing PUBREC is sent, a resend is the same
                // message; [`Incoming::refusal_sent`] forgets it after.
                self.qos2
                    .insert(packet_id.get(), Qos2::Refused(reason_code));
            }
        }
        // Until it has received the corresponding PUBREL packet, the
        // receiver MUST acknowledge any subsequent PUBLISH packet with
        // the same Packet Identifier by sending a PUBREC
        // [MQTT-4.3.3-10]: one for the first arrival, one per resend.
        let copies = match qos == QoS::ExactlyOnce && reason_code.is_success() {
            true => 1 + usize::from(resends),
            false => 1,
        };
        let ack = AckOut {
            packet_id,
            qos,
            reason_code,
        };
        Some((ack, copies))
    }

    /// A failing PUBREC for `packet_id` went out. If it has sent a PUBREC
    /// with a Reason Code of 0x80 or greater, the receiver MUST treat any
    /// subsequent PUBLISH packet that contains that Packet Identifier as
    /// being a new Application Message [MQTT-4.3.3-9].
    pub fn refusal_sent(&mut self, packet_id: PacketId) {
        if let Some(Qos2::Refused(_)) = self.qos2.get(&packet_id.get()) {
            self.qos2.remove(&packet_id.get());
        }
    }

    /// A PUBREL arrived. True if it completes an exchange we know; either
    /// way the answer is a PUBCOMP (with 0x92 when unknown).
    pub fn release(&mut self, packet_id: PacketId) -> bool {
        match self.qos2.get(&packet_id.get()) {
            Some(Qos2::AwaitPubRel) => {
                self.qos2.remove(&packet_id.get());
                true
            }
            _ => false,
        }
    }

    /// The connection is gone but the session is kept: the server will send
    /// unacknowledged QoS 1 messages again, so their pending acks are void.
    /// QoS 2 state stays, so a resent QoS 2 message is not delivered twice.
    pub fn connection_lost(&mut self) {
        self.pending.retain(|p| p.qos == QoS::ExactlyOnce);
    }

    /// An id whose PUBREC went out before a restart (read from a store):
    /// a resend is a duplicate until its PUBREL.
    pub fn restore_awaiting_pubrel(&mut self, packet_id: PacketId) {
        self.qos2.insert(packet_id.get(), Qos2::AwaitPubRel);
    }

    /// The session is gone: forget everything.
    pub fn clear(&mut self) {
        self.qos2.clear();
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> PacketId {
        PacketId::new(n).unwrap()
    }

    #[test]
    fn out_of_order_app_acks_go_out_in_arrival_order() {
        let mut inc = Incoming::default();
        let t1 = match inc.arrive(id(1), QoS::AtLeastOnce, true, Some(10)) {
            Arrival::Deliver(Some(t)) => t,
            other => panic!("{other:?}"),
        };
        let t2 = match inc.arrive(id(2), QoS::ExactlyOnce, true, Some(10)) {
            Arrival::Deliver(Some(t)) => t,
            other => panic!("{other:?}"),
        };
        inc.app_ack(t2, ReasonCode::SUCCESS);
        assert_eq!(inc.next_ack(), None, "waits for #1");
        inc.app_ack(t1, ReasonCode::SUCCESS);
        let out: Vec<_> = std::iter::from_fn(|| inc.next_ack()).collect();
        assert_eq!(
            out.iter()
                .map(|(a, copies)| (a.packet_id.get(), *copies))
                .collect::<Vec<_>>(),
            vec![(1, 1), (2, 1)]
        );
        // QoS 2 id 2 now awaits PUBREL: a resend is a duplicate answered with PUBREC.
        assert_eq!(
            inc.arrive(id(2), QoS::ExactlyOnce, true, Some(10)),
            Arrival::Duplicate {
                resend_pubrec: Some(ReasonCode::SUCCESS)
            }
        );
        assert!(inc.release(id(2)));
        assert!(!inc.release(id(2)), "unknown now: PUBCOMP 0x92");
    }

    #[test]
    fn receive_maximum_counts_unacknowledged() {
        let mut inc = Incoming::default();
        assert!(matches!(
            inc.arrive(id(1), QoS::ExactlyOnce, false, Some(1)),
            Arrival::Deliver(None)
        ));
        assert_eq!(
            inc.arrive(id(2), QoS::ExactlyOnce, false, Some(1)),
            Arrival::ReceiveMaximumExceeded
        );
    }
}
