//! How each kind of property field is read from a decoded [`Property`]
//! and written: one module per kind, named in the `properties!` table.

use super::*;

type Read = Result<(), DecodeError>;
type Write = Result<(), EncodeError>;

/// Sets a single-valued field.
fn fill<T>(slot: &mut Option<T>, value: T) -> Read {
    *slot = Some(value);
    Ok(())
}

/// Adds to a repeatable field.
fn push<T>(slot: &mut Vec<T>, value: T) -> Read {
    slot.push(value);
    Ok(())
}

macro_rules! scalar {
    ($(#[$doc:meta])* $name:ident: $t:ty, $variant:ident, $put:ident) => {
        $(#[$doc])*
        pub(super) mod $name {
            use super::*;
            pub(in super::super) const REPEATS: bool = false;
            pub(in super::super) fn set(slot: &mut Option<$t>, prop: Property) -> Read {
                match prop {
                    Property::$variant(_, v) => fill(slot, v),
                    _ => Err(unexpected()),
                }
            }
            #[inline]
    pub(in super::super) fn put<S: Sink>(s: &mut S, pid: u8, _: &str, v: &Option<$t>) -> Write {
                $put(s, pid, *v);
                Ok(())
            }
        }
    };
}

scalar!(
    /// A Two Byte Integer.
    two: u16, Two, w_u16
);
scalar!(
    /// A Four Byte Integer.
    four: u32, Four, w_u32
);

/// A Byte that is 0 or 1 (`walk_properties` refuses any other value).
pub(super) mod flag {
    use super::*;
    pub(in super::super) const REPEATS: bool = false;
    pub(in super::super) fn set(slot: &mut Option<bool>, prop: Property) -> Read {
        match prop {
            Property::Byte(_, v) => fill(slot, v == 1),
            _ => Err(unexpected()),
        }
    }
    #[inline]
    pub(in super::super) fn put<S: Sink>(s: &mut S, pid: u8, _: &str, v: &Option<bool>) -> Write {
        w_bool(s, pid, *v);
        Ok(())
    }
}

/// A Two Byte Integer that must not be 0: a Protocol Error citing `spec`.
pub(super) mod two_non_zero {
    use super::*;
    pub(in super::super) const REPEATS: bool = false;
    pub(in super::super) fn set(
        slot: &mut Option<NonZeroU16>,
        prop: Property,
        spec: &'static str,
        what: &'static str,
    ) -> Read {
        match prop {
            Property::Two(_, v) => fill(slot, non_zero_u16(v, spec, what)?),
            _ => Err(unexpected()),
        }
    }
    #[inline]
    pub(in super::super) fn put<S: Sink>(
        s: &mut S,
        pid: u8,
        _: &str,
        v: &Option<NonZeroU16>,
    ) -> Write {
        w_u16(s, pid, v.map(NonZeroU16::get));
        Ok(())
    }
}

/// A Four Byte Integer that must not be 0: a Protocol Error citing `spec`.
pub(super) mod four_non_zero {
    use super::*;
    pub(in super::super) const REPEATS: bool = false;
    pub(in super::super) fn set(
        slot: &mut Option<NonZeroU32>,
        prop: Property,
        spec: &'static str,
        what: &'static str,
    ) -> Read {
        match prop {
            Property::Four(_, v) => fill(slot, non_zero_u32(v, spec, what)?),
            _ => Err(unexpected()),
        }
    }
    #[inline]
    pub(in super::super) fn put<S: Sink>(
        s: &mut S,
        pid: u8,
        _: &str,
        v: &Option<NonZeroU32>,
    ) -> Write {
        w_u32(s, pid, v.map(NonZeroU32::get));
        Ok(())
    }
}

/// Topic Alias: a Two Byte Integer; 0 is not permitted [MQTT-3.3.2-8].
pub(super) mod topic_alias {
    use super::*;
    pub(in super::super) const REPEATS: bool = false;
    pub(in super::super) fn set(slot: &mut Option<NonZeroU16>, prop: Property) -> Read {
        match prop {
            // A Topic Alias of 0 is not permitted [MQTT-3.3.2-8].
            Property::Two(_, v) => {
                fill(slot, NonZeroU16::new(v).ok_or(DecodeError::TopicAliasZero)?)
            }
            _ => Err(unexpected()),
        }
    }
    pub(in super::super) use super::two_non_zero::put;
}

/// Maximum QoS: a Byte, 0 or 1; a 2 is refused on encode [MQTT-3.2.2-9].
pub(super) mod maximum_qos {
    use super::*;
    pub(in super::super) const REPEATS: bool = false;
    pub(in super::super) fn set(slot: &mut Option<QoS>, prop: Property) -> Read {
        match prop {
            Property::Byte(_, 0) => fill(slot, QoS::AtMostOnce),
            Property::Byte(..) => fill(slot, QoS::AtLeastOnce),
            _ => Err(unexpected()),
        }
    }
    #[inline]
    pub(in super::super) fn put<S: Sink>(s: &mut S, pid: u8, _: &str, v: &Option<QoS>) -> Write {
        if *v == Some(QoS::ExactlyOnce) {
            return Err(EncodeError::invalid(
                "MQTT-3.2.2-9",
                "maximum QoS property of 2",
            ));
        }
        w_u8(s, pid, v.map(|q| q as u8));
        Ok(())
    }
}

/// A UTF-8 Encoded String.
pub(super) mod string {
    use super::*;
    pub(in super::super) const REPEATS: bool = false;
    pub(in super::super) fn set(slot: &mut Option<MqttString>, prop: Property) -> Read {
        match prop {
            Property::Str(_, v) => fill(slot, v),
            _ => Err(unexpected()),
        }
    }
    #[inline]
    pub(in super::super) fn put<S: Sink>(
        s: &mut S,
        pid: u8,
        what: &'static str,
        v: &Option<MqttString>,
    ) -> Write {
        w_str(s, pid, what, v.as_ref())
    }
}

/// A string that is a topic name (Response Topic) [MQTT-3.3.2-14].
pub(super) mod topic {
    use super::*;
    pub(in super::super) const REPEATS: bool = false;
    pub(in super::super) fn set(slot: &mut Option<TopicName>, prop: Property) -> Read {
        match prop {
            Property::Str(_, v) => fill(slot, super::super::topic(v)?),
            _ => Err(unexpected()),
        }
    }
    #[inline]
    pub(in super::super) fn put<S: Sink>(
        s: &mut S,
        pid: u8,
        what: &'static str,
        v: &Option<TopicName>,
    ) -> Write {
        w_str(s, pid, what, v.as_ref())
    }
}

/// Binary Data.
pub(super) mod binary {
    use super::*;
    pub(in super::super) const REPEATS: bool = false;
    pub(in super::super) fn set(slot: &mut Option<Bytes>, prop: Property) -> Read {
        match prop {
            Property::Bin(_, v) => fill(slot, v),
            _ => Err(unexpected()),
        }
    }
    #[inline]
    pub(in super::super) fn put<S: Sink>(
        s: &mut S,
        pid: u8,
        what: &'static str,
        v: &Option<Bytes>,
    ) -> Write {
        w_bin(s, pid, what, v.as_ref())
    }
}

/// User Properties: a string pair that may repeat, kept in order.
pub(super) mod user {
    use super::*;
    pub(in super::super) const REPEATS: bool = true;
    pub(in super::super) fn set(slot: &mut Vec<UserProperty>, prop: Property) -> Read {
        match prop {
            Property::User(k, v) => push(slot, (k, v)),
            _ => Err(unexpected()),
        }
    }
    #[inline]
    pub(in super::super) fn put<S: Sink>(s: &mut S, _: u8, _: &str, v: &[UserProperty]) -> Write {
        w_user(s, v)
    }
}

/// One Subscription Identifier (SUBSCRIBE): 1 to 268,435,455.
pub(super) mod subscription_id {
    use super::*;
    pub(in super::super) const REPEATS: bool = false;
    pub(in super::super) fn set(
        slot: &mut Option<NonZeroU32>,
        prop: Property,
        section: &'static str,
    ) -> Read {
        match prop {
            Property::Vbi(_, v) => fill(slot, subscription_id(v, section)?),
            _ => Err(unexpected()),
        }
    }
    #[inline]
    pub(in super::super) fn put<S: Sink>(
        s: &mut S,
        pid: u8,
        _: &str,
        v: &Option<NonZeroU32>,
    ) -> Write {
        match v {
            Some(v) => w_vbi(s, pid, v.get()),
            None => Ok(()),
        }
    }
}

/// Subscription Identifiers (a server's PUBLISH): repeated, in order.
pub(super) mod subscription_ids {
    use super::*;
    pub(in super::super) const REPEATS: bool = true;
    pub(in super::super) fn set(
        slot: &mut Vec<NonZeroU32>,
        prop: Property,
        section: &'static str,
    ) -> Read {
        match prop {
            Property::Vbi(_, v) => push(slot, subscription_id(v, section)?),
            _ => Err(unexpected()),
        }
    }
    #[inline]
    pub(in super::super) fn put<S: Sink>(s: &mut S, pid: u8, _: &str, v: &[NonZeroU32]) -> Write {
        v.iter().try_for_each(|v| w_vbi(s, pid, v.get()))
    }
}
