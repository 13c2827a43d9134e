//! What the application asks the engine to publish.

use crate::codec::{BoxedPublishProperties, MqttString, QoS, StringError, UserProperty};
use crate::topic::TopicName;
use bytes::Bytes;

/// A message to publish.
///
/// ```
/// use tern_mqtt::codec::{MqttString, QoS};
/// use tern_mqtt::session::PublishCommand;
/// use tern_mqtt::topic::TopicName;
///
/// let cmd = PublishCommand::new(TopicName::new("sensors/1/t").unwrap(), "21.5", QoS::AtLeastOnce)
///     .retain(true)
///     .message_expiry(60)
///     .content_type(MqttString::try_from("text/plain").unwrap())
///     .payload_format_utf8(true)
///     .response_topic(TopicName::new("replies/1").unwrap())
///     .correlation_data("req-7");
/// assert_eq!(cmd.properties.message_expiry_interval, Some(60));
/// assert_eq!(cmd.properties.correlation_data.as_deref(), Some(&b"req-7"[..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishCommand {
    /// Topic Name the message is published to; a checked [`TopicName`], so
    /// never holding wildcards. On MQTT 5.0 the engine may send it as a Topic
    /// Alias when the server allows aliases.
    pub topic: TopicName,
    /// Payload: the message body, any bytes, possibly empty. An empty payload
    /// with `retain` set deletes the topic's retained message.
    pub payload: Bytes,
    /// Quality of service.
    pub qos: QoS,
    /// RETAIN (default `false`): ask the server to keep the message as the
    /// topic's retained message. Refused with
    /// [`CommandError::RetainNotSupported`](super::CommandError::RetainNotSupported)
    /// when the server's CONNACK said Retain Available 0 [MQTT-3.2.2-14].
    pub retain: bool,
    /// v5 properties. The engine manages the Topic Alias itself, and a
    /// client never sends Subscription Identifiers in a PUBLISH. Out of
    /// line: nothing is allocated when there are none.
    pub properties: BoxedPublishProperties,
}

impl PublishCommand {
    /// A message with no properties, not retained.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>, qos: QoS) -> Self {
        PublishCommand {
            topic,
            payload: payload.into(),
            qos,
            retain: false,
            properties: BoxedPublishProperties::default(),
        }
    }

    /// A message with no properties to a topic given as `&str`, which is
    /// checked as a topic name (no wildcards, not empty, no NUL, at most
    /// 65,535 bytes).
    pub fn to(
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
    ) -> Result<Self, crate::topic::TopicError> {
        Ok(Self::new(TopicName::new(topic)?, payload, qos))
    }

    /// Sets RETAIN (default `false`): the server keeps the message as the
    /// topic's retained message, and an empty payload deletes it. The publish
    /// fails with
    /// [`CommandError::RetainNotSupported`](super::CommandError::RetainNotSupported)
    /// if the server does not support retained messages.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Sets the Message Expiry Interval in seconds.
    pub fn message_expiry(mut self, seconds: u32) -> Self {
        self.properties.message_expiry_interval = Some(seconds);
        self
    }

    /// Adds a User Property from two `&str`s (v5); refused, never altered,
    /// when the key or the value is not a valid MQTT string (a NUL
    /// character, or over 65,535 bytes).
    ///
    /// ```
    /// use tern_mqtt::{PublishCommand, QoS};
    ///
    /// # fn main() -> Result<(), tern_mqtt::Error> {
    /// let cmd = PublishCommand::to("plant/line1/temp", "21.5", QoS::AtLeastOnce)?
    ///     .user_property("unit", "celsius")?;
    /// assert_eq!(cmd.properties.user_properties.len(), 1);
    /// assert!(cmd.user_property("bad\0key", "v").is_err());
    /// # Ok(()) }
    /// ```
    pub fn user_property(mut self, key: &str, value: &str) -> Result<Self, StringError> {
        self.properties
            .user_properties
            .push(crate::codec::user_property(key, value)?);
        Ok(self)
    }

    /// Adds a User Property already made of checked strings (v5).
    pub fn user_property_pair(mut self, property: UserProperty) -> Self {
        self.properties.user_properties.push(property);
        self
    }

    /// Sets the Content Type (a MIME type, for example).
    pub fn content_type(mut self, content_type: MqttString) -> Self {
        self.properties.content_type = Some(content_type);
        self
    }

    /// Sets the Payload Format Indicator: true when the payload is UTF-8 text.
    pub fn payload_format_utf8(mut self, utf8: bool) -> Self {
        self.properties.payload_format_indicator = Some(utf8);
        self
    }

    /// Sets the Response Topic, for request/response.
    pub fn response_topic(mut self, topic: TopicName) -> Self {
        self.properties.response_topic = Some(topic);
        self
    }

    /// Sets the Correlation Data, for request/response.
    pub fn correlation_data(mut self, data: impl Into<Bytes>) -> Self {
        self.properties.correlation_data = Some(data.into());
        self
    }
}
