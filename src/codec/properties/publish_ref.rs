//! The borrowed view of a PUBLISH's properties, read on demand from the
//! packet's own checked bytes.

use super::*;

/// The properties of a borrowed PUBLISH ([`PublishRef`](crate::codec::PublishRef)):
/// the packet's own property bytes, checked when the PUBLISH was decoded
/// and read on demand, so that decoding allocates nothing and a view stays
/// a few words long however many properties there are. Only the Topic
/// Alias, which decides the topic, is read out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishPropertiesRef<'a> {
    /// The whole property block, checked.
    block: &'a [u8],
    /// Topic Alias (0x23), never 0 [MQTT-3.3.2-8].
    topic_alias: Option<NonZeroU16>,
}

impl<'a> PublishPropertiesRef<'a> {
    /// The properties, in order.
    fn iter(&self) -> impl Iterator<Item = PropertyRef<'a>> + 'a {
        checked_properties(self.block)
    }

    /// The first property `pick` accepts.
    fn find<T>(&self, pick: impl FnMut(PropertyRef<'a>) -> Option<T>) -> Option<T> {
        self.iter().find_map(pick)
    }

    /// Topic Alias (0x23), never 0 [MQTT-3.3.2-8].
    pub fn topic_alias(&self) -> Option<NonZeroU16> {
        self.topic_alias
    }

    /// Payload Format Indicator (0x01): true when the payload is UTF-8 text.
    pub fn payload_format_indicator(&self) -> Option<bool> {
        self.find(|p| match p {
            PropertyRef::Byte(id::PAYLOAD_FORMAT_INDICATOR, b) => Some(b == 1),
            _ => None,
        })
    }

    /// Message Expiry Interval (0x02), in seconds.
    pub fn message_expiry_interval(&self) -> Option<u32> {
        self.find(|p| match p {
            PropertyRef::Four(id::MESSAGE_EXPIRY_INTERVAL, n) => Some(n),
            _ => None,
        })
    }

    /// Response Topic (0x08), checked as a topic name [MQTT-3.3.2-14].
    pub fn response_topic(&self) -> Option<&'a str> {
        self.find(|p| match p {
            PropertyRef::Str(id::RESPONSE_TOPIC, t) => Some(checked_str(t)),
            _ => None,
        })
    }

    /// Correlation Data (0x09).
    pub fn correlation_data(&self) -> Option<&'a [u8]> {
        self.find(|p| match p {
            PropertyRef::Bin(id::CORRELATION_DATA, d) => Some(d),
            _ => None,
        })
    }

    /// Content Type (0x03).
    pub fn content_type(&self) -> Option<&'a str> {
        self.find(|p| match p {
            PropertyRef::Str(id::CONTENT_TYPE, t) => Some(checked_str(t)),
            _ => None,
        })
    }

    /// The User Properties (0x26), in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.iter().filter_map(|p| match p {
            PropertyRef::User(k, v) => Some((checked_str(k), checked_str(v))),
            _ => None,
        })
    }

    /// The Subscription Identifiers (0x0B), in order (server to client).
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = NonZeroU32> + 'a {
        self.iter().filter_map(|p| match p {
            PropertyRef::Vbi(id::SUBSCRIPTION_IDENTIFIER, v) => NonZeroU32::new(v),
            _ => None,
        })
    }

    /// True when the PUBLISH carries no property.
    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }

    /// The owned properties, their strings and data copied.
    pub fn to_properties(&self) -> PublishProperties {
        let frame = Frame {
            bytes: None,
            version: ProtocolVersion::V5,
        };
        self.to_properties_in(&frame)
    }

    /// The owned properties, their strings and data shared from `frame`:
    /// one pass over the checked block, each property placed by the same
    /// code as the owned decoder's.
    pub(crate) fn to_properties_in(self, frame: &Frame<'_>) -> PublishProperties {
        let mut p = PublishProperties::default();
        for prop in self.iter() {
            // Checked when the PUBLISH was decoded: `apply` cannot refuse it.
            let _ = p.apply(prop.to_owned(frame));
        }
        p
    }

    /// Reads and checks a PUBLISH's Property Length and properties.
    #[inline]
    pub(crate) fn read(i: &'a [u8], v: ProtocolVersion) -> PResult<'a, Self> {
        let repeatable = bits(&[id::USER_PROPERTY, id::SUBSCRIPTION_IDENTIFIER]);
        let (_, block) = property_block(i)?;
        let mut topic_alias = None;
        let allowed = PublishProperties::ALLOWED;
        let (i, ()) = walk_properties(i, v, allowed, repeatable, |prop| {
            match prop {
                PropertyRef::Two(id::TOPIC_ALIAS, n) => {
                    // A Topic Alias of 0 is not permitted [MQTT-3.3.2-8].
                    topic_alias = Some(NonZeroU16::new(n).ok_or(DecodeError::TopicAliasZero)?)
                }
                PropertyRef::Str(id::RESPONSE_TOPIC, t) => {
                    response_topic(t)?;
                }
                PropertyRef::Vbi(id::SUBSCRIPTION_IDENTIFIER, n) => {
                    subscription_id(n, "MQTT-3.3.2.3.8")?;
                }
                // Each checked by `walk_properties` (the Byte's 0 or 1, the
                // strings' UTF-8) and read on demand.
                PropertyRef::Byte(id::PAYLOAD_FORMAT_INDICATOR, _)
                | PropertyRef::Four(id::MESSAGE_EXPIRY_INTERVAL, _)
                | PropertyRef::Bin(id::CORRELATION_DATA, _)
                | PropertyRef::User(..)
                | PropertyRef::Str(id::CONTENT_TYPE, _) => {}
                _ => return Err(unexpected()),
            }
            Ok(())
        })?;
        Ok((i, PublishPropertiesRef { block, topic_alias }))
    }
}
