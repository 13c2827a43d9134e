//! The data representations of MQTT section 1.5: integers, the Variable Byte
//! Integer, UTF-8 strings, binary data and string pairs; readers over nom and
//! writers over a [`Sink`].
//!
//! Every packet is written through one generic function run against a
//! [`Sink`]: the output buffer, or a [`Counter`] when only the size is
//! wanted. A length prefix (the Remaining Length, a Property Length) is
//! written by [`Sink::length_prefixed`]: into the buffer, the body is
//! written once after a placeholder that is patched with its length when it
//! is done (rustls patches its length prefixes this way), so the length and
//! the bytes come from one writer in one pass and cannot disagree.

use super::error::{DecodeError, EncodeError};
use super::properties::WriteProperties;
use super::string::{validate_mqtt_str, MqttString, StringError};
use super::ProtocolVersion;
use crate::topic::TopicError;
use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::{be_u16, be_u32, be_u8};

/// Result of a parser over a packet body.
pub(crate) type PResult<'a, T> = nom::IResult<&'a [u8], T, DecodeError>;

/// The largest value a Variable Byte Integer can hold (four bytes).
pub const VBI_MAX: u32 = 268_435_455;

/// Where encoded bytes go: the output buffer, or a counter of them.
pub(crate) trait Sink {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_slice(&mut self, s: &[u8]);
    /// Writes `block`, whose size `len` was counted beforehand by running
    /// its writer against a [`Counter`]; a `Counter` adds `len` without
    /// running the writer a second time.
    fn put_counted<B: WriteProperties>(&mut self, len: usize, block: &B)
        -> Result<(), EncodeError>;
    /// Writes a Variable Byte Integer length and then what `body` writes,
    /// the length being that of the body. `hint` is the expected body
    /// length: a buffer leaves room for its VBI, and only when the body
    /// turns out to need a different VBI size are its bytes moved.
    fn length_prefixed<F>(&mut self, hint: usize, body: F) -> Result<(), EncodeError>
    where
        Self: Sized,
        F: FnOnce(&mut Self) -> Result<(), EncodeError>;
}

impl Sink for BytesMut {
    #[inline]
    fn put_u8(&mut self, v: u8) {
        BufMut::put_u8(self, v)
    }
    #[inline]
    fn put_u16(&mut self, v: u16) {
        BufMut::put_u16(self, v)
    }
    #[inline]
    fn put_u32(&mut self, v: u32) {
        BufMut::put_u32(self, v)
    }
    #[inline]
    fn put_slice(&mut self, s: &[u8]) {
        self.extend_from_slice(s)
    }
    #[inline]
    fn put_counted<B: WriteProperties>(
        &mut self,
        _len: usize,
        block: &B,
    ) -> Result<(), EncodeError> {
        block.write(self)
    }
    #[inline]
    fn length_prefixed<F>(&mut self, hint: usize, body: F) -> Result<(), EncodeError>
    where
        F: FnOnce(&mut Self) -> Result<(), EncodeError>,
    {
        let at = self.len();
        let room = vbi_len(hint);
        for _ in 0..room {
            BufMut::put_u8(self, 0);
        }
        let start = self.len();
        body(self)?;
        let len = self.len() - start;
        let (vbi, size) = vbi_bytes(len)?;
        if size != room {
            // The guess was off: move the body to just after the VBI.
            if size > room {
                self.put_bytes(0, size - room);
            }
            self.copy_within(start..start + len, at + size);
            self.truncate(at + size + len);
        }
        // Byte by byte: one to four bytes, not worth a `memcpy` call.
        if let Some(slot) = self.get_mut(at..at + size) {
            for (to, from) in slot.iter_mut().zip(vbi) {
                *to = from;
            }
        }
        Ok(())
    }
}

/// A [`Sink`] that only counts.
#[derive(Default)]
pub(crate) struct Counter(pub usize);

