//! The session engine: keep alive and the engine clock: ping timeouts, and time that never runs backwards.
//!
//! Driven only through the engine's public inputs and outputs against the
//! scripted broker double (`support/session_double.rs`), on virtual time;
//! every test ends with `Double::assert_completions`: each command that
//! returned `Ok(id)` got exactly one completion event.

#[path = "support/session_double.rs"]
mod double;

#[allow(unused_imports)]
use double::packets::*;
#[allow(unused_imports)]
use double::*;
use std::time::Duration;
use tern_mqtt::codec::{Packet, ReasonCode};
use tern_mqtt::session::ProtocolError;

#[test]
fn ping_timeout_shorter_than_keep_alive_is_honoured() {
    for v in BOTH {
        let mut c = config(v);
        c.keep_alive = 30;
        c.ping_timeout = Some(Duration::from_secs(5));
        let mut d = Double::new(c);
        d.connect();
        d.advance(Duration::from_secs(30));
        assert_eq!(d.sent(), vec![Packet::PingReq(tern_mqtt::codec::PingReq)]);
        assert_eq!(
            d.session.poll_timeout(),
            Some(d.now + Duration::from_secs(5))
        );
        d.advance(Duration::from_secs(4));
        assert!(d.events().is_empty());
        d.advance(Duration::from_secs(1));
        let error = assert_protocol_close(&mut d, ReasonCode::KEEP_ALIVE_TIMEOUT);
        assert_eq!(error, ProtocolError::KeepAliveTimeout);
        d.assert_completions();
    }
}

#[test]
fn time_never_runs_backwards() {
    let mut c = config(V5);
    c.keep_alive = 10;
    let mut d = Double::new(c);
    d.connect();
    let deadline = d.session.poll_timeout().unwrap();
    // An earlier `now` counts as the latest seen: nothing fires early.
    d.session.handle_timeout(d.now - Duration::from_secs(5));
    assert!(d.sent().is_empty());
    assert_eq!(d.session.poll_timeout(), Some(deadline));
    d.assert_completions();
}
