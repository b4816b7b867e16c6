//! JSON input pieces several resources share.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use runway_api::json_value;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A 200 with a JSON body.
pub fn ok(value: impl serde::Serialize) -> Response {
    Json(value).into_response()
}

/// A 201 with a JSON body.
pub fn created(value: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

/// A list of objects as proto `Struct`s.
pub fn structs(items: Vec<Map<String, Value>>) -> Vec<prost_types::Struct> {
    items
        .into_iter()
        .map(json_value::object_to_struct)
        .collect()
}

/// User metadata on create: every value must be a string.
pub fn string_metadata(
    map: Map<String, Value>,
    param: &str,
) -> Result<BTreeMap<String, String>, ApiError> {
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            _ => Err(ApiError::invalid(
                Some(format!("{param}.{k}")),
                "metadata values must be strings",
            )),
        })
        .collect()
}

/// A merge-patch of user metadata on update: a string sets the key, `null`
/// deletes it. Returns the new values and the `metadata.<key>` mask paths.
pub fn metadata_patch(
    map: Map<String, Value>,
    param: &str,
) -> Result<(BTreeMap<String, String>, Vec<String>), ApiError> {
    let mut values = BTreeMap::new();
    let mut paths = Vec::new();
    for (k, v) in map {
        match v {
            Value::String(s) => {
                values.insert(k.clone(), s);
            }
            Value::Null => {}
            _ => {
                return Err(ApiError::invalid(
                    Some(format!("{param}.{k}")),
                    "metadata values must be strings (or null to delete the key)",
                ));
            }
        }
        paths.push(format!("metadata.{k}"));
    }
    Ok((values, paths))
}
