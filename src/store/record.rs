//! The byte layout of each record kind. Every decoder takes bytes from
//! disk, which may be damaged: it returns why they do not decode, never
//! panics, and allocates no more than the bytes it was given.
//!
//! - message: protocol level (4 or 5), expiry deadline in milliseconds
//!   since the Unix epoch (u64 big-endian, 0 for none), then the PUBLISH
//!   as the codec encodes it (under a placeholder packet id: the stage
//!   record holds the real one);
//! - stage: a tag (1 PUBACK, 2 PUBREC, 3 PUBCOMP awaited) and the packet id
//!   (u16 big-endian); a queued message has no stage record;
//! - subscription: the options byte as in SUBSCRIBE, the requested QoS,
//!   the subscription identifier (u32 big-endian, 0 for none);
//! - identity: protocol level, session expiry (u32 big-endian), resumable
//!   (0 or 1), then the client id as UTF-8.

use super::{MessageStage, StoredIdentity};
use crate::codec::{
    decode, encode_publish, MqttString, Packet, PacketId, ProtocolVersion, Publish, QoS,
    RetainHandling, SubscriptionOptions,
};
use crate::session::ActiveSubscription;
use bytes::{BufMut, BytesMut};
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime};

fn level(version: ProtocolVersion) -> u8 {
    match version {
        ProtocolVersion::V311 => 4,
        ProtocolVersion::V5 => 5,
    }
}

fn version_of(level: u8) -> Result<ProtocolVersion, String> {
    match level {
        4 => Ok(ProtocolVersion::V311),
        5 => Ok(ProtocolVersion::V5),
        other => Err(format!("unknown protocol level {other}")),
    }
}

fn millis(at: Option<SystemTime>) -> u64 {
    at.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
        })
}

