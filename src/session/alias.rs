//! Topic aliases (MQTT 5.0 section 3.3.2.3.4), both directions. Neither
//! map outlives its connection: a receiver MUST NOT carry forward any
//! Topic Alias mappings from one Network Connection to another [MQTT-3.3.2-7].

use crate::topic::TopicName;
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU16;

/// Aliases the server set for what it sends us.
#[derive(Debug, Default)]
pub(crate) struct IncomingAliases {
    map: HashMap<u16, TopicName, foldhash::fast::RandomState>,
}

/// Why an incoming alias cannot be used (reason 0x94 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AliasError {
    /// Above the Topic Alias Maximum we sent.
    AboveMaximum,
    /// Used without a topic before it was ever set.
    Unknown,
}

impl IncomingAliases {
    /// Resolves the topic of an incoming PUBLISH, setting the alias when the
    /// PUBLISH carries both a topic and an alias.
    pub fn resolve(
        &mut self,
        topic: Option<TopicName>,
        alias: Option<NonZeroU16>,
        maximum: u16,
    ) -> Result<Option<TopicName>, AliasError> {
        let Some(alias) = alias else {
            return Ok(topic);
        };
        // A Client MUST accept all Topic Alias values greater than 0 and less
        // than or equal to the Topic Alias Maximum value that it sent in the
        // CONNECT packet [MQTT-3.3.2-10]; a greater one is a Protocol Error.
        if alias.get() > maximum {
            return Err(AliasError::AboveMaximum);
        }
        match topic {
            Some(t) => {
                self.map.insert(alias.get(), t.clone());
                Ok(Some(t))
            }
            None => self
                .map
                .get(&alias.get())
                .cloned()
                .map(Some)
                .ok_or(AliasError::Unknown),
        }
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }
}

/// Aliases we assign to what we publish, least recently used replaced first.
#[derive(Debug, Default)]
pub(crate) struct OutgoingAliases {
    by_topic: HashMap<TopicName, (u16, u64), foldhash::fast::RandomState>,
    by_use: BTreeMap<u64, TopicName>,
    clock: u64,
}

/// How to send one PUBLISH's topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AliasUse {
    /// No alias: send the topic.
    None,
    /// Send the topic and this alias, which sets (or replaces) the mapping.
    Set(NonZeroU16),
    /// Send an empty topic and this alias, already mapped.
    Reuse(NonZeroU16),
}

impl OutgoingAliases {
    /// Chooses the alias for `topic` given the server's Topic Alias Maximum.
    ///
    /// If Topic Alias Maximum is absent or 0, the Client MUST NOT send any
    /// Topic Aliases on to the Server [MQTT-3.2.2-18]; the Client MUST NOT
    /// send a Topic Alias in a PUBLISH packet to the Server greater than
    /// this value [MQTT-3.2.2-17].
    pub fn assign(&mut self, topic: &TopicName, maximum: u16) -> AliasUse {
        if maximum == 0 {
            return AliasUse::None;
        }
        self.clock += 1;
        let stamp = self.clock;
        if let Some((alias, last)) = self.by_topic.get_mut(topic) {
            self.by_use.remove(last);
            *last = stamp;
            self.by_use.insert(stamp, topic.clone());
            return NonZeroU16::new(*alias).map_or(AliasUse::None, AliasUse::Reuse);
        }
        let alias = if self.by_topic.len() < usize::from(maximum) {
            // The map only holds aliases 1..=len, so the next one is free.
            u16::try_from(self.by_topic.len() + 1).unwrap_or(maximum)
        } else {
            // Replace the least recently used mapping.
            let Some((_, old)) = self.by_use.pop_first() else {
                return AliasUse::None;
            };
            match self.by_topic.remove(&old) {
                Some((alias, _)) => alias,
                None => return AliasUse::None,
            }
        };
        self.by_topic.insert(topic.clone(), (alias, stamp));
        self.by_use.insert(stamp, topic.clone());
        NonZeroU16::new(alias).map_or(AliasUse::None, AliasUse::Set)
    }

    pub fn clear(&mut self) {
        self.by_topic.clear();
        self.by_use.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TopicName {
        TopicName::new(s).unwrap()
    }

    #[test]
    fn outgoing_assigns_then_reuses_then_replaces_least_recently_used() {
        let mut a = OutgoingAliases::default();
        let one = NonZeroU16::new(1).unwrap();
        let two = NonZeroU16::new(2).unwrap();
        assert_eq!(a.assign(&t("a"), 2), AliasUse::Set(one));
        assert_eq!(a.assign(&t("b"), 2), AliasUse::Set(two));
        assert_eq!(a.assign(&t("a"), 2), AliasUse::Reuse(one));
        // "b" is now the least recently used: "c" takes its alias.
        assert_eq!(a.assign(&t("c"), 2), AliasUse::Set(two));
        assert_eq!(a.assign(&t("a"), 2), AliasUse::Reuse(one));
        assert_eq!(a.assign(&t("x"), 0), AliasUse::None);
    }

    #[test]
    fn incoming_sets_resolves_and_rejects() {
        let mut a = IncomingAliases::default();
        let one = NonZeroU16::new(1);
        assert_eq!(a.resolve(None, one, 5), Err(AliasError::Unknown));
        assert_eq!(a.resolve(Some(t("x")), one, 5), Ok(Some(t("x"))));
        assert_eq!(a.resolve(None, one, 5), Ok(Some(t("x"))));
        assert_eq!(
            a.resolve(None, NonZeroU16::new(6), 5),
            Err(AliasError::AboveMaximum)
        );
    }
}
