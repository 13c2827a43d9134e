// The decode-target check. Shared word for word by the fuzz targets (through
// fuzz/src/lib.rs) and by tests/fuzz_corpus.rs (through `include!`).
use bytes::BytesMut;
use tern_mqtt::codec::{decode, decode_ref, encode, Packet, ProtocolVersion};

/// Decodes `data` packet by packet at `version` until it needs more bytes or
/// fails; every packet must re-encode to something that decodes to it again,
/// whole, and whose every strict prefix is still incomplete. The borrowed
/// decoder gives the same verdict at every step.
pub fn check_decode(data: &[u8], version: ProtocolVersion) {
    let mut buf = BytesMut::from(data);
    loop {
        let borrowed =
            decode_ref(&buf, version, 1 << 20).map(|r| r.map(|(p, n)| (p.to_packet(), n)));
        let before = buf.len();
        let owned = decode(&mut buf, version, 1 << 20);
        let consumed = before - buf.len();
        assert_eq!(
            borrowed,
            owned.clone().map(|r| r.map(|p| (p, consumed))),
            "decode_ref disagrees"
        );
        let Ok(Some(p)) = owned else { break };
        // A CONNECT is read at its own protocol level.
        let v = match &p {
            Packet::Connect(c) => c.protocol_version,
            _ => version,
        };
        let mut wire = BytesMut::new();
        if let Err(e) = encode(&p, v, &mut wire) {
            panic!("decoded {p:?} but cannot encode it: {e}");
        }
        assert_eq!(
            p.encoded_len(v).ok(),
            Some(wire.len()),
            "encoded_len of {p:?}"
        );
        let mut prefix = BytesMut::from(&wire[..wire.len() - 1]);
        assert_eq!(
            decode(&mut prefix, v, u32::MAX),
            Ok(None),
            "prefix of {p:?}"
        );
        assert_eq!(
            prefix.len(),
            wire.len() - 1,
            "an incomplete decode consumed bytes"
        );
        let again = decode(&mut wire, v, u32::MAX);
        assert_eq!(again, Ok(Some(p)), "re-decoding the re-encoded packet");
        assert!(wire.is_empty(), "bytes left after re-decoding");
    }
}
