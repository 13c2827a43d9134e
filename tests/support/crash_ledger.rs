//! The crash test's books: which messages the publisher's lives reported
//! about to feed to the client, accepted or done, and where the
//! subscriber's lives printed each; and the verdict over them.
//!
//! The duplicates a QoS 2 message may show, and nothing more, are
//! explained by one of
//! * a re-enqueue: more than one publisher life started to feed it to the
//!   client, because no earlier life had reported it accepted (the client
//!   may have held it already, durably, and sent it too);
//! * the subscriber's redelivery window: it printed the message in a life
//!   that was killed before its acknowledgement reached the broker, which
//!   sent it again (the broker log shows the re-sent PUBLISH before any
//!   PUBREC, see [`BrokerAudit`]), and a later life printed it again;
//! * mosquitto re-sending a PUBLISH after the subscriber's PUBREC (see
//!   [`BrokerAudit`]), as in the chaos test.
#![allow(dead_code)]

use super::delivery::BrokerAudit;

/// One message's story.
#[derive(Debug, Default, Clone)]
pub struct Story {
    /// A publisher life reported its enqueue complete.
    pub accepted: bool,
    /// A publisher life reported its publish complete.
    pub done: bool,
    /// Publisher lives that started to feed it to the client.
    pub fed: u32,
    /// Subscriber prints: (life, index of the print in that life).
    pub prints: Vec<(u32, u64)>,
}

/// One QoS's messages.
#[derive(Debug, Default, Clone)]
pub struct Track {
    /// By sequence number.
    pub stories: Vec<Story>,
    /// Arrivals the broker flagged DUP.
    pub dup_flagged: u64,
}

/// Every message of the run, and what counts as confirmed.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// QoS 1 at index 0, QoS 2 at index 1.
    pub tracks: [Track; 2],
    /// Whether "accepted" (the durable store's promise) confirms a message;
    /// else only "done" does (an in-memory client keeps nothing across a
    /// kill).
    pub accepted_confirms: bool,
    /// Prints per subscriber life.
    pub prints_in_life: Vec<u64>,
    /// Payloads or topics that were not ours.
    pub corrupt: Vec<String>,
    /// Publishes that completed with an error or a failure code.
    pub failed: Vec<(u8, u32)>,
}

impl Ledger {
    /// `q1` QoS 1 and `q2` QoS 2 messages, none published yet.
    pub fn new(q1: u32, q2: u32, accepted_confirms: bool) -> Ledger {
        let track = |n: u32| Track {
            stories: vec![Story::default(); n as usize],
            dup_flagged: 0,
        };
        Ledger {
            tracks: [track(q1), track(q2)],
            accepted_confirms,
            prints_in_life: Vec::new(),
            corrupt: Vec::new(),
            failed: Vec::new(),
        }
    }

    fn story(&mut self, qos: u8, seq: u32) -> Option<&mut Story> {
        let track = self.tracks.get_mut(usize::from(qos).checked_sub(1)?)?;
        track.stories.get_mut(usize::try_from(seq).ok()?)
    }

    fn confirmed(&self, s: &Story) -> bool {
        if self.accepted_confirms {
            s.accepted
        } else {
            s.done
        }
    }

    /// Messages confirmed so far.
    pub fn confirmed_count(&self) -> u64 {
        self.tracks
            .iter()
            .flat_map(|t| &t.stories)
            .filter(|s| self.confirmed(s))
            .count() as u64
    }

    /// The list of the next publisher life: every message not confirmed
    /// yet, QoS 1 and 2 interleaved.
    pub fn next_todo(&mut self) -> Vec<(u8, u32)> {
        let longest = self.tracks.iter().map(|t| t.stories.len()).max();
        let mut todo = Vec::new();
        for i in 0..longest.unwrap_or(0) {
            for q in 0..2 {
                if self.tracks[q]
                    .stories
                    .get(i)
                    .is_some_and(|s| !self.confirmed(s))
                {
                    todo.push((q as u8 + 1, i as u32));
                }
            }
        }
        todo
    }

    /// A publisher life is about to feed `(qos, seq)` to its client.
    pub fn feeding(&mut self, qos: u8, seq: u32) {
        self.story(qos, seq).expect("fed message in range").fed += 1;
    }

    /// The publisher reported `(qos, seq)` accepted; true when that newly
    /// confirms it.
    pub fn accepted(&mut self, qos: u8, seq: u32) -> bool {
        let confirms = self.accepted_confirms;
        let story = self.story(qos, seq).expect("accepted message in range");
        let new = !story.accepted;
        story.accepted = true;
        new && confirms
    }

    /// The publisher reported `(qos, seq)` done; true when that newly
    /// confirms it.
    pub fn done(&mut self, qos: u8, seq: u32, ok: bool) -> bool {
        if !ok {
            self.failed.push((qos, seq));
        }
        let confirms = !self.accepted_confirms && ok;
        let story = self.story(qos, seq).expect("done message in range");
        let new = !story.done && ok;
        story.done |= ok;
        new && confirms
    }

