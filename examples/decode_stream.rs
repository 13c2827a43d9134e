//! Decodes a captured MQTT byte stream and prints every packet.
//!
//! Two short sessions, one MQTT 5.0 and one MQTT 3.1.1, as they crossed the
//! wire: CONNECT, CONNACK, SUBSCRIBE, SUBACK, a QoS 1 PUBLISH from the
//! broker (with properties in 5.0), its PUBACK, PINGREQ, PINGRESP and
//! DISCONNECT. Each direction has its own receive buffer, and the bytes
//! arrive in small uneven chunks, as reads from a socket do: the decoder
//! answers "not yet" until a whole packet is buffered.
//!
//! Run it with `cargo run --example decode_stream`.

use bytes::BytesMut;
use tern_mqtt::codec::{decode, ProtocolVersion};

/// Who sent a stretch of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// Client to broker.
    Client,
    /// Broker to client.
    Server,
}
use Direction::{Client, Server};

/// The largest packet either side accepts here.
const MAX_PACKET_SIZE: u32 = 64 * 1024;

/// An MQTT 5.0 session, in the order the bytes were seen.
const SESSION_V5: &[(Direction, &[u8])] = &[
    // CONNECT: level 5, clean start, keep alive 60 s, Session Expiry
    // Interval 3600 s, Receive Maximum 20, client id "tern-demo".
    (Client, b"\x10\x1E\x00\x04MQTT\x05\x02\x00\x3C\x08\x11\x00\x00\x0E\x10\x21\x00\x14\x00\x09tern-demo"),
    // CONNACK: success, Topic Alias Maximum 10, Maximum QoS 1, Assigned
    // Client Identifier.
    (Server, b"\x20\x14\x00\x00\x11\x22\x00\x0A\x24\x01\x12\x00\x09auto-7F3A"),
    // SUBSCRIBE id 1, Subscription Identifier 1: "sensors/+/temp" at QoS 1
    // (send retained only if new), and the shared "$share/g/alerts/#" at QoS 2
    // with Retain As Published.
    (Client, b"\x82\x2A\x00\x01\x02\x0B\x01\x00\x0Esensors/+/temp\x11\x00\x11$share/g/alerts/#\x0A"),
    // SUBACK id 1: granted QoS 1, then 0x97 Quota exceeded.
    (Server, b"\x90\x05\x00\x01\x00\x01\x97"),
    // PUBLISH QoS 1 id 2 on "sensors/1/temp", properties: Payload Format
    // Indicator 1 (UTF-8), Message Expiry Interval 60 s, Content Type
    // "application/json", User Property ("unit", "C"); payload {"t":21.5}.
    (Server, b"\x32\x41\x00\x0Esensors/1/temp\x00\x02\
               \x24\x01\x01\x02\x00\x00\x00\x3C\x03\x00\x10application/json\
               \x26\x00\x04unit\x00\x01C\
               {\"t\":21.5}"),
    // PUBACK id 2, success (the short form: no reason code, no properties).
    (Client, b"\x40\x02\x00\x02"),
    (Client, b"\xC0\x00"), // PINGREQ
    (Server, b"\xD0\x00"), // PINGRESP
    (Client, b"\xE0\x00"), // DISCONNECT, normal disconnection (short form)
];

/// The same conversation in MQTT 3.1.1.
const SESSION_V311: &[(Direction, &[u8])] = &[
    // CONNECT: level 4, clean session, keep alive 60 s, client id "tern-demo".
    (
        Client,
        b"\x10\x15\x00\x04MQTT\x04\x02\x00\x3C\x00\x09tern-demo",
    ),
    // CONNACK: accepted, no session present.
    (Server, b"\x20\x02\x00\x00"),
    // SUBSCRIBE id 1: "sensors/+/temp" at QoS 1, "alerts/#" at QoS 2.
    (
        Client,
        b"\x82\x1E\x00\x01\x00\x0Esensors/+/temp\x01\x00\x08alerts/#\x02",
    ),
    // SUBACK id 1: granted QoS 1, then 0x80 failure.
    (Server, b"\x90\x04\x00\x01\x01\x80"),
    // PUBLISH QoS 1 id 2 on "sensors/1/temp", payload "21.5".
    (Server, b"\x32\x16\x00\x0Esensors/1/temp\x00\x0221.5"),
    (Client, b"\x40\x02\x00\x02"), // PUBACK id 2
    (Client, b"\xC0\x00"),         // PINGREQ
    (Server, b"\xD0\x00"),         // PINGRESP
    (Client, b"\xE0\x00"),         // DISCONNECT
];

/// Sizes of successive socket reads; they cut packets at arbitrary points.
const READ_SIZES: [usize; 5] = [3, 1, 11, 5, 7];

fn replay(
    title: &str,
    version: ProtocolVersion,
    capture: &[(Direction, &[u8])],
) -> Result<usize, Box<dyn std::error::Error>> {
    println!("== {title}");
    // One receive buffer per direction, as each peer has its own socket.
    let mut to_server = BytesMut::new();
    let mut to_client = BytesMut::new();
    let mut decoded = 0;
    let mut reads = READ_SIZES.iter().cycle();
    for &(direction, mut bytes) in capture {
        let (buf, arrow) = match direction {
            Client => (&mut to_server, "client -> broker"),
            Server => (&mut to_client, "broker -> client"),
        };
        while !bytes.is_empty() {
            let n = (*reads.next().unwrap_or(&1)).min(bytes.len());
            let (chunk, rest) = bytes.split_at(n);
            buf.extend_from_slice(chunk);
            bytes = rest;
            // Decode every whole packet now buffered; `None` means "read more".
            while let Some(packet) = decode(buf, version, MAX_PACKET_SIZE)? {
                decoded += 1;
                println!("{arrow}  {}\n    {packet:?}", packet.name());
            }
        }
    }
    if !to_server.is_empty() || !to_client.is_empty() {
        return Err("the capture ended inside a packet".into());
    }
    println!();
    Ok(decoded)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let v5 = replay("MQTT 5.0 session", ProtocolVersion::V5, SESSION_V5)?;
    let v311 = replay("MQTT 3.1.1 session", ProtocolVersion::V311, SESSION_V311)?;
    println!("decoded {v5} MQTT 5.0 packets and {v311} MQTT 3.1.1 packets");
    Ok(())
}
