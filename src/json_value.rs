//! Lossless conversion between JSON values and `google.protobuf.Value` /
//! `Struct`, the proto types that carry free-form JSON (tools, resources,
//! event content).

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};

/// A JSON value as a `google.protobuf.Value`.
pub fn to_proto(json: serde_json::Value) -> Value {
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        // Protobuf carries every number as a double, as JSON itself does.
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(to_proto).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(object_to_struct(map)),
    };
    Value { kind: Some(kind) }
}

/// A JSON object as a `google.protobuf.Struct`.
pub fn object_to_struct(map: serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: map.into_iter().map(|(k, v)| (k, to_proto(v))).collect(),
    }
}

/// A `google.protobuf.Value` as JSON.
pub fn from_proto(value: &Value) -> serde_json::Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::NumberValue(n)) => number(*n),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::ListValue(list)) => {
            serde_json::Value::Array(list.values.iter().map(from_proto).collect())
        }
        Some(Kind::StructValue(s)) => serde_json::Value::Object(struct_to_object(s)),
    }
}

/// A `google.protobuf.Struct` as a JSON object.
pub fn struct_to_object(s: &Struct) -> serde_json::Map<String, serde_json::Value> {
    s.fields
        .iter()
        .map(|(k, v)| (k.clone(), from_proto(v)))
        .collect()
}

/// Whole doubles print as integers (`3`, not `3.0`), as the client sent them.
fn number(n: f64) -> serde_json::Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.fract() == 0.0 && n.abs() < EXACT {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_survives_the_round_trip() {
        let json = serde_json::json!({
            "type": "file", "n": 3, "f": 1.5, "neg": -7, "ok": true, "none": null,
            "list": ["a", {"b": [1, 2]}]
        });
        assert_eq!(from_proto(&to_proto(json.clone())), json);
    }
}
