#![no_main]
use libfuzzer_sys::fuzz_target;
use tern_mqtt::codec::ProtocolVersion;

fuzz_target!(|data: &[u8]| {
    tern_mqtt_fuzz::check_decode(data, ProtocolVersion::V311);
});
