//! Topic names and topic filters: validation and wildcard matching.
//!
//! [`TopicName`] is what a PUBLISH carries: no wildcards. [`TopicFilter`] is
//! what a SUBSCRIBE carries: `+` and `#` allowed where the spec places them,
//! and the `$share/{ShareName}/{filter}` form of MQTT 5.0. Both hold an
//! [`MqttString`], so a topic decoded from the network is a slice of the
//! receive buffer, not a copy.

use crate::codec::{MqttString, StringError};
use std::fmt;
use std::ops::Deref;

/// Why a string is not a valid topic name or topic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Not a valid MQTT UTF-8 string.
    #[error(transparent)]
    String(#[from] StringError),
    /// Empty ([MQTT-4.7.3-1]).
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

    /// The topic as a string.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying MQTT string.
    pub fn as_mqtt_string(&self) -> &MqttString {
        &self.0
    }
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
mod tests {
    use super::*;

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
