//! Topic names and topic filters: validation and wildcard matching.
//!
//! [`TopicName`] is what a PUBLISH carries: no wildcards. [`TopicFilter`] is
//! what a SUBSCRIBE carries: `+` and `#` allowed where the spec places them,
//! and the `$share/{ShareName}/{filter}` form of MQTT 5.0. Both hold an
//! [`MqttString`], so a topic decoded from the network is a slice of the
//! receive buffer, not a copy.

use crate::codec::{check_mqtt_str, scan_str, MqttString, StringError};
use bytes::Bytes;
use std::fmt;
use std::ops::Deref;

/// Why a string is not a valid topic name or topic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Not a valid MQTT UTF-8 string.
    #[error(transparent)]
    String(#[from] StringError),
    /// An empty string: topic names and filters must be at least one
    /// character long ([MQTT-4.7.3-1]).
    #[error("topic names and filters must be at least one character long [MQTT-4.7.3-1]")]
    Empty,
    /// A topic name holding `+` or `#` ([MQTT-4.7.0-1], 3.1.1 [MQTT-4.7.1-1]).
    #[error("wildcards are not allowed in a topic name [MQTT-4.7.0-1]")]
    WildcardInName,
    /// `#` not alone in the last level ([MQTT-4.7.1-1], 3.1.1 [MQTT-4.7.1-2]).
    #[error("'#' must be alone in the last level of a filter [MQTT-4.7.1-1]")]
    MultiLevelWildcardMisplaced,
    /// `+` sharing a level with other characters ([MQTT-4.7.1-2], 3.1.1 [MQTT-4.7.1-3]).
    #[error("'+' must occupy a whole level of a filter [MQTT-4.7.1-2]")]
    SingleLevelWildcardMisplaced,
    /// A malformed `$share/` filter ([MQTT-4.8.2-1], [MQTT-4.8.2-2]).
    #[error("a shared subscription must be $share/{{ShareName}}/{{filter}} with a ShareName free of '/', '+' and '#' [MQTT-4.8.2-2]")]
    InvalidShare,
}

/// A validated topic name: at least one character, no wildcards, MQTT UTF-8.
///
/// ```
/// use tern_mqtt::topic::TopicName;
/// assert!(TopicName::new("sensors/1/temperature").is_ok());
/// assert!(TopicName::new("sensors/+/temperature").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(MqttString);

/// A validated topic filter: at least one character, wildcards well placed.
///
/// ```
/// use tern_mqtt::topic::{TopicFilter, TopicName};
/// let f = TopicFilter::new("sensors/+/temperature").unwrap();
/// assert!(f.matches(&TopicName::new("sensors/kitchen/temperature").unwrap()));
/// assert!(!f.matches(&TopicName::new("sensors/kitchen/humidity").unwrap()));
/// assert!(TopicFilter::new("sensors/#/x").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(MqttString);

impl TopicName {
    /// Validates `s` as a topic name.
    pub fn new(s: &str) -> Result<Self, TopicError> {
        Self::from_mqtt_string(MqttString::try_from(s)?)
    }

    /// Validates an already checked MQTT string as a topic name, without copying.
    pub fn from_mqtt_string(s: MqttString) -> Result<Self, TopicError> {
        // All Topic Names and Topic Filters MUST be at least one character long [MQTT-4.7.3-1].
        if s.is_empty() {
            return Err(TopicError::Empty);
        }
        // The wildcard characters can be used in Topic Filters, but MUST NOT
        // be used within a Topic Name [MQTT-4.7.0-1].
        if s.as_bytes().iter().any(|b| *b == b'+' || *b == b'#') {
            return Err(TopicError::WildcardInName);
        }
        Ok(TopicName(s))
    }

    /// Bytes that passed [`check_publish_topic`], as a topic name, without
    /// checking them again.
    pub(crate) fn from_checked_publish_topic(bytes: Bytes) -> Self {
        TopicName(MqttString::from_checked(bytes))
    }

    /// The topic as a string.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying MQTT string.
    pub fn as_mqtt_string(&self) -> &MqttString {
        &self.0
    }
}