/// Splits `n` bytes off the front of `bytes`.
fn take<'a>(bytes: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
    if bytes.len() < n {
        return Err(format!("truncated before the {what}"));
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn take_u8(bytes: &mut &[u8], what: &str) -> Result<u8, String> {
    Ok(take(bytes, 1, what)?.first().copied().unwrap_or_default())
}

fn take_u16(bytes: &mut &[u8], what: &str) -> Result<u16, String> {
    let b = take(bytes, 2, what)?;
    Ok(u16::from_be_bytes(
        b.try_into().map_err(|_| what.to_owned())?,
    ))
}

fn take_u32(bytes: &mut &[u8], what: &str) -> Result<u32, String> {
    let b = take(bytes, 4, what)?;
    Ok(u32::from_be_bytes(
        b.try_into().map_err(|_| what.to_owned())?,
    ))
}

fn take_u64(bytes: &mut &[u8], what: &str) -> Result<u64, String> {
    let b = take(bytes, 8, what)?;
    Ok(u64::from_be_bytes(
        b.try_into().map_err(|_| what.to_owned())?,
    ))
}

/// A message record.
pub(crate) fn encode_message(
    publish: &Publish,
    version: ProtocolVersion,
    expires_at: Option<SystemTime>,
) -> Result<Vec<u8>, String> {
    let mut out = BytesMut::with_capacity(publish.payload.len() + 64);
    out.put_u8(level(version));
    out.put_u64(millis(expires_at));
    let mut p = publish.clone();
    p.dup = false;
    p.properties.topic_alias = None;
    // The codec needs a packet id for QoS 1/2; the stage record has the
    // real one.
    p.packet_id = (p.qos != QoS::AtMostOnce).then_some(PacketId::MIN);
    encode_publish(&p, version, &mut out).map_err(|e| e.to_string())?;
    Ok(out.to_vec())
}

/// A message record back: the PUBLISH (no packet id) and its deadline.
pub(crate) fn decode_message(mut bytes: &[u8]) -> Result<(Publish, Option<SystemTime>), String> {
    let version = version_of(take_u8(&mut bytes, "protocol level")?)?;
    let ms = take_u64(&mut bytes, "expiry deadline")?;
    let expires_at = (ms != 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
    let mut buf = BytesMut::from(bytes);
    let packet = decode(&mut buf, version, u32::MAX).map_err(|e| e.to_string())?;
    match packet {
        Some(Packet::Publish(mut p)) if buf.is_empty() && p.topic.is_some() => {
            p.packet_id = None;
            p.dup = false;
            Ok((p, expires_at))
        }
        Some(_) => Err("not a whole PUBLISH with a topic".into()),
        None => Err("truncated PUBLISH".into()),
    }
}

/// A stage record; `None` for a queued message (it has none).
pub(crate) fn encode_stage(stage: MessageStage) -> Option<[u8; 3]> {
    let (tag, id) = match stage {
        MessageStage::Queued => return None,
        MessageStage::AwaitPubAck(id) => (1, id),
        MessageStage::AwaitPubRec(id) => (2, id),
        MessageStage::AwaitPubComp(id) => (3, id),
    };
    let [hi, lo] = id.get().to_be_bytes();
    Some([tag, hi, lo])
}

pub(crate) fn decode_stage(mut bytes: &[u8]) -> Result<MessageStage, String> {
    let tag = take_u8(&mut bytes, "stage")?;
    let id = PacketId::new(take_u16(&mut bytes, "packet id")?).ok_or("packet id 0")?;
    if !bytes.is_empty() {
        return Err("trailing bytes".into());
    }
    match tag {
        1 => Ok(MessageStage::AwaitPubAck(id)),
        2 => Ok(MessageStage::AwaitPubRec(id)),
        3 => Ok(MessageStage::AwaitPubComp(id)),
        other => Err(format!("unknown stage {other}")),
    }
}

fn options_byte(o: &SubscriptionOptions) -> u8 {
    (o.qos as u8)
        | (u8::from(o.no_local) << 2)
        | (u8::from(o.retain_as_published) << 3)
        | ((o.retain_handling as u8) << 4)
}

fn options_of(byte: u8) -> Result<SubscriptionOptions, String> {
    let retain_handling = match (byte >> 4) & 0x03 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err("retain handling 3".into()),
    };
    Ok(SubscriptionOptions {
        qos: QoS::from_u8(byte & 0x03).ok_or("QoS 3")?,
        no_local: byte & 0x04 != 0,
        retain_as_published: byte & 0x08 != 0,
        retain_handling,
    })
}

pub(crate) fn encode_subscription(s: &ActiveSubscription) -> [u8; 6] {
    let id = s.subscription_id.map_or(0, NonZeroU32::get).to_be_bytes();
    let [a, b, c, d] = id;
    [options_byte(&s.options), s.requested_qos as u8, a, b, c, d]
}

pub(crate) fn decode_subscription(mut bytes: &[u8]) -> Result<ActiveSubscription, String> {
    let options = options_of(take_u8(&mut bytes, "options")?)?;
    let requested_qos = QoS::from_u8(take_u8(&mut bytes, "QoS")?).ok_or("QoS 3")?;
    let subscription_id = NonZeroU32::new(take_u32(&mut bytes, "subscription identifier")?);
    if !bytes.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(ActiveSubscription {
        options,
        subscription_id,
        requested_qos,
    })
}

pub(crate) fn encode_identity(identity: &StoredIdentity) -> Vec<u8> {
    let mut out = Vec::with_capacity(identity.client_id.len() + 6);
    out.push(level(identity.version));
    out.extend_from_slice(&identity.session_expiry.to_be_bytes());
    out.push(u8::from(identity.resumable));
    out.extend_from_slice(identity.client_id.as_bytes());
    out
}

pub(crate) fn decode_identity(mut bytes: &[u8]) -> Result<StoredIdentity, String> {
    let version = version_of(take_u8(&mut bytes, "protocol level")?)?;
    let session_expiry = take_u32(&mut bytes, "session expiry")?;
    let resumable = match take_u8(&mut bytes, "resumable flag")? {
        0 => false,
        1 => true,
        other => return Err(format!("resumable flag {other}")),
    };
    let id = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let client_id = MqttString::try_from(id).map_err(|e| e.to_string())?;
    Ok(StoredIdentity {
        version,
        client_id,
        session_expiry,
        resumable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::TopicName;

    #[test]
    fn a_message_record_round_trips_and_every_truncation_is_an_error() {
        let mut publish = Publish {
            dup: false,
            qos: QoS::ExactlyOnce,
            retain: true,
            topic: Some(TopicName::new("a/b").unwrap()),
            packet_id: None,
            properties: Default::default(),
            payload: bytes::Bytes::from_static(b"payload"),
        };
        publish.properties.message_expiry_interval = Some(30);
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let bytes = encode_message(&publish, ProtocolVersion::V5, Some(at)).unwrap();
        assert_eq!(decode_message(&bytes).unwrap(), (publish, Some(at)));
        for n in 0..bytes.len() {
            assert!(decode_message(&bytes[..n]).is_err(), "{n} bytes");
        }
    }

    #[test]
    fn stage_subscription_and_identity_records_round_trip() {
        let stage = MessageStage::AwaitPubComp(PacketId::new(513).unwrap());
        assert_eq!(decode_stage(&encode_stage(stage).unwrap()).unwrap(), stage);
        assert!(decode_stage(&[9, 0, 1]).is_err());
        let sub = ActiveSubscription {
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
            subscription_id: NonZeroU32::new(70_000),
            requested_qos: QoS::ExactlyOnce,
        };
        assert_eq!(
            decode_subscription(&encode_subscription(&sub)).unwrap(),
            sub
        );
        let identity = StoredIdentity {
            version: ProtocolVersion::V311,
            client_id: MqttString::try_from("gw-7").unwrap(),
            session_expiry: 3600,
            resumable: true,
        };
        assert_eq!(
            decode_identity(&encode_identity(&identity)).unwrap(),
            identity
        );
        assert!(decode_identity(&[5, 0, 0, 0, 1, 7]).is_err());
    }
}
