//! Replays the checked-in fuzz corpus and regressions (`fuzz/corpus/decode_*`,
//! `fuzz/regressions/`) through the same check the `decode_v311` and
//! `decode_v5` fuzz targets run, and `fuzz/corpus/roundtrip` through the
//! `roundtrip` target's check (packets drawn from the tests' own strategies),
//! so `cargo test` guards every input that once found a bug without needing
//! cargo-fuzz.

use bytes::BytesMut;
use std::path::{Path, PathBuf};
use tern_mqtt::codec::{decode, Packet, ProtocolVersion};

/// The check shared word for word with the fuzz targets.
mod check {
    include!("../fuzz/src/check.rs");
}

/// The `roundtrip` target's generator and check, shared the same way.
#[path = "../fuzz/src/roundtrip.rs"]
mod roundtrip;

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    out.sort();
    out
}

fn replay(dir: &str, versions: &[ProtocolVersion]) -> usize {
    let paths = files(dir);
    for path in &paths {
        let data = std::fs::read(path).unwrap();
        for &v in versions {
            let outcome = std::panic::catch_unwind(|| check::check_decode(&data, v));
            assert!(
                outcome.is_ok(),
                "{} failed the decode check at {v:?}",
                path.display()
            );
        }
    }
    paths.len()
}

/// The seed corpora hold only well-formed captures (crash inputs go to
/// `fuzz/regressions/`): each must decode whole, without an error.
fn assert_seeds_decode_whole(dir: &str, v: ProtocolVersion) {
    for path in files(dir) {
        let mut buf = BytesMut::from(&std::fs::read(&path).unwrap()[..]);
        let mut count = 0;
        while let Some(_packet) =
            decode(&mut buf, v, 1 << 20).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        {
            count += 1;
        }
        assert!(
            count > 0 && buf.is_empty(),
            "{}: {count} packets, {} bytes left",
            path.display(),
            buf.len()
        );
    }
}

#[test]
fn corpus_decode_v311() {
    assert!(replay("fuzz/corpus/decode_v311", &[ProtocolVersion::V311]) >= 10);
    assert_seeds_decode_whole("fuzz/corpus/decode_v311", ProtocolVersion::V311);
}

#[test]
fn corpus_decode_v5() {
    assert!(replay("fuzz/corpus/decode_v5", &[ProtocolVersion::V5]) >= 10);
    assert_seeds_decode_whole("fuzz/corpus/decode_v5", ProtocolVersion::V5);
}

#[test]
fn regressions_both_versions() {
    // Crash inputs found by fuzzing; the directory may be empty.
    replay(
        "fuzz/regressions",
        &[ProtocolVersion::V311, ProtocolVersion::V5],
    );
}

/// The hand-made session captures decode whole: nine packets, nothing left.
#[test]
fn session_captures_decode_whole() {
    for (dir, v) in [
        ("decode_v311", ProtocolVersion::V311),
        ("decode_v5", ProtocolVersion::V5),
    ] {
        let path = format!(
            "{}/fuzz/corpus/{dir}/session.bin",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut buf = BytesMut::from(&std::fs::read(path).unwrap()[..]);
        let mut names = Vec::new();
        while let Some(p) = decode(&mut buf, v, 1 << 20).unwrap() {
            names.push(p.name());
            if let Packet::Connect(c) = &p {
                assert_eq!(c.protocol_version, v);
            }
        }
        assert!(buf.is_empty(), "{dir}: bytes left over");
        assert_eq!(
            names,
            [
                "CONNECT",
                "CONNACK",
                "SUBSCRIBE",
                "SUBACK",
                "PUBLISH",
                "PUBACK",
                "PINGREQ",
                "PINGRESP",
                "DISCONNECT"
            ]
        );
    }
}

#[test]
fn corpus_roundtrip() {
    let paths = files("fuzz/corpus/roundtrip");
    assert!(paths.len() >= 10, "the roundtrip seeds are checked in");
    let mut generated = 0;
    for path in &paths {
        let data = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| roundtrip::check_roundtrip(&data));
        assert!(
            outcome.is_ok(),
            "{} failed the roundtrip check",
            path.display()
        );
        generated += usize::from(
            roundtrip::generate(&data, roundtrip::strategies::versioned_packet()).is_some(),
        );
    }
    assert_eq!(generated, paths.len(), "every seed chooses a packet");
}

#[test]
fn roundtrip_generator_is_deterministic_and_total() {
    let strategy = roundtrip::strategies::versioned_packet;
    // No bytes at all, or only zeros, is a packet too: never a hang.
    assert!(roundtrip::generate(&[], strategy()).is_some());
    assert!(roundtrip::generate(&[0; 4096], strategy()).is_some());
    let data: Vec<u8> = (0..=255u8).cycle().take(2048).collect();
    let a = roundtrip::generate(&data, strategy());
    assert!(a.is_some());
    assert_eq!(a, roundtrip::generate(&data, strategy()));
}
