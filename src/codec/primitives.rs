//! The data representations of MQTT section 1.5: integers, the Variable Byte
//! Integer, UTF-8 strings, binary data and string pairs; readers over nom and
//! writers over a [`Sink`].
//!
//! Every packet is written through one generic function run against a
//! [`Sink`]: first a [`Counter`], for the size, then the output buffer. A
//! length prefix (the Remaining Length, a Property Length) is the count of
//! what follows it, taken by the writer that then writes it, so the length
//! and the bytes cannot disagree; knowing it up front, [`write_frame`]
//! grows the buffer once and writes the fixed header in place, with no
//! placeholder to patch or body to move. (The `encoded_len_is_exact`
//! property tests check the count against the bytes for arbitrary packets.)

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

/// Where encoded bytes go: the output buffer, a slice sized for them, or a
/// counter of them.
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
    fn put_counted<B: WriteProperties>(&mut self, len: usize, _: &B) -> Result<(), EncodeError> {
        self.0 += len;
        Ok(())
    }
}

/// The output buffer, in which [`write_frame`] has reserved room for the
/// packet: each write still checks the capacity, but none reallocates.
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
    /// A block of many short fields (the properties): written into a
    /// zeroed slice of its counted size (see [`SliceSink`]).
    #[inline]
    fn put_counted<B: WriteProperties>(
        &mut self,
        len: usize,
        block: &B,
    ) -> Result<(), EncodeError> {
        let start = self.len();
        grow_zeroed(self, len);
        let mut sink = SliceSink::new(self.get_mut(start..).unwrap_or_default());
        let written = block.write(&mut sink);
        // Equal by construction, as in `write_frame`.
        debug_assert!(
            written.is_err() || sink.is_full(),
            "counted and written sizes differ"
        );
        written
    }
}

/// A [`Sink`] over a slice exactly as long as what is written into it, its
/// size counted beforehand by running the same writer against a
/// [`Counter`].
///
/// Writing into a slice needs neither a capacity check nor a length update
/// per field, as a growing buffer does, and lets short fields be copied
/// inline (see [`copy_into`]). A write past the end is dropped and leaves
/// [`is_full`](Self::is_full) false; it cannot happen while the count and
/// the bytes come from one writer.
pub(crate) struct SliceSink<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl<'a> SliceSink<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        SliceSink { buf, at: 0 }
    }

    /// True when exactly the whole slice has been written.
    pub(crate) fn is_full(&self) -> bool {
        self.at == self.buf.len()
    }

    #[inline(always)]
    fn put_array<const K: usize>(&mut self, bytes: [u8; K]) {
        if let Some(to) = self
            .buf
            .get_mut(self.at..)
            .and_then(<[u8]>::first_chunk_mut::<K>)
        {
            *to = bytes;
        }
        self.at = self.at.saturating_add(K);
    }
}

impl Sink for SliceSink<'_> {
    #[inline]
    fn put_u8(&mut self, v: u8) {
        self.put_array([v])
    }
    #[inline]
    fn put_u16(&mut self, v: u16) {
        self.put_array(v.to_be_bytes())
    }
    #[inline]
    fn put_u32(&mut self, v: u32) {
        self.put_array(v.to_be_bytes())
    }
    #[inline]
    fn put_slice(&mut self, s: &[u8]) {
        let end = self.at.saturating_add(s.len());
        if let Some(to) = self.buf.get_mut(self.at..end) {
            copy_into(to, s);
        }
        self.at = end;
    }
    #[inline]
    fn put_counted<B: WriteProperties>(&mut self, _: usize, block: &B) -> Result<(), EncodeError> {
        block.write(self)
    }
}

/// Copies `from` into `to`, a slice of the same length.
///
/// Up to 32 bytes (most property names and values) it is two fixed-size
/// moves, of the first and of the last `K` bytes, overlapping when the
/// length is under `2 * K`: a few inline instructions, where
/// `copy_from_slice` of a length unknown at compile time is a `memcpy`
/// call, the largest single cost of a small v5 PUBLISH in a profile (two
/// calls per user property).
#[inline(always)]
fn copy_into(to: &mut [u8], from: &[u8]) {
    if to.len() != from.len() {
        return;
    }
    match from.len() {
        0 => {}
        1..=3 => {
            // First, middle and last byte cover every length up to three.
            for at in [0, from.len() / 2, from.len() - 1] {
                if let (Some(t), Some(f)) = (to.get_mut(at), from.get(at)) {
                    *t = *f;
                }
            }
        }
        4..=7 => head_and_tail::<4>(to, from),
        8..=15 => head_and_tail::<8>(to, from),
        16..=SHORT_FIELD => head_and_tail::<16>(to, from),
        _ => to.copy_from_slice(from),
    }
}

/// Copies the first and the last `K` bytes of `from` (at least `K` and at
/// most `2 * K` long) into `to`, of the same length: together they cover it.
#[inline(always)]
fn head_and_tail<const K: usize>(to: &mut [u8], from: &[u8]) {
    if let (Some(t), Some(f)) = (to.first_chunk_mut::<K>(), from.first_chunk::<K>()) {
        *t = *f;
    }
    if let (Some(t), Some(f)) = (to.last_chunk_mut::<K>(), from.last_chunk::<K>()) {
        *t = *f;
    }
}

