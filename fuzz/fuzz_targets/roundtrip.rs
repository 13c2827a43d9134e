#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tern_mqtt_fuzz::check_roundtrip(data));