impl Sink for Counter {
    #[inline]
    fn put_u8(&mut self, _: u8) {
        self.0 += 1
    }
    #[inline]
    fn put_u16(&mut self, _: u16) {
        self.0 += 2
    }
    #[inline]
    fn put_u32(&mut self, _: u32) {
        self.0 += 4
    }
    #[inline]
    fn put_slice(&mut self, s: &[u8]) {
        self.0 += s.len()
    }
    #[inline]
    fn put_counted<B: WriteProperties>(
        &mut self,
        len: usize,
        _block: &B,
    ) -> Result<(), EncodeError> {
        self.0 += len;
        Ok(())
    }
    #[inline]
    fn length_prefixed<F>(&mut self, _hint: usize, body: F) -> Result<(), EncodeError>
    where
        F: FnOnce(&mut Self) -> Result<(), EncodeError>,
    {
        let mut inner = Counter::default();
        body(&mut inner)?;
        vbi_bytes(inner.0)?;
        self.0 += vbi_len(inner.0) + inner.0;
        Ok(())
    }
}

/// The Variable Byte Integer encoding of `value`: its bytes and how many of
/// them there are.
#[inline]
fn vbi_bytes(value: usize) -> Result<([u8; 4], usize), EncodeError> {
    let mut v = u32::try_from(value)
        .ok()
        .filter(|v| *v <= VBI_MAX)
        .ok_or(EncodeError::PacketTooLarge(value))?;
    let mut out = [0u8; 4];
    for (n, slot) in out.iter_mut().enumerate() {
        // Seven bits at a time, least significant first; the top bit says
        // another byte follows. `v & 0x7F` always fits a byte.
        *slot = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            return Ok((out, n + 1));
        }
        *slot |= 0x80;
    }
    // Not reached: a value up to VBI_MAX takes at most four bytes.
    Err(EncodeError::PacketTooLarge(value))
}

/// Writes a Variable Byte Integer.
#[inline]
pub(crate) fn put_vbi<S: Sink>(s: &mut S, value: usize) -> Result<(), EncodeError> {
    // Byte by byte: one to four constant-size stores, where a slice of
    // varying length would cost a `memcpy` call. One byte is the usual case.
    if let Some(byte) = u8::try_from(value).ok().filter(|b| *b < 0x80) {
        s.put_u8(byte);
        return Ok(());
    }
    let (bytes, n) = vbi_bytes(value)?;
    for byte in bytes.iter().take(n) {
        s.put_u8(*byte);
    }
    Ok(())
}

/// Number of bytes the Variable Byte Integer encoding of `value` takes.
pub(crate) fn vbi_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes a two-byte length followed by the bytes.
#[inline]
pub(crate) fn put_binary<S: Sink>(
    s: &mut S,
    field: &'static str,
    b: &[u8],
) -> Result<(), EncodeError> {
    let len = u16::try_from(b.len()).map_err(|_| EncodeError::FieldTooLong {
        field,
        len: b.len(),
    })?;
    s.put_u16(len);
    s.put_slice(b);
    Ok(())
}

/// Writes a UTF-8 Encoded String.
#[inline]
pub(crate) fn put_str<S: Sink, T: WireStr + ?Sized>(
    s: &mut S,
    field: &'static str,
    v: &T,
) -> Result<(), EncodeError> {
    put_binary(s, field, v.wire_bytes())
}

/// A string already known to be valid MQTT UTF-8, as the bytes to write.
/// (Going through `&str` would check the UTF-8 again on every write.)
pub(crate) trait WireStr {
    fn wire_bytes(&self) -> &[u8];
}

