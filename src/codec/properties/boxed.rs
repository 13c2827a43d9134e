//! PUBLISH properties held out of line, so that a PUBLISH, a delivery and
//! a message stay small as they move through queues: most messages carry
//! no property at all, and then nothing is allocated.

use super::PublishProperties;
use std::fmt;
use std::ops::{Deref, DerefMut};

impl PublishProperties {
    /// No property at all: what a PUBLISH without properties (and every
    /// 3.1.1 PUBLISH) carries, usable where a `const` or `static` is needed.
    pub const EMPTY: PublishProperties = PublishProperties {
        payload_format_indicator: None,
        message_expiry_interval: None,
        topic_alias: None,
        response_topic: None,
        correlation_data: None,
        user_properties: Vec::new(),
        subscription_identifiers: Vec::new(),
        content_type: None,
    };
}

/// What an empty [`BoxedPublishProperties`] reads as.
static NO_PUBLISH_PROPERTIES: PublishProperties = PublishProperties::EMPTY;

/// [`PublishProperties`] behind one pointer, absent when there are none.
///
/// It reads as the properties themselves (`p.properties.topic_alias`,
/// through `Deref`), so code that reads them is unchanged; the empty set is
/// one null pointer, not 160 bytes of `None`s. Writing a field through
/// `DerefMut` allocates the box if there was none: to clear a field, go
/// through [`get_mut`](Self::get_mut), which never allocates.
///
/// ```
/// use tern_mqtt::codec::{BoxedPublishProperties, PublishProperties};
/// let mut props = BoxedPublishProperties::default();
/// assert!(props.is_empty() && props.message_expiry_interval.is_none());
/// props.message_expiry_interval = Some(60);
/// let plain = PublishProperties { message_expiry_interval: Some(60), ..Default::default() };
/// assert_eq!(props, BoxedPublishProperties::from(plain));
/// ```
#[derive(Clone, Default)]
pub struct BoxedPublishProperties(Option<Box<PublishProperties>>);

impl BoxedPublishProperties {
    /// True when no property is set; an empty box answers without reading
    /// a field.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.as_deref().is_none_or(PublishProperties::is_empty)
    }

    /// The properties to change, or `None` when there are none (nothing
    /// to clear); never allocates.
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut PublishProperties> {
        self.0.as_deref_mut()
    }

    /// The properties when a set is held, `None` when there are none (an
    /// allocated set may still be empty); never allocates.
    #[inline]
    pub(crate) fn as_set(&self) -> Option<&PublishProperties> {
        self.0.as_deref()
    }

    /// The properties by value.
    pub fn into_inner(self) -> PublishProperties {
        self.0.map(|b| *b).unwrap_or_default()
    }
}

impl From<PublishProperties> for BoxedPublishProperties {
    /// Boxes `properties`, or holds nothing when they are empty.
    #[inline]
    fn from(properties: PublishProperties) -> Self {
        if properties.is_empty() {
            BoxedPublishProperties(None)
        } else {
            BoxedPublishProperties(Some(Box::new(properties)))
        }
    }
}

impl Deref for BoxedPublishProperties {
    type Target = PublishProperties;
    #[inline]
    fn deref(&self) -> &PublishProperties {
        self.0.as_deref().unwrap_or(&NO_PUBLISH_PROPERTIES)
    }
}

impl DerefMut for BoxedPublishProperties {
    /// Allocates the box when there was none.
    fn deref_mut(&mut self) -> &mut PublishProperties {
        self.0.get_or_insert_with(Box::default)
    }
}

impl PartialEq for BoxedPublishProperties {
    /// Compares the properties: an empty box equals an allocated empty set.
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for BoxedPublishProperties {}

impl PartialEq<PublishProperties> for BoxedPublishProperties {
    fn eq(&self, other: &PublishProperties) -> bool {
        **self == *other
    }
}

impl fmt::Debug for BoxedPublishProperties {
    /// As the properties themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Publish;
    use crate::session::{Delivery, Event};

    #[test]
    fn publishes_and_events_are_small_and_empty_properties_allocate_nothing() {
        // One pointer in place of 160 bytes of properties.
        assert_eq!(std::mem::size_of::<BoxedPublishProperties>(), 8);
        eprintln!(
            "Publish {} B, Delivery {} B, Event {} B",
            std::mem::size_of::<Publish>(),
            std::mem::size_of::<Delivery>(),
            std::mem::size_of::<Event>()
        );
        assert!(std::mem::size_of::<Publish>() <= 80);
        assert!(std::mem::size_of::<Delivery>() <= 104);
        // The CONNACK of `Event::Connected` is boxed too; the largest event
        // left is a disconnect's.
        assert!(std::mem::size_of::<Event>() <= 152);
        let empty = BoxedPublishProperties::from(PublishProperties::default());
        assert!(empty.0.is_none() && empty.is_empty());
    }

    #[test]
    fn reads_and_compares_as_the_properties() {
        let mut props = BoxedPublishProperties::default();
        assert_eq!(props.get_mut(), None);
        props.topic_alias = std::num::NonZeroU16::new(3);
        assert!(!props.is_empty());
        if let Some(p) = props.get_mut() {
            p.topic_alias = None;
        }
        // An allocated empty set equals no set at all.
        assert!(props.is_empty());
        assert_eq!(props, BoxedPublishProperties::default());
        assert_eq!(props.into_inner(), PublishProperties::default());
    }
}
