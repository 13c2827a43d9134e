//! Enhanced authentication (MQTT 5.0 section 4.12): the application's side
//! of a challenge/response exchange.

use bytes::Bytes;

/// An enhanced-authentication method, implemented by the application.
///
/// The engine calls [`initial_data`](Authenticator::initial_data) for the
/// CONNECT (and for a re-authentication), then
/// [`respond`](Authenticator::respond) for each AUTH challenge the server
/// sends, until the server answers with CONNACK (or AUTH Success when
/// re-authenticating).
///
/// ```
/// use bytes::Bytes;
/// use tern_mqtt::session::Authenticator;
///
/// /// A toy method: the server challenges with a nonce; we echo it reversed.
/// struct Echo;
/// impl Authenticator for Echo {
///     fn method(&self) -> &str { "ECHO" }
///     fn initial_data(&mut self) -> Option<Bytes> { Some(Bytes::from_static(b"hello")) }
///     fn respond(&mut self, challenge: Option<&Bytes>) -> Result<Option<Bytes>, String> {
///         let mut v = challenge.ok_or("no challenge")?.to_vec();
///         v.reverse();
///         Ok(Some(Bytes::from(v)))
///     }
/// }
/// ```
pub trait Authenticator: Send {
    /// The Authentication Method name, such as `"SCRAM-SHA-256"`.
    fn method(&self) -> &str;

    /// Authentication Data for the CONNECT, or for a re-authentication.
    fn initial_data(&mut self) -> Option<Bytes>;

    /// The answer to one challenge of the server (AUTH with reason 0x18).
    /// An `Err` ends the connection with reason 0x87 (Not authorized).
    fn respond(&mut self, challenge: Option<&Bytes>) -> Result<Option<Bytes>, String>;
}