    /// The subscriber's life `life` (from 1) printed `(qos, seq)`.
    pub fn got(&mut self, life: u32, qos: u8, seq: u32, dup: bool) {
        let index = usize::try_from(life).expect("life fits usize");
        if self.prints_in_life.len() < index {
            self.prints_in_life.resize(index, 0);
        }
        let nth = self.prints_in_life[index - 1];
        self.prints_in_life[index - 1] += 1;
        match self.story(qos, seq) {
            Some(story) => story.prints.push((life, nth)),
            None => self.corrupt.push(format!("QoS {qos} #{seq} out of range")),
        }
        if dup {
            self.tracks[usize::from(qos) - 1].dup_flagged += 1;
        }
    }

    /// Confirmed messages the subscriber has not printed yet (at most
    /// `limit`, as `(qos, seq)`), and how many there are.
    pub fn unseen(&self, limit: usize) -> (u64, Vec<(u8, u32)>) {
        let mut all = self.tracks.iter().enumerate().flat_map(|(q, t)| {
            t.stories
                .iter()
                .enumerate()
                .filter(|(_, s)| self.confirmed(s) && s.prints.is_empty())
                .map(move |(i, _)| (q as u8 + 1, i as u32))
        });
        let first: Vec<_> = all.by_ref().take(limit).collect();
        (first.len() as u64 + all.count() as u64, first)
    }

    /// The verdict; `last_sub_life` is the subscriber life that was not
    /// killed.
    pub fn verdict(&self, audit: &BrokerAudit, last_sub_life: u32) -> Verdict {
        let mut v = Verdict::default();
        for (q, track) in self.tracks.iter().enumerate() {
            for (seq, story) in track.stories.iter().enumerate() {
                let seq = seq as u32;
                v.confirmed[q] += u64::from(self.confirmed(story));
                v.duplicates[q] += (story.prints.len() as u64).saturating_sub(1);
                if story.prints.is_empty() && self.confirmed(story) {
                    v.lost.push((q as u8 + 1, seq));
                }
                if q == 1 && story.prints.len() > 1 {
                    self.judge_qos2(&mut v, audit, seq, story, last_sub_life);
                }
            }
        }
        v
    }

    fn judge_qos2(
        &self,
        v: &mut Verdict,
        audit: &BrokerAudit,
        seq: u32,
        story: &Story,
        last_sub_life: u32,
    ) {
        let reenqueued = story.fed.saturating_sub(1);
        let resent = audit.resent_before_pubrec.get(&seq).copied().unwrap_or(0);
        let window = ack_window_redeliveries(&story.prints, last_sub_life, resent);
        let broker = audit.resent_after_pubrec.get(&seq).copied().unwrap_or(0);
        let extra = story.prints.len() as u32 - 1;
        let mut left = extra;
        for (count, excused) in [
            (broker, &mut v.explained_by_broker),
            (reenqueued, &mut v.explained_by_reenqueue),
            (window, &mut v.explained_by_ack_window),
        ] {
            let used = left.min(count);
            *excused += u64::from(used);
            left -= used;
        }
        if left > 0 {
            v.unexplained_qos2.push(Unexplained {
                seq,
                prints: story.prints.clone(),
                reenqueued,
                window,
                broker,
            });
        }
    }
}

/// How many of a message's prints the subscriber's ack window explains:
/// prints in a killed life that a later life printed again (each copy the
/// broker had not seen acknowledged comes back once), at most as many as
/// the later lives printed and as the broker re-sent before a PUBREC.
pub fn ack_window_redeliveries(prints: &[(u32, u64)], last_sub_life: u32, resent: u32) -> u32 {
    let mut unacked = 0u32;
    let mut again = 0u32;
    for (i, &(life, _)) in prints.iter().enumerate() {
        if life < last_sub_life && prints[i + 1..].iter().any(|(l, _)| *l > life) {
            unacked += 1;
        }
        if prints[..i].iter().any(|(l, _)| *l < life) {
            again += 1;
        }
    }
    unacked.min(again).min(resent)
}

/// A QoS 2 message delivered more often than anything explains.
#[derive(Debug, Clone)]
pub struct Unexplained {
    /// Its sequence number.
    pub seq: u32,
    /// Where it was printed: (subscriber life, index in that life).
    pub prints: Vec<(u32, u64)>,
    /// Publisher lives that fed it, beyond the first.
    pub reenqueued: u32,
    /// Prints in a killed subscriber life that the broker re-sent before a
    /// PUBREC and a later life printed again.
    pub window: u32,
    /// mosquitto's re-sends after PUBREC.
    pub broker: u32,
}

