//! Field checks shared by the services. Each error names the proto field
//! path to blame (the gateway renders it as the JSON path).

use std::collections::BTreeMap;

use prost_types::Struct;
use runway_api::json_value;
use runway_store::ids::IdKind;

use crate::error::{ResourceKind, ServiceError, ServiceResult};

pub const MAX_NAME_CHARS: usize = 256;
pub const MAX_TEXT_CHARS: usize = 65_536;
pub const MAX_METADATA_KEYS: usize = 16;
pub const MAX_METADATA_KEY_CHARS: usize = 64;
pub const MAX_METADATA_VALUE_CHARS: usize = 512;
/// The metadata key the REST API reserves for the deployment's config.
pub const RESERVED_METADATA_KEY: &str = "cas_config";

/// A required name of 1–256 characters.
pub fn name(param: &str, value: &str) -> ServiceResult<String> {
    let chars = value.chars().count();
    if value.trim().is_empty() || chars > MAX_NAME_CHARS {
        return Err(ServiceError::invalid(
            param,
            format!("{param} must be 1 to {MAX_NAME_CHARS} characters and not blank"),
        ));
    }
    Ok(value.to_string())
}

/// Optional free text of at most 65536 characters.
pub fn text(param: &str, value: Option<&String>) -> ServiceResult<Option<String>> {
    if let Some(v) = value
        && v.chars().count() > MAX_TEXT_CHARS
    {
        return Err(ServiceError::invalid(
            param,
            format!("{param} must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(value.cloned())
}

/// User metadata: at most 16 keys of 1–64 characters with values of at most
/// 512 characters; `cas_config` is reserved.
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
        if key == RESERVED_METADATA_KEY {
            return Err(ServiceError::invalid(
                key_param,
                "cas_config is reserved for the deployment's configuration",
            ));
        }
        if value.chars().count() > MAX_METADATA_VALUE_CHARS {
            return Err(ServiceError::invalid(
                key_param,
                format!("metadata values must be at most {MAX_METADATA_VALUE_CHARS} characters"),
            ));
        }
    }
    Ok(())
}

/// A list of JSON objects that each carry a non-empty string `type`.
pub fn typed_objects(
    param: &str,
    items: &[Struct],
) -> ServiceResult<Vec<serde_json::Map<String, serde_json::Value>>> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let object = json_value::struct_to_object(item);
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
    };
    if ids.is_valid(id) {
        Ok(())
    } else {
        Err(ServiceError::not_found(kind, id, param))
    }
}
