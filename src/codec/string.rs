//! `MqttString`: a UTF-8 Encoded String as MQTT defines it, over shared bytes.

use bytes::Bytes;
use std::fmt;
use std::ops::Deref;

/// A UTF-8 string that satisfies the MQTT rules, held in [`Bytes`] so that a
/// decoded string is a slice of the receive buffer rather than a copy.
///
/// The invariant: well-formed UTF-8 (so no UTF-16 surrogates) with no U+0000,
/// and at most 65,535 bytes.
///
/// ```
/// use tern_mqtt::codec::MqttString;
/// let s = MqttString::try_from("sensors/kitchen").unwrap();
/// assert_eq!(&*s, "sensors/kitchen");
/// assert!(MqttString::try_from("nul\u{0}").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MqttString(Bytes);

/// Why a string is not a valid MQTT UTF-8 Encoded String.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StringError {
    /// Not well-formed UTF-8 ([MQTT-1.5.4-1], 3.1.1 [MQTT-1.5.3-1]).
    #[error("not well-formed UTF-8 [MQTT-1.5.4-1]")]
    InvalidUtf8,
    /// Contains U+0000 ([MQTT-1.5.4-2], 3.1.1 [MQTT-1.5.3-2]).
    #[error("contains the null character U+0000 [MQTT-1.5.4-2]")]
    NullCharacter,
    /// Longer than 65,535 bytes.
    #[error("longer than 65,535 bytes [MQTT-1.5.4]")]
    TooLong,
}

/// Checks the MQTT rules for UTF-8 Encoded Strings.
pub(crate) fn check_mqtt_str(bytes: &[u8]) -> Result<&str, StringError> {
    if bytes.len() > usize::from(u16::MAX) {
        return Err(StringError::TooLong);
    }
    // The character data in a UTF-8 Encoded String MUST be well-formed UTF-8
    // as defined by the Unicode specification and restated in RFC 3629. In
    // particular, the character data MUST NOT include encodings of code
    // points between U+D800 and U+DFFF [MQTT-1.5.4-1]. (`from_utf8` rejects
    // surrogates and overlong forms.)
    let s = std::str::from_utf8(bytes).map_err(|_| StringError::InvalidUtf8)?;
    // A UTF-8 Encoded String MUST NOT include an encoding of the null
    // character U+0000 [MQTT-1.5.4-2].
    if bytes.contains(&0) {
        return Err(StringError::NullCharacter);
    }
    Ok(s)
}

/// What one pass over a string's bytes found: the facts the string and
/// topic name rules need, gathered together.
pub(crate) struct Scan {
    /// A byte of 0x80 or more: the UTF-8 needs checking.
    pub non_ascii: bool,
    /// A zero byte.
    pub nul: bool,
    /// A `+` or `#`.
    pub wildcard: bool,
}

/// One pass over `b`, eight bytes at a time, for [`Scan`]'s facts. A caller
/// that ignores a field lets the compiler drop its share of the work.
#[inline(always)]
pub(crate) fn scan_str(b: &[u8]) -> Scan {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    const PLUS: u64 = u64::from_ne_bytes([b'+'; 8]);
    const HASH: u64 = u64::from_ne_bytes([b'#'; 8]);
    // Non-zero exactly when some byte of `x` is 0: the borrow can only
    // mark lanes above a true zero byte, so "any lane set" is exact.
    #[inline(always)]
    fn has_zero(x: u64) -> u64 {
        x.wrapping_sub(LO) & !x & HI
    }
    let (mut high, mut nul, mut wild) = (0u64, 0u64, 0u64);
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        high |= x & HI;
        nul |= has_zero(x);
        wild |= has_zero(x ^ PLUS) | has_zero(x ^ HASH);
    }
    for &c in chunks.remainder() {
        high |= u64::from(c & 0x80);
        nul |= u64::from(c == 0);
        wild |= u64::from(c == b'+' || c == b'#');
    }
    Scan {
        non_ascii: high != 0,
        nul: nul != 0,
        wildcard: wild != 0,
    }
}

/// [`check_mqtt_str`] without the `&str`: all-ASCII strings, the usual
/// kind, are checked by one [`scan_str`] pass instead of a UTF-8 pass and a
/// NUL search. Same verdicts.
#[inline]
pub(crate) fn validate_mqtt_str(bytes: &[u8]) -> Result<(), StringError> {
    if bytes.len() > usize::from(u16::MAX) {
        return Err(StringError::TooLong);
    }
    let found = scan_str(bytes);
    if found.non_ascii {
        check_mqtt_str(bytes).map(|_| ())
    } else if found.nul {
        Err(StringError::NullCharacter)
    } else {
        Ok(())
    }
}

impl MqttString {
    /// A string from bytes, checked against the MQTT rules, without copying.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, StringError> {
        validate_mqtt_str(&bytes)?;
        Ok(MqttString(bytes))
    }

    /// Bytes the caller has just checked with `check_mqtt_str`.
    pub(crate) fn from_checked(bytes: Bytes) -> Self {
        MqttString(bytes)
    }

    /// A string from a static `&str`, checked, without copying.
    pub fn from_static(s: &'static str) -> Result<Self, StringError> {
        Self::from_bytes(Bytes::from_static(s.as_bytes()))
    }

    /// The string as a `&str`, without copying: valid UTF-8 with no NUL
    /// character, as checked when the value was made.
    pub fn as_str(&self) -> &str {
        // The invariant holds from construction; this branch is never taken,
        // but it keeps this accessor free of panics and `unsafe`.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the string has no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Deref for MqttString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for MqttString {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<&str> for MqttString {
    type Error = StringError;
    fn try_from(s: &str) -> Result<Self, StringError> {
        Self::from_bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl TryFrom<String> for MqttString {
    type Error = StringError;
    fn try_from(s: String) -> Result<Self, StringError> {
        Self::from_bytes(Bytes::from(s))
    }
}

impl PartialEq<str> for MqttString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MqttString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_check_agrees_with_utf8_and_nul_checks() {
        let mut verdicts = std::collections::HashSet::new();
        for s in crate::topic::tests::awkward_strings() {
            let got = validate_mqtt_str(&s);
            assert_eq!(got, check_mqtt_str(&s).map(|_| ()), "{s:02X?}");
            verdicts.insert(format!("{got:?}"));
        }
        assert_eq!(verdicts.len(), 3, "{verdicts:?}");
        assert_eq!(
            validate_mqtt_str(&[b'a'; 65_536]),
            Err(StringError::TooLong)
        );
    }

    #[test]
    fn rejects_surrogates_and_nul() {
        // U+D800 encoded as if it were a scalar: ED A0 80.
        assert_eq!(
            MqttString::from_bytes(Bytes::from_static(&[0xED, 0xA0, 0x80])),
            Err(StringError::InvalidUtf8)
        );
        assert_eq!(
            MqttString::from_bytes(Bytes::from_static(b"a\0b")),
            Err(StringError::NullCharacter)
        );
        // [MQTT-1.5.4-3]: a BOM is kept, not stripped.
        let bom = MqttString::from_bytes(Bytes::from_static(&[0xEF, 0xBB, 0xBF, b'x'])).unwrap();
        assert_eq!(bom.as_str(), "\u{FEFF}x");
        assert_eq!(
            MqttString::try_from("x".repeat(65_536)),
            Err(StringError::TooLong)
        );
    }
}
