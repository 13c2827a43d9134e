// The `roundtrip` check and the one packet generator it draws from. Shared
// word for word by the fuzz crate (through fuzz/src/lib.rs) and by
// tests/fuzz_corpus.rs (as a `#[path]` module), like check.rs.
//
// Why proptest under libFuzzer: the packets come from
// tests/support/strategies.rs, the proptest strategies the codec property
// tests (tests/codec_props.rs) use, so there is one definition of "a valid
// packet of each type and version" instead of a second, arbitrary-derived
// one here. Each input seeds proptest's ChaCha RNG (through a 32-byte
// digest of the input), so each input is exactly one packet,
// deterministically, and libFuzzer's coverage feedback keeps the inputs
// that reach new code. (proptest's `PassThrough` RNG, which would let the
// fuzzer's bytes steer each choice, returns zeros once the bytes run out,
// and rand's uniform sampling rejects an all-zero draw for most ranges: it
// loops for ever on short inputs, and no finite tail is always enough.)
// `cargo test` draws from the same strategies with its own RNG and
// shrinks. The other way round (a generator over
// `arbitrary::Unstructured` that proptest feeds with a `Vec<u8>`) would
// have lost proptest's weights and shrinking in the tests.

/// The proptest strategies of tests/support/strategies.rs.
#[path = "../../tests/support/strategies.rs"]
pub mod strategies;

use bytes::BytesMut;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use tern_mqtt::codec::{decode, encode, Packet, ProtocolVersion};

/// A 32-byte digest of `data` (FNV-1a, then splitmix64): the ChaCha seed.
fn seed(data: &[u8]) -> [u8; 32] {
    let mut state = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

/// The value of `strategy` that `data` chooses: `data` is the random stream
/// (see the header). `None` if the strategy's filters reject too often.
pub fn generate<S: Strategy>(data: &[u8], strategy: S) -> Option<S::Value> {
    let config = Config {
        max_local_rejects: 256,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed(data));
    let mut runner = TestRunner::new_with_rng(config, rng);
    strategy
        .new_tree(&mut runner)
        .ok()
        .map(|tree| tree.current())
}

/// The `roundtrip` check on the packet `data` chooses: at its own version
/// it must encode, to `encoded_len` bytes, and decode to itself from
/// exactly those bytes; at the other version (for anything but CONNECT,
/// which carries its own) it may fail to encode (v5-only fields), but
/// `encode` and `encoded_len` must agree and what encodes must come back.
pub fn check_roundtrip(data: &[u8]) {
    let Some((version, packet)) = generate(data, strategies::versioned_packet()) else {
        return;
    };
    assert!(
        roundtrip_at(&packet, version),
        "a valid packet does not encode at {version:?}: {packet:?}"
    );
    if !matches!(packet, Packet::Connect(_)) {
        let other = match version {
            ProtocolVersion::V5 => ProtocolVersion::V311,
            ProtocolVersion::V311 => ProtocolVersion::V5,
        };
        roundtrip_at(&packet, other);
    }
}

/// Encodes `packet` at `version` and checks it as [`check_roundtrip`] says;
/// returns whether it encoded.
fn roundtrip_at(packet: &Packet, version: ProtocolVersion) -> bool {
    let mut wire = BytesMut::new();
    let encoded = encode(packet, version, &mut wire);
    assert_eq!(
        encoded.is_ok(),
        packet.encoded_len(version).is_ok(),
        "encode and encoded_len disagree on {packet:?} at {version:?}"
    );
    if encoded.is_err() {
        assert!(wire.is_empty(), "a failed encode wrote bytes");
        return false;
    }
    assert_eq!(packet.encoded_len(version).ok(), Some(wire.len()));
    let decoded = decode(&mut wire, version, u32::MAX);
    assert_eq!(
        decoded,
        Ok(Some(packet.clone())),
        "roundtrip at {version:?}"
    );
    assert!(wire.is_empty(), "bytes left over after decoding");
    true
}