/// What the run shows.
#[derive(Debug, Default, Clone)]
pub struct Verdict {
    /// Confirmed messages per QoS.
    pub confirmed: [u64; 2],
    /// Arrivals beyond the first, per QoS.
    pub duplicates: [u64; 2],
    /// Confirmed messages the subscriber never printed.
    pub lost: Vec<(u8, u32)>,
    /// QoS 2 duplicates explained by a re-enqueue.
    pub explained_by_reenqueue: u64,
    /// QoS 2 duplicates explained by a subscriber kill before its ack.
    pub explained_by_ack_window: u64,
    /// QoS 2 duplicates explained by mosquitto's re-sends.
    pub explained_by_broker: u64,
    /// QoS 2 messages with duplicates nothing explains.
    pub unexplained_qos2: Vec<Unexplained>,
}

#[cfg(test)]
mod tests {
    use super::super::crash_child::Report;
    use super::*;

    #[test]
    fn reports_survive_their_line() {
        for r in [
            Report::Ready,
            Report::Feeding(1, 7),
            Report::Accepted(2, 19_999),
            Report::Done(1, 3, true),
            Report::Done(2, 3, false),
            Report::Finished,
            Report::Marker,
            Report::Got(2, 0, true),
            Report::Corrupt("crash/q1 (3 bytes)".into()),
        ] {
            assert_eq!(Report::parse(&r.line()), Some(r.clone()), "{}", r.line());
        }
        assert_eq!(Report::parse("test crash_child ... ok"), None);
        assert_eq!(Report::parse("crash: accepted 1"), None);
    }

    /// The ledger loses nothing it should find, excuses a re-enqueue and an
    /// unacknowledged redelivery only as far as they go, and blames the rest.
    #[test]
    fn ledger_finds_losses_and_unexplained_duplicates() {
        let mut ledger = Ledger::new(1, 4, true);
        assert_eq!(ledger.next_todo().len(), 5);
        for seq in 0..4 {
            ledger.feeding(2, seq);
            assert!(ledger.accepted(2, seq));
        }
        ledger.feeding(1, 0);
        // Seq 0: two lives fed it (a re-enqueue), printed twice.
        ledger.feeding(2, 0);
        // Seq 1: printed in killed life 1 and again in life 2, and the broker
        // re-sent it before a PUBREC: explained.
        // Seq 2: printed twice in the last life, nothing explains it.
        // Seq 3: never printed: lost. QoS 1 #0 was never accepted: not lost.
        for (life, seq) in [(1, 0), (1, 0), (1, 1), (2, 1), (2, 2), (2, 2)] {
            ledger.got(life, 2, seq, false);
        }
        let audit = BrokerAudit {
            resent_before_pubrec: [(1, 1)].into_iter().collect(),
            ..Default::default()
        };
        let v = ledger.verdict(&audit, 2);
        assert_eq!(v.lost, vec![(2, 3)]);
        assert_eq!(v.confirmed, [0, 4]);
        assert_eq!(v.explained_by_reenqueue, 1);
        assert_eq!(v.explained_by_ack_window, 1);
        let blamed: Vec<u32> = v.unexplained_qos2.iter().map(|u| u.seq).collect();
        assert_eq!(blamed, vec![2]);
        // Without the broker's re-send, seq 1 is blamed too.
        let v = ledger.verdict(&BrokerAudit::default(), 2);
        let blamed: Vec<u32> = v.unexplained_qos2.iter().map(|u| u.seq).collect();
        assert_eq!(blamed, vec![1, 2]);
    }

    #[test]
    fn ack_window_counts_only_copies_a_later_life_got_again() {
        use super::ack_window_redeliveries as window;
        // Two unacked copies in killed life 1, both back in life 2.
        assert_eq!(window(&[(1, 9), (1, 10), (2, 0), (2, 1)], 3, 5), 2);
        // ... but only as often as the broker re-sent before a PUBREC.
        assert_eq!(window(&[(1, 9), (1, 10), (2, 0), (2, 1)], 3, 1), 1);
        // Printed twice in one life, never again: not the window's doing.
        assert_eq!(window(&[(2, 3), (2, 4)], 3, 5), 0);
        // The last life was not killed.
        assert_eq!(window(&[(3, 3), (3, 4)], 3, 5), 0);
    }

    #[test]
    fn broker_audit_tells_resends_before_and_after_pubrec() {
        let log = "\
    1: Sending PUBLISH to S (d0, q2, r0, m7, 'crash/q2/41', ... (27 bytes))
    1: Sending PUBLISH to S (d1, q2, r0, m7, 'crash/q2/41', ... (27 bytes))
    1: Received PUBREC from S (Mid: 7)
    1: Sending PUBLISH to S (d1, q2, r0, m7, 'crash/q2/41', ... (27 bytes))
    ";
        let a = BrokerAudit::from_log(log, "P", "S", super::super::crash_child::PREFIX_Q2);
        assert_eq!(a.resent_before_pubrec.get(&41), Some(&1));
        assert_eq!(a.resent_after_pubrec.get(&41), Some(&1));
    }
}