impl WireStr for str {
    fn wire_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl WireStr for MqttString {
    fn wire_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl WireStr for crate::topic::TopicName {
    #[inline]
    fn wire_bytes(&self) -> &[u8] {
        self.as_mqtt_string().as_bytes()
    }
}

impl WireStr for crate::topic::TopicFilter {
    fn wire_bytes(&self) -> &[u8] {
        self.as_mqtt_string().as_bytes()
    }
}

/// Outcome of reading the Variable Byte Integer at the start of `buf`.
pub(crate) enum Vbi {
    /// The value and how many bytes it took.
    Value(u32, usize),
    /// `buf` ends before the integer does.
    Incomplete,
}

/// Reads a Variable Byte Integer from the start of `buf`.
///
/// Used for the Remaining Length of both versions and for the VBIs inside
/// v5 properties.
#[inline]
pub(crate) fn read_vbi(buf: &[u8]) -> Result<Vbi, DecodeError> {
    // One byte, the usual case: nothing to combine, always minimal.
    if let Some(&byte) = buf.first() {
        if byte < 0x80 {
            return Ok(Vbi::Value(u32::from(byte), 1));
        }
    }
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // The encoded value MUST use the minimum number of bytes
            // necessary to represent the value [MQTT-1.5.5-1]. A last byte of
            // 0 after a continuation byte adds nothing, so the value fitted in
            // fewer bytes (e.g. C0 80 00 for 64). 3.1.1 (2.2.3) states no such
            // rule, but its encoding algorithm never produces these forms and
            // no sane peer sends them, so both versions refuse them.
            if i > 0 && byte == 0 {
                return Err(DecodeError::malformed(
                    "MQTT-1.5.5-1",
                    "variable byte integer not in its shortest form",
                ));
            }
            return Ok(Vbi::Value(value, i + 1));
        }
    }
    if buf.len() >= 4 {
        // The maximum number of bytes in the Variable Byte Integer field is
        // four (1.5.5; 3.1.1: 2.2.3). The spec gives this rule no ID.
        return Err(DecodeError::malformed(
            "MQTT-1.5.5",
            "variable byte integer longer than four bytes",
        ));
    }
    Ok(Vbi::Incomplete)
}

/// nom parser for a Variable Byte Integer inside a packet.
#[inline]
pub(crate) fn vbi(i: &[u8]) -> PResult<'_, u32> {
    // One byte, the usual case (every property identifier, short lengths).
    if let Some((&byte, rest)) = i.split_first() {
        if byte < 0x80 {
            return Ok((rest, u32::from(byte)));
        }
    }
    match read_vbi(i) {
        Ok(Vbi::Value(v, n)) => Ok((i.get(n..).unwrap_or_default(), v)),
        Ok(Vbi::Incomplete) => Err(nom::Err::Failure(DecodeError::malformed(
            "MQTT-1.5.5",
            "variable byte integer runs past the end of the packet",
        ))),
        Err(e) => Err(nom::Err::Failure(e)),
    }
}

#[inline]
pub(crate) fn u8_(i: &[u8]) -> PResult<'_, u8> {
    be_u8(i)
}

#[inline]
pub(crate) fn u16_(i: &[u8]) -> PResult<'_, u16> {
    be_u16(i)
}

#[inline]
pub(crate) fn u32_(i: &[u8]) -> PResult<'_, u32> {
    be_u32(i)
}

/// A two-byte length followed by that many bytes.
///
/// Written out rather than as nom's `be_u16` and `take`: it is on every
/// string's path. Running out of input is the same error those give.
#[inline]
pub(crate) fn binary_slice(i: &[u8]) -> PResult<'_, &[u8]> {
    if let Some((len, rest)) = i.split_first_chunk::<2>() {
        if let Some((b, rest)) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len))) {
            return Ok((rest, b));
        }
    }
    // What nom's parsers give on running out of input (`from_error_kind`).
    Err(nom::Err::Error(DecodeError::malformed(
        "MQTT-1.5",
        "a field runs past the end of the packet",
    )))
}

/// Fails the parse with `e`; nom's `Failure` stops every alternative.
pub(crate) fn fail<T>(e: DecodeError) -> Result<T, nom::Err<DecodeError>> {
    Err(nom::Err::Failure(e))
}

/// The statement ID (or section) of `v`: `v5` for MQTT 5.0, `v311` for 3.1.1,
/// where the two specs number the same rule differently.
pub(crate) const fn id(v: ProtocolVersion, v5: &'static str, v311: &'static str) -> &'static str {
    match v {
        ProtocolVersion::V5 => v5,
        ProtocolVersion::V311 => v311,
    }
}

