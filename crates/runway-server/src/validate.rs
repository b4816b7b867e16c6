//! Field checks shared by the services. Each error names the proto field
//! path to blame (the gateway renders it as the JSON path).

use std::collections::BTreeMap;

use prost_types::Struct;
use runway_api::{json_value, names};
use runway_store::ids::IdKind;

use crate::error::{ResourceKind, ServiceError, ServiceResult};

pub const MAX_NAME_CHARS: usize = 256;
pub const MAX_TEXT_CHARS: usize = 65_536;
pub const MAX_METADATA_KEYS: usize = 16;
pub const MAX_METADATA_KEY_CHARS: usize = 64;
pub const MAX_METADATA_VALUE_CHARS: usize = 512;
/// The metadata key the REST API reserves for the deployment's config.
pub const RESERVED_METADATA_KEY: &str = "cas_config";

/// A required name of 1–256 characters: no control characters, and at
/// least one that shows (not only spaces or zero-width marks).
pub fn name(param: &str, value: &str) -> ServiceResult<String> {
    let chars = value.chars().count();
    if !value.chars().any(names::leaves_a_mark) || chars > MAX_NAME_CHARS {
        return Err(ServiceError::invalid(
            param,
            format!("{param} must be 1 to {MAX_NAME_CHARS} characters and not blank"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            param,
            format!("{param} must not contain control characters"),
        ));
    }
    Ok(value.to_string())
}

/// Optional free text of at most 65536 characters, without NUL (which no
/// database text column can hold).
pub fn text(param: &str, value: Option<&String>) -> ServiceResult<Option<String>> {
    if let Some(v) = value {
        if v.chars().count() > MAX_TEXT_CHARS {
            return Err(ServiceError::invalid(
                param,
                format!("{param} must be at most {MAX_TEXT_CHARS} characters"),
            ));
        }
        no_nul(param, v)?;
    }
    Ok(value.cloned())
}

/// Refuses a NUL character: PostgreSQL text cannot store it.
pub fn no_nul(param: &str, value: &str) -> ServiceResult<()> {
    no_nul_named(param, param, value)
}

/// [`no_nul`] of a field whose message calls it `name`, as the client
/// sends it (`after_id`), while `param` is its proto path (`page.after_id`,
/// which the gateway renames).
pub fn no_nul_named(param: &str, name: &str, value: &str) -> ServiceResult<()> {
    if value.contains('\0') {
        return Err(ServiceError::invalid(
            param,
            format!("{name} must not contain NUL characters"),
        ));
    }
    Ok(())
}

/// A deployment's user metadata: [`metadata`], and `cas_config` is
/// reserved (in REST it is the sibling object that holds the config).
pub fn deployment_metadata(param: &str, map: &BTreeMap<String, String>) -> ServiceResult<()> {
    if map.contains_key(RESERVED_METADATA_KEY) {
        return Err(ServiceError::invalid(
            format!("{param}.{RESERVED_METADATA_KEY}"),
            "cas_config is reserved for the deployment's configuration",
        ));
    }
    metadata(param, map)
}

/// User metadata: at most 16 keys of 1–64 characters with values of at most
/// 512 characters, no NUL.
pub fn metadata(param: &str, map: &BTreeMap<String, String>) -> ServiceResult<()> {
    if map.len() > MAX_METADATA_KEYS {
        return Err(ServiceError::invalid(
            param,
            format!(
                "{param} may hold at most {MAX_METADATA_KEYS} keys, got {}",
                map.len()
            ),
        ));
    }
    for (key, value) in map {
        let key_param = format!("{param}.{key}");
        if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_CHARS {
            return Err(ServiceError::invalid(
                key_param,
                format!("metadata keys must be 1 to {MAX_METADATA_KEY_CHARS} characters"),
            ));
        }
        no_nul(&key_param, key)?;
        no_nul(&key_param, value)?;
        if value.chars().count() > MAX_METADATA_VALUE_CHARS {
            return Err(ServiceError::invalid(
                key_param,
                format!("metadata values must be at most {MAX_METADATA_VALUE_CHARS} characters"),
            ));
        }
    }
    Ok(())
}

/// How deep JSON may nest (objects and arrays, the outermost counting
/// one), so that every message carrying it decodes again: protobuf
/// decoders stop at 100 nested messages, each JSON object costs three of
/// them (`Value`, `Struct`, its map entry), and the deepest carrier (a
/// runner's claimed turn: response, turn, deployment, initial event) adds
/// a few more. Deeper JSON was accepted and then made every read of its
/// resource fail.
pub const MAX_JSON_DEPTH: usize = 24;

/// INVALID_ARGUMENT on `param` for JSON nested deeper than
/// [`MAX_JSON_DEPTH`]. (A NUL in a string of it is kept: the JSON is
/// stored as text with the NUL escaped, which every database holds.)
pub fn json_depth(param: &str, value: &serde_json::Value) -> ServiceResult<()> {
    within_depth(param, depth(value))
}

/// [`json_depth`] of a JSON object.
pub fn object_depth(
    param: &str,
    object: &serde_json::Map<String, serde_json::Value>,
) -> ServiceResult<()> {
    within_depth(param, 1 + object.values().map(depth).max().unwrap_or(0))
}

fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn within_depth(param: &str, levels: usize) -> ServiceResult<()> {
    if levels > MAX_JSON_DEPTH {
        return Err(ServiceError::invalid(
            param,
            format!("{param} may nest objects and arrays at most {MAX_JSON_DEPTH} deep"),
        ));
    }
    Ok(())
}

/// The most one event holds as JSON: a runner's event fields, an initial
/// event's content.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// INVALID_ARGUMENT on `param` when `value` is over [`MAX_EVENT_BYTES`] as
/// JSON.
pub fn event_size(param: &str, value: &impl serde::Serialize) -> ServiceResult<()> {
    let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
    if size > MAX_EVENT_BYTES {
        return Err(ServiceError::invalid(
            param,
            format!("an event may hold at most {MAX_EVENT_BYTES} bytes as JSON, got {size}"),
        ));
    }
    Ok(())
}

/// The most a list of typed objects (a deployment's `resources`, an
/// agent's `tools`) may hold as JSON: a claimed turn carries both, with the
/// initial events (50 of at most 256 KiB), within one 64 MiB message.
pub const MAX_TYPED_OBJECTS_BYTES: usize = 16 * 1024 * 1024;

/// A list of JSON objects that each carry a non-empty string `type`, at
/// most [`MAX_TYPED_OBJECTS_BYTES`] in all.
pub fn typed_objects(
    param: &str,
    items: &[Struct],
) -> ServiceResult<Vec<serde_json::Map<String, serde_json::Value>>> {
    let mut out = Vec::with_capacity(items.len());
    let mut bytes = 0;
    for (i, item) in items.iter().enumerate() {
        let object = json_value::struct_to_object(item);
        object_depth(&format!("{param}[{i}]"), &object)?;
        bytes += serde_json::to_vec(&object).map_or(usize::MAX, |v| v.len());
        if bytes > MAX_TYPED_OBJECTS_BYTES {
            return Err(ServiceError::invalid(
                param,
                format!(
                    "{param} may hold at most {} MiB as JSON",
                    MAX_TYPED_OBJECTS_BYTES / (1024 * 1024)
                ),
            ));
        }
        match object.get("type") {
            Some(serde_json::Value::String(t)) if !t.is_empty() => {}
            _ => {
                return Err(ServiceError::invalid(
                    format!("{param}[{i}].type"),
                    format!("{param}[{i}] must have a non-empty string type"),
                ));
            }
        }
        out.push(object);
    }
    Ok(out)
}

/// NOT_FOUND for an id that cannot name a row of `kind` (wrong prefix,
/// wrong length, not lowercase hex): malformed ids are simply unknown.
pub fn known_id(kind: ResourceKind, param: &'static str, id: &str) -> ServiceResult<()> {
    let ids = match kind {
        ResourceKind::Deployment => IdKind::Deployment,
        ResourceKind::DeploymentRun => IdKind::Run,
        ResourceKind::Agent | ResourceKind::AgentVersion => IdKind::Agent,
        ResourceKind::Environment => IdKind::Environment,
        ResourceKind::Session => IdKind::Session,
        ResourceKind::WebhookEndpoint => IdKind::WebhookEndpoint,
        ResourceKind::WebhookDelivery => IdKind::WebhookDelivery,
        ResourceKind::Token => IdKind::AccessToken,
    };
    if ids.is_valid(id) {
        Ok(())
    } else {
        Err(ServiceError::not_found(kind, id, param))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// `levels` objects and arrays, alternating, around a string.
    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!("leaf"), |inner, level| {
            if level % 2 == 0 {
                json!({ "k": inner })
            } else {
                json!([inner])
            }
        })
    }

    #[test]
    fn json_nests_at_most_the_documented_depth() {
        assert!(json_depth("content", &nested(MAX_JSON_DEPTH)).is_ok());
        let err = json_depth("content", &nested(MAX_JSON_DEPTH + 1)).unwrap_err();
        assert!(
            matches!(&err, ServiceError::InvalidArgument { param: Some(p), .. } if p == "content"),
            "{err:?}"
        );
        assert!(json_depth("content", &json!("flat")).is_ok());
        // Siblings do not add up: only the deepest path counts.
        let wide = json!({ "a": nested(MAX_JSON_DEPTH - 1), "b": nested(MAX_JSON_DEPTH - 1) });
        assert!(json_depth("content", &wide).is_ok());
    }
}
