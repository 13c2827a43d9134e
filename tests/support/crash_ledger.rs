//! The crash test's books: which messages the publisher's lives reported
//! accepted or done, which lives enqueued each one, and where the
//! subscriber's lives printed each; and the verdict over them.
//!
//! The duplicates a QoS 2 message may show, and nothing more, are
//! explained by one of
//! * a re-enqueue: a later publisher life published it again because no
//!   earlier life had reported it accepted (the client may have held it
//!   already, durably, and sent it too);
//! * the subscriber's redelivery window: it printed the message in a life
//!   that was killed, among that life's last [`ACK_WINDOW`] prints (before
//!   its acknowledgement reached the broker), and a later life got it again;
//! * mosquitto re-sending a PUBLISH after the subscriber's PUBREC (see
//!   [`BrokerAudit`]), as in the chaos test.
#![allow(dead_code)]

use super::delivery::BrokerAudit;

/// How many of a killed subscriber life's last prints may still have been
/// unacknowledged at the broker: five times mosquitto's default
/// `max_inflight_messages` (20), the most QoS 1/2 messages it has
/// unacknowledged at one client.
pub const ACK_WINDOW: u64 = 100;

/// One message's story.
#[derive(Debug, Default, Clone)]
pub struct Story {
    /// A publisher life reported its enqueue complete.
    pub accepted: bool,
    /// A publisher life reported its publish complete.
    pub done: bool,
    /// Publisher lives whose list held it.
    pub enqueued: u32,
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
    /// yet, QoS 1 and 2 interleaved; each is counted as enqueued again.
    pub fn next_todo(&mut self) -> Vec<(u8, u32)> {
        let longest = self.tracks.iter().map(|t| t.stories.len()).max();
        let mut todo = Vec::new();
        for i in 0..longest.unwrap_or(0) {
            for q in 0..2 {
                let confirmed = match self.tracks[q].stories.get(i) {
                    Some(s) => self.confirmed(s),
                    None => continue,
                };
                if !confirmed {
                    self.tracks[q].stories[i].enqueued += 1;
                    todo.push((q as u8 + 1, i as u32));
                }
            }
        }
        todo
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
        let reenqueued = story.enqueued.saturating_sub(1);
        let window = story
            .prints
            .windows(2)
            .filter(|pair| {
                let (life, nth) = pair[0];
                let in_tail = self
                    .prints_in_life
                    .get(life as usize - 1)
                    .is_some_and(|total| total - nth <= ACK_WINDOW);
                life < pair[1].0 && life < last_sub_life && in_tail
            })
            .count() as u32;
        let broker = audit.resent_after_pubrec.get(&seq).copied().unwrap_or(0);
        let extra = story.prints.len() as u32 - 1;
        let mut left = extra;
        for (count, excused) in [
            (reenqueued, &mut v.explained_by_reenqueue),
            (window, &mut v.explained_by_ack_window),
            (broker, &mut v.explained_by_broker),
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

/// A QoS 2 message delivered more often than anything explains.
#[derive(Debug, Clone)]
pub struct Unexplained {
    /// Its sequence number.
    pub seq: u32,
    /// Where it was printed: (subscriber life, index in that life).
    pub prints: Vec<(u32, u64)>,
    /// Re-enqueues by later publisher lives.
    pub reenqueued: u32,
    /// Prints within a killed subscriber life's ack window.
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
