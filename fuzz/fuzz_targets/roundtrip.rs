#![no_main]
use libfuzzer_sys::fuzz_target;
use tern_mqtt_fuzz::{check_roundtrip, Input};

fuzz_target!(|input: Input| check_roundtrip(input));
