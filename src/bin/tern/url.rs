//! The broker URL: from -h/-p/--unix, or from mosquitto's -L form
//! `mqtt(s)://[user[:pass]@]host[:port]/topic`.

use crate::common::{usage, CliError};
use std::path::Path;

/// A broker URL the library takes, and what -L carried besides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerUrl {
    /// The URL for `ConnectOptions::new`, without user info or topic.
    pub broker: String,
    /// The topic in the path of an `mqtt(s)://` URL.
    pub topic: Option<String>,
    /// The user name of the URL's user info.
    pub username: Option<String>,
    /// The password of the URL's user info.
    pub password: Option<String>,
}

impl BrokerUrl {
    /// Parses -L. For `mqtt://` and `mqtts://` the path is the topic and
    /// user info is taken out; other schemes go to the library unchanged
    /// (a WebSocket URL's path is the HTTP path, not a topic).
    pub fn parse(url: &str) -> Result<BrokerUrl, CliError> {
        let Some((scheme @ ("mqtt" | "mqtts"), rest)) = url.split_once("://") else {
            return Ok(BrokerUrl {
                broker: url.to_owned(),
                ..BrokerUrl::default()
            });
        };
        let (authority, topic) = match rest.split_once('/') {
            Some((a, t)) => (a, Some(t.to_owned()).filter(|t| !t.is_empty())),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if hostport.is_empty() {
            return Err(usage(format!("-L {scheme}:// URL without a host")));
        }
        let (username, password) = match userinfo.map(|u| u.split_once(':')) {
            Some(Some((u, p))) => (Some(u.to_owned()), Some(p.to_owned())),
            Some(None) => (userinfo.map(str::to_owned), None),
            None => (None, None),
        };
        Ok(BrokerUrl {
            broker: format!("{scheme}://{hostport}"),
            topic,
            username,
            password,
        })
    }

    /// The URL of -h, -p and --unix.
    pub fn from_parts(host: &str, port: Option<u16>, unix: Option<&Path>, tls: bool) -> BrokerUrl {
        let broker = match unix {
            Some(path) => format!("unix://{}", path.display()),
            None => {
                let scheme = if tls { "mqtts" } else { "mqtt" };
                let host = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host.to_owned()
                };
                match port {
                    Some(port) => format!("{scheme}://{host}:{port}"),
                    None => format!("{scheme}://{host}"),
                }
            }
        };
        BrokerUrl {
            broker,
            ..BrokerUrl::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mosquitto_url_form_splits_credentials_host_and_topic() {
        let u = BrokerUrl::parse("mqtts://al:pw@broker.example:8884/a/b/c").unwrap();
        assert_eq!(u.broker, "mqtts://broker.example:8884");
        assert_eq!(u.topic.as_deref(), Some("a/b/c"));
        assert_eq!(u.username.as_deref(), Some("al"));
        assert_eq!(u.password.as_deref(), Some("pw"));
        let u = BrokerUrl::parse("mqtt://h").unwrap();
        assert_eq!((u.broker.as_str(), u.topic), ("mqtt://h", None));
        let ws = BrokerUrl::parse("ws://h:9001/mqtt").unwrap();
        assert_eq!((ws.broker.as_str(), ws.topic), ("ws://h:9001/mqtt", None));
        assert!(BrokerUrl::parse("mqtt:///topic").is_err());
    }
}