/// The longest field [`copy_into`] copies inline.
const SHORT_FIELD: usize = 32;

/// Appends `n` zero bytes to `out`. Up to 128 bytes (most property
/// blocks), when `out` has room for a fixed-size block, it appends the
/// block and cuts it back: a few inline stores, where `resize` calls
/// `memset`.
#[inline(always)]
fn grow_zeroed(out: &mut BytesMut, n: usize) {
    let end = out.len() + n;
    let room = out.capacity() - out.len();
    if n <= 64 && room >= 64 {
        out.extend_from_slice(&[0; 64]);
        out.truncate(end);
    } else if n <= 128 && room >= 128 {
        out.extend_from_slice(&[0; 128]);
        out.truncate(end);
    } else {
        out.resize(end, 0);
    }
}

/// Appends a packet to `out`: the first byte, the Remaining Length, what
/// `head` writes (`head_len` bytes) and then `tail` (a PUBLISH's payload;
/// empty for other packets).
///
/// `head_len` must have been counted by running the same writer against a
/// [`Counter`]: `out` grows once, by exactly the packet's size, and
/// nothing is patched or moved. On an error nothing is left in `out`.
#[inline(always)]
pub(crate) fn write_frame(
    out: &mut BytesMut,
    first_byte: u8,
    head_len: usize,
    tail: &[u8],
    head: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let remaining = head_len.saturating_add(tail.len());
    vbi_bytes(remaining)?;
    let start = out.len();
    let size = 1 + vbi_len(remaining) + remaining;
    out.reserve(size);
    Sink::put_u8(out, first_byte);
    put_vbi(out, remaining)?;
    let written = head(out);
    match written {
        Ok(()) => {
            Sink::put_slice(out, tail);
            // Equal by construction: the count and the bytes come from one
            // writer (checked for arbitrary packets by the
            // `encoded_len_is_exact` property tests).
            debug_assert_eq!(out.len() - start, size, "counted and written sizes differ");
        }
        Err(_) => out.truncate(start),
    }
    written
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
        assert!(put_vbi(&mut Counter::default(), 268_435_456).is_err());
    }

    #[test]
    fn short_and_long_fields_are_copied_whole() {
        // Every branch of `copy_into`: 0, 1-3, 4-7, 8-15, 16-32 and longer,
        // with the bytes around the field left alone.
        for len in 0..=70 {
            let from: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
            let mut buf = vec![0; len + 2];
            let mut sink = SliceSink::new(&mut buf);
            sink.put_u8(0xAA);
            sink.put_slice(&from);
            sink.put_u8(0xBB);
            assert!(sink.is_full(), "length {len}");
            assert_eq!(buf[0], 0xAA);
            assert_eq!(&buf[1..=len], &from[..], "length {len}");
            assert_eq!(buf[len + 1], 0xBB);
        }
    }

    #[test]
    fn a_slice_sink_drops_what_does_not_fit_and_says_so() {
        let mut buf = [0u8; 3];
        let mut sink = SliceSink::new(&mut buf);
        sink.put_u16(0x0102);
        sink.put_u16(0x0304);
        assert!(!sink.is_full());
        let mut short = [0u8; 3];
        let mut sink = SliceSink::new(&mut short);
        sink.put_u8(9);
        assert!(!sink.is_full());
        assert_eq!(buf, [1, 2, 0]);
    }

    #[test]
    fn a_frame_is_its_first_byte_remaining_length_and_body() {
        let body = vec![7u8; 200];
        let mut out = BytesMut::from(&b"ab"[..]);
        write_frame(&mut out, 0x30, body.len(), &[], |s| {
            Sink::put_slice(s, &body);
            Ok(())
        })
        .unwrap();
        let mut want = b"ab\x30".to_vec();
        want.extend(enc(200));
        want.extend(&body);
        assert_eq!(&out[..], &want[..]);
        // A failing body leaves nothing behind.
        let failed = write_frame(&mut out, 0x30, 4, &[1; 40], |_| {
            Err(EncodeError::NotInV311("AUTH"))
        });
        assert!(failed.is_err());
        assert_eq!(&out[..], &want[..]);
        assert!(write_frame(&mut out, 0x30, 268_435_456, &[], |_| Ok(())).is_err());
        // A head and a tail, short (copied inline) or long.
        for tail in [vec![5u8; 3], vec![6u8; 33], vec![7u8; 300]] {
            let mut out = BytesMut::new();
            write_frame(&mut out, 0x30, 2, &tail, |s| {
                Sink::put_u16(s, 0x0102);
                Ok(())
            })
            .unwrap();
            let mut want = vec![0x30];
            want.extend(enc(2 + tail.len()));
            want.extend([1, 2]);
            want.extend(&tail);
            assert_eq!(&out[..], &want[..], "tail of {}", tail.len());
        }
        assert_eq!(&out[..], &want[..]);
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