/// Checks the Topic Name bytes of a received PUBLISH in one scan: the MQTT
/// string rules (length, well-formed UTF-8, no U+0000), at least one
/// character, and no wildcards.
///
/// The verdict is the one `MqttString::from_bytes` followed by
/// [`TopicName::from_mqtt_string`] gives, with the same precedence: a string
/// rule failure first, then emptiness, then a wildcard. One pass over the
/// bytes looks for NUL, `+`, `#` and non-ASCII bytes; only a topic with a
/// non-ASCII byte is checked as UTF-8 (ASCII is always well-formed UTF-8).
#[inline]
pub(crate) fn check_publish_topic(b: &[u8]) -> Result<(), TopicError> {
    if b.len() > usize::from(u16::MAX) {
        return Err(StringError::TooLong.into());
    }
    // All Topic Names and Topic Filters MUST be at least one character long [MQTT-4.7.3-1].
    if b.is_empty() {
        return Err(TopicError::Empty);
    }
    let found = scan_str(b);
    if found.non_ascii {
        // The full string check, for its UTF-8 verdict.
        check_mqtt_str(b)?;
    } else if found.nul {
        // A UTF-8 Encoded String MUST NOT include an encoding of the null
        // character U+0000 [MQTT-1.5.4-2].
        return Err(StringError::NullCharacter.into());
    }
    // The wildcard characters can be used in Topic Filters, but MUST NOT be
    // used within a Topic Name [MQTT-4.7.0-1].
    if found.wildcard {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

impl TopicFilter {
    /// Validates `s` as a topic filter.
    pub fn new(s: &str) -> Result<Self, TopicError> {
        Self::from_mqtt_string(MqttString::try_from(s)?)
    }

    /// Validates an already checked MQTT string as a topic filter, without copying.
    pub fn from_mqtt_string(s: MqttString) -> Result<Self, TopicError> {
        let body = match s.strip_prefix("$share/") {
            Some(rest) => {
                // A Shared Subscription's Topic Filter MUST start with $share/
                // and MUST contain a ShareName that is at least one character
                // long [MQTT-4.8.2-1]. The ShareName MUST NOT contain the
                // characters "/", "+" or "#", but MUST be followed by a "/"
                // character. This "/" character MUST be followed by a Topic
                // Filter [MQTT-4.8.2-2].
                let (share, filter) = rest.split_once('/').ok_or(TopicError::InvalidShare)?;
                if share.is_empty() || share.contains(['+', '#']) || filter.is_empty() {
                    return Err(TopicError::InvalidShare);
                }
                filter
            }
            None => s.as_str(),
        };
        check_filter_levels(body)?;
        Ok(TopicFilter(s))
    }

    /// The filter as a string.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying MQTT string.
    pub fn as_mqtt_string(&self) -> &MqttString {
        &self.0
    }

    /// For `$share/{ShareName}/{filter}`, the share name and the inner filter.
    pub fn share(&self) -> Option<(&str, &str)> {
        self.0.strip_prefix("$share/")?.split_once('/')
    }

    /// True when the filter holds `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.filter_part().bytes().any(|b| b == b'+' || b == b'#')
    }

    /// The part of the filter that is matched against topic names: the whole
    /// filter, or the part after `$share/{ShareName}/`.
    pub fn filter_part(&self) -> &str {
        match self.share() {
            Some((_, filter)) => filter,
            None => self.as_str(),
        }
    }

    /// Whether `topic` matches this filter, by the rules of section 4.7.
    ///
    /// A shared subscription matches as its inner filter does.
    pub fn matches(&self, topic: &TopicName) -> bool {
        let filter = self.0.as_bytes();
        // A filter with no wildcard (and no share prefix) matches exactly
        // its own topic name: compared as bytes, without splitting levels
        // or re-reading either string as UTF-8 (the common subscription,
        // checked for every message received).
        if !filter.starts_with(b"$share/") && !filter.iter().any(|b| matches!(b, b'+' | b'#')) {
            return filter[..] == topic.as_mqtt_string().as_bytes()[..];
        }
        matches_filter(self.filter_part(), topic.as_str())
    }
}

fn check_filter_levels(filter: &str) -> Result<(), TopicError> {
    // All Topic Names and Topic Filters MUST be at least one character long [MQTT-4.7.3-1].
    if filter.is_empty() {
        return Err(TopicError::Empty);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') {
            // The multi-level wildcard character MUST be specified either on
            // its own or following a topic level separator. In either case it
            // MUST be the last character specified in the Topic Filter [MQTT-4.7.1-1].
            if level != "#" || levels.peek().is_some() {
                return Err(TopicError::MultiLevelWildcardMisplaced);
            }
        }
        // Where it is used, it [the single-level wildcard] MUST occupy an
        // entire level of the filter [MQTT-4.7.1-2].
        if level.contains('+') && level != "+" {
            return Err(TopicError::SingleLevelWildcardMisplaced);
        }
    }
    Ok(())
}