/// Maps a string rule failure to the decode error that names its statement
/// in version `v`.
pub(crate) fn string_error(e: StringError, v: ProtocolVersion) -> DecodeError {
    match e {
        // The character data in a UTF-8 Encoded String MUST be well-formed
        // UTF-8 [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1]).
        StringError::InvalidUtf8 => DecodeError::malformed(
            id(v, "MQTT-1.5.4-1", "MQTT-1.5.3-1"),
            "UTF-8 string is not well-formed",
        ),
        // A UTF-8 Encoded String MUST NOT include an encoding of the null
        // character U+0000 [MQTT-1.5.4-2] (3.1.1: [MQTT-1.5.3-2]).
        StringError::NullCharacter => DecodeError::malformed(
            id(v, "MQTT-1.5.4-2", "MQTT-1.5.3-2"),
            "UTF-8 string contains U+0000",
        ),
        // Cannot happen on decode: the length prefix is two bytes.
        StringError::TooLong => {
            DecodeError::malformed(id(v, "MQTT-1.5.4", "MQTT-1.5.3"), "string too long")
        }
    }
}

/// Maps a topic name or topic filter rule failure to the decode error that
/// names its statement in version `v`; `make` chooses the kind (malformed or
/// protocol error) for the topic rules. String rule failures are always
/// malformed.
pub(crate) fn topic_error(
    e: TopicError,
    v: ProtocolVersion,
    make: fn(&'static str, &'static str) -> DecodeError,
) -> DecodeError {
    match e {
        TopicError::String(e) => string_error(e, v),
        // All Topic Names and Topic Filters MUST be at least one character
        // long [MQTT-4.7.3-1] (the same ID in 3.1.1).
        TopicError::Empty => make("MQTT-4.7.3-1", "empty topic name or filter"),
        // The wildcard characters can be used in Topic Filters, but MUST NOT
        // be used within a Topic Name [MQTT-4.7.0-1] (3.1.1: [MQTT-4.7.1-1]).
        TopicError::WildcardInName => make(
            id(v, "MQTT-4.7.0-1", "MQTT-4.7.1-1"),
            "wildcard in a topic name",
        ),
        // The multi-level wildcard character MUST be specified either on its
        // own or following a topic level separator. In either case it MUST be
        // the last character specified in the Topic Filter [MQTT-4.7.1-1]
        // (3.1.1: [MQTT-4.7.1-2]).
        TopicError::MultiLevelWildcardMisplaced => make(
            id(v, "MQTT-4.7.1-1", "MQTT-4.7.1-2"),
            "'#' not alone in the last level of the topic filter",
        ),
        // Where it is used, the single-level wildcard MUST occupy an entire
        // level of the filter [MQTT-4.7.1-2] (3.1.1: [MQTT-4.7.1-3]).
        TopicError::SingleLevelWildcardMisplaced => make(
            id(v, "MQTT-4.7.1-2", "MQTT-4.7.1-3"),
            "'+' does not occupy a whole level of the topic filter",
        ),
        // The ShareName MUST NOT contain the characters "/", "+" or "#", but
        // MUST be followed by a "/" character. This "/" character MUST be
        // followed by a Topic Filter [MQTT-4.8.2-2]. (A 5.0 rule; the topic
        // module applies it to `$share/` filters of both versions.)
        TopicError::InvalidShare => make("MQTT-4.8.2-2", "malformed shared subscription filter"),
    }
}

/// Reads fields out of one packet's body, handing out [`Bytes`] slices of
/// the packet instead of copies when the packet is held in `Bytes`.
pub(crate) struct Frame<'f> {
    /// The whole packet, shared with the receive buffer; `None` when the
    /// packet is a borrowed slice ([`decode_ref`](super::decode_ref)), and
    /// the few fields an owned value needs are copied out of it instead.
    pub bytes: Option<&'f Bytes>,
    /// The version the packet is read at, for the statement IDs of errors.
    pub version: ProtocolVersion,
}

