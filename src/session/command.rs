//! What the application asks the engine to publish.

use crate::codec::{PublishProperties, QoS, UserProperty};
use crate::topic::TopicName;
use bytes::Bytes;

/// A message to publish.
///
/// ```
/// use tern_mqtt::codec::QoS;
/// use tern_mqtt::session::PublishCommand;
/// use tern_mqtt::topic::TopicName;
///
/// let cmd = PublishCommand::new(TopicName::new("sensors/1/t").unwrap(), "21.5", QoS::AtLeastOnce)
///     .retain(true)
///     .message_expiry(60);
/// assert_eq!(cmd.properties.message_expiry_interval, Some(60));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishCommand {
    /// Topic Name.
    pub topic: TopicName,
    /// Payload.
    pub payload: Bytes,
    /// Quality of service.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// v5 properties. The engine manages the Topic Alias itself, and a
    /// client never sends Subscription Identifiers in a PUBLISH.
    pub properties: PublishProperties,
}

impl PublishCommand {
    /// A message with no properties, not retained.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>, qos: QoS) -> Self {
        PublishCommand {
            topic,
            payload: payload.into(),
            qos,
            retain: false,
            properties: PublishProperties::default(),
        }
    }

    /// Sets RETAIN.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Sets the Message Expiry Interval in seconds.
    pub fn message_expiry(mut self, seconds: u32) -> Self {
        self.properties.message_expiry_interval = Some(seconds);
        self
    }

    /// Adds a User Property.
    pub fn user_property(mut self, property: UserProperty) -> Self {
        self.properties.user_properties.push(property);
        self
    }
}
