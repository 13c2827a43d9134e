//! JSON output: tern's own `--json` (every v5 property, base64 for binary
//! payloads) and mosquitto's `-F %j` / `%J` (its key names and order).

use super::format::{iso8601, Received};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use tern_mqtt::client::Message;
use time::OffsetDateTime;

/// The JSON form of a message.
pub fn to_json(msg: &Message) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let p = &msg.properties;
    let mut props = Map::new();
    let user: Vec<Value> = p
        .user_properties
        .iter()
        .map(|(k, v)| json!([k.as_ref(), v.as_ref()]))
        .collect();
    props.insert("user_properties".into(), Value::Array(user));
    if let Some(ct) = &p.content_type {
        props.insert("content_type".into(), json!(ct.as_ref()));
    }
    if let Some(rt) = &p.response_topic {
        props.insert("response_topic".into(), json!(rt.as_str()));
    }
    if let Some(cd) = &p.correlation_data {
        props.insert("correlation_data_base64".into(), json!(b64.encode(cd)));
    }
    if let Some(secs) = p.message_expiry_interval {
        props.insert("message_expiry".into(), json!(secs));
    }
    if let Some(utf8) = p.payload_format_indicator {
        props.insert("payload_format_utf8".into(), json!(utf8));
    }
    let ids: Vec<u32> = p
        .subscription_identifiers
        .iter()
        .map(|id| id.get())
        .collect();
    props.insert("subscription_ids".into(), json!(ids));

    let mut obj = Map::new();
    obj.insert("topic".into(), json!(msg.topic.as_str()));
    obj.insert("qos".into(), json!(msg.qos as u8));
    obj.insert("retain".into(), json!(msg.retain));
    obj.insert("properties".into(), Value::Object(props));
    match std::str::from_utf8(&msg.payload) {
        Ok(text) => obj.insert("payload".into(), json!(text)),
        Err(_) => obj.insert("payload_base64".into(), json!(b64.encode(&msg.payload))),
    };
    Value::Object(obj)
}

/// mosquitto's %j (payload as a JSON string) or %J (payload as JSON
/// itself): tst, topic, qos, retain, payloadlen, properties, payload.
pub fn mosquitto(
    msg: Received<'_>,
    when: OffsetDateTime,
    raw_payload: bool,
    pretty: bool,
) -> String {
    let tst = iso8601(when).replacen("+0000", &format!(".{:06}Z+0000", when.microsecond()), 1);
    let mut fields: Vec<(&str, String)> = vec![
        ("tst", json!(tst).to_string()),
        ("topic", json!(msg.topic).to_string()),
        ("qos", (msg.qos as u8).to_string()),
        ("retain", u8::from(msg.retain).to_string()),
        ("payloadlen", msg.payload.len().to_string()),
    ];
    let props: Vec<(&str, String)> = mosquitto_properties(msg)
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    if !props.is_empty() {
        fields.push(("properties", object(&props, false)));
    }
    let text = String::from_utf8_lossy(msg.payload);
    let payload = match serde_json::from_str::<Value>(&text) {
        Ok(v) if raw_payload => v,
        _ => json!(text),
    };
    fields.push(("payload", payload.to_string()));
    object(&fields, pretty)
}

/// A JSON object of already serialised values, keys in the given order
/// (serde_json's map would sort them); `pretty` uses mosquitto's tabs.
fn object(fields: &[(&str, String)], pretty: bool) -> String {
    let (open, sep, colon, close) = if pretty {
        ("{\n\t", ",\n\t", ":\t", "\n}")
    } else {
        ("{", ",", ":", "}")
    };
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}{colon}{v}", json!(k)))
        .collect();
    format!("{open}{}{close}", body.join(sep))
}

/// The v5 properties by mosquitto's JSON names, in the order mosquitto
/// prints them. Subscription identifiers are left out: the library
/// assigns its own (see %S).
fn mosquitto_properties(msg: Received<'_>) -> Vec<(&'static str, Value)> {
    let p = msg.properties;
    let mut m = Vec::new();
    if let Some(rt) = &p.response_topic {
        m.push(("response-topic", json!(rt.as_str())));
    }
    if let Some(cd) = &p.correlation_data {
        m.push(("correlation-data", json!(String::from_utf8_lossy(cd))));
    }
    if !p.user_properties.is_empty() {
        let users: Map<String, Value> = p
            .user_properties
            .iter()
            .map(|(k, v)| ((k.as_ref() as &str).to_owned(), json!(v.as_ref() as &str)))
            .collect();
        m.push(("user-properties", Value::Object(users)));
    }
    if let Some(ct) = &p.content_type {
        m.push(("content-type", json!(ct.as_ref() as &str)));
    }
    if let Some(f) = p.payload_format_indicator {
        m.push(("payload-format-indicator", json!(u8::from(f))));
    }
    if let Some(e) = p.message_expiry_interval {
        m.push(("message-expiry-interval", json!(e)));
    }
    m
}