impl<'f> Frame<'f> {
    /// The `Bytes` that covers `sub`, which must lie inside this frame: a
    /// slice of the packet's buffer, or a copy when the packet is borrowed.
    pub fn share(&self, sub: &[u8]) -> Bytes {
        if sub.is_empty() {
            return Bytes::new();
        }
        match self.bytes {
            Some(bytes) => bytes.slice_ref(sub),
            None => Bytes::copy_from_slice(sub),
        }
    }

    /// Binary Data: a two-byte length and that many bytes, without copying.
    pub fn binary<'a>(&self, i: &'a [u8]) -> PResult<'a, Bytes> {
        let (rest, b) = binary_slice(i)?;
        Ok((rest, self.share(b)))
    }

    /// A UTF-8 Encoded String, checked, without copying.
    pub fn string<'a>(&self, i: &'a [u8]) -> PResult<'a, MqttString> {
        let (rest, b) = binary_slice(i)?;
        if let Err(e) = validate_mqtt_str(b) {
            return fail(string_error(e, self.version));
        }
        // Checked just above: no second pass.
        Ok((rest, MqttString::from_checked(self.share(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: usize) -> Vec<u8> {
        let mut b = BytesMut::new();
        put_vbi(&mut b, v).unwrap();
        b.to_vec()
    }

    #[test]
    fn vbi_spec_table_1_1_boundaries() {
        // MQTT 5.0 Table 1-1 (3.1.1 Table 2.4): the edges of each size.
        let cases: &[(usize, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (v, bytes) in cases {
            assert_eq!(enc(*v), *bytes, "encode {v}");
            assert_eq!(vbi_len(*v), bytes.len());
            match read_vbi(bytes).unwrap() {
                Vbi::Value(d, n) => {
                    assert_eq!(d as usize, *v);
                    assert_eq!(n, bytes.len());
                }
                Vbi::Incomplete => panic!("incomplete"),
            }
        }
        assert!(put_vbi(&mut BytesMut::new(), 268_435_456).is_err());
    }

    #[test]
    fn length_prefix_is_patched_whatever_the_hint() {
        // Hints too small, exact and too large: the VBI always takes the
        // size the body needs and the body follows it unchanged.
        for (hint, len) in [(0, 200), (0, 20_000), (300, 300), (20_000, 5), (200, 100)] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut out = BytesMut::from(&b"ab"[..]);
            out.length_prefixed(hint, |o| {
                Sink::put_slice(o, &body);
                Ok(())
            })
            .unwrap();
            let mut want = b"ab".to_vec();
            want.extend(enc(len));
            want.extend(&body);
            assert_eq!(&out[..], &want[..], "hint {hint}, body {len}");
            let mut count = Counter::default();
            count
                .length_prefixed(hint, |c| {
                    c.put_slice(&body);
                    Ok(())
                })
                .unwrap();
            assert_eq!(count.0, want.len() - 2);
        }
    }

    #[test]
    fn vbi_of_five_bytes_is_malformed_mqtt_1_5_5() {
        let e = read_vbi(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]).err().unwrap();
        assert_eq!(e.spec_id(), Some("MQTT-1.5.5"));
        assert!(matches!(read_vbi(&[0xFF, 0xFF]), Ok(Vbi::Incomplete)));
    }

    #[test]
    fn non_minimal_vbi_is_malformed_mqtt_1_5_5_1() {
        for bytes in [
            &[0x80, 0x00][..],
            &[0xC0, 0x80, 0x00],
            &[0xFF, 0x80, 0x80, 0x00],
            &[0x80, 0x80, 0x80, 0x00],
        ] {
            let e = read_vbi(bytes).err().unwrap();
            assert_eq!(e.spec_id(), Some("MQTT-1.5.5-1"), "{bytes:02X?}");
        }
        // A zero byte alone is the minimal form of 0; 80 01 is 128.
        assert!(matches!(read_vbi(&[0x00]), Ok(Vbi::Value(0, 1))));
        assert!(matches!(read_vbi(&[0x80, 0x01]), Ok(Vbi::Value(128, 2))));
    }
}
