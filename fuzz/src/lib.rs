//! Helpers for the tern-mqtt fuzz targets.
//!
//! - [`check_decode`]: the property the `decode_v311` and `decode_v5` targets
//!   check on raw bytes (also replayed by `tests/fuzz_corpus.rs`).
//! - [`check_roundtrip`]: the property the `roundtrip` target checks on a
//!   packet drawn from the test suite's own proptest strategies
//!   (`tests/support/strategies.rs`) with the fuzzer's bytes as the random
//!   stream ([`generate`]); see `roundtrip.rs` for why (also replayed by
//!   `tests/fuzz_corpus.rs`).
//! - The `session` target builds the server's packets with the tests'
//!   builders (`tests/support/packets.rs`).

mod check;
mod roundtrip;

pub use check::check_decode;
pub use roundtrip::{check_roundtrip, generate, strategies};