/// Matches a topic name against a (non-shared) filter string.
fn matches_filter(filter: &str, topic: &str) -> bool {
    // The Server MUST NOT match Topic Filters starting with a wildcard
    // character (# or +) with Topic Names beginning with a $ character
    // [MQTT-4.7.2-1]. A client routing what it receives follows the same rule.
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    // A topic name holds no wildcard, so an equal filter has none either:
    // the common exact subscription matches without splitting levels.
    if filter == topic {
        return true;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            // "sport/#" also matches "sport": '#' matches the parent level too.
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl Deref for TopicName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Deref for TopicFilter {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, TopicError> {
        Self::new(s)
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, TopicError> {
        Self::new(s)
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Byte strings of every length up to 40 from an alphabet of the bytes
    /// the checks care about, placed at every alignment.
    pub(crate) fn awkward_strings() -> Vec<Vec<u8>> {
        let alphabet: &[u8] = &[
            b'a', b'/', 0, b'+', b'#', 0x7F, 0x80, 0xC3, 0xA9, 0xED, 0xFF,
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut out = Vec::new();
        for len in 0..=40usize {
            for _ in 0..400 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // Mostly plain ASCII, as real topics are.
                        match seed % 16 {
                            0..=9 => b'a' + (seed >> 8) as u8 % 26,
                            k => alphabet[(k as usize + (seed >> 16) as usize) % alphabet.len()],
                        }
                    })
                    .collect();
                out.push(s);
            }
        }
        // Valid multi-byte UTF-8 next to a wildcard and a NUL, late in the string.
        out.push("sensors/é/température+".as_bytes().to_vec());
        out.push("sensors/é/températur\0e".as_bytes().to_vec());
        out
    }

    #[test]
    fn one_pass_publish_topic_check_agrees_with_the_two_step_rules() {
        // The rules as `MqttString::from_bytes` then `from_mqtt_string` apply them.
        fn two_step(b: &[u8]) -> Result<(), TopicError> {
            check_mqtt_str(b)?;
            let s = MqttString::from_checked(Bytes::copy_from_slice(b));
            TopicName::from_mqtt_string(s).map(|_| ())
        }
        let mut verdicts = std::collections::HashSet::new();
        for s in awkward_strings() {
            let got = check_publish_topic(&s);
            assert_eq!(got, two_step(&s), "{s:02X?}");
            verdicts.insert(format!("{got:?}"));
        }
        // Every verdict was reached, so each path was compared.
        assert_eq!(verdicts.len(), 5, "{verdicts:?}");
        let long = vec![b'a'; 65_536];
        assert_eq!(
            check_publish_topic(&long),
            Err(TopicError::String(StringError::TooLong))
        );
    }

    #[test]
    fn shared_subscription_syntax_mqtt_4_8_2_1_and_2() {
        for bad in [
            "$share/g",
            "$share//a",
            "$share/g/",
            "$share/+/a",
            "$share/#/a",
            "$share/g+/a",
        ] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::InvalidShare),
                "{bad}"
            );
        }
        let f = TopicFilter::new("$share/group/sensors/+").unwrap();
        assert_eq!(f.share(), Some(("group", "sensors/+")));
        assert!(f.matches(&TopicName::new("sensors/1").unwrap()));
    }

    #[test]
    fn wildcards_match_by_section_4_7() {
        let m = |f: &str, t: &str| {
            TopicFilter::new(f)
                .unwrap()
                .matches(&TopicName::new(t).unwrap())
        };
        assert!(m("sport/#", "sport"));
        assert!(m("sport/#", "sport/tennis/player1"));
        assert!(m("sport/+", "sport/"));
        assert!(!m("sport/+", "sport"));
        assert!(m("+/+", "/finance"));
        assert!(m("/+", "/finance"));
        assert!(!m("+", "/finance"));
        assert!(m("#", "a/b/c"));
        // [MQTT-4.7.2-1]: leading wildcards do not match $ topics.
        assert!(!m("#", "$SYS/x"));
        assert!(!m("+/x", "$SYS/x"));
        assert!(m("$SYS/#", "$SYS/x"));
        // Filters without wildcards match their own name only, and a shared
        // one by its inner filter, never by the whole string.
        assert!(m("sport/tennis", "sport/tennis"));
        assert!(!m("sport/tennis", "sport/tennis/"));
        assert!(!m("sport/tennis", "sport/tenni"));
        assert!(m("$share/g/sport", "sport"));
        assert!(!m("$share/g/sport", "$share/g/sport"));
        assert_eq!(
            TopicFilter::new("a/#/b"),
            Err(TopicError::MultiLevelWildcardMisplaced)
        );
        assert_eq!(
            TopicFilter::new("a/b+"),
            Err(TopicError::SingleLevelWildcardMisplaced)
        );
        assert_eq!(TopicName::new("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::new(""), Err(TopicError::Empty));
    }
}
