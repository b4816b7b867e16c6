//! JSON input pieces several resources share.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use runway_api::json_value;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A 200 with a JSON body.
pub fn ok(value: impl serde::Serialize) -> Response {
    json(StatusCode::OK, value)
}

/// A 201 with a JSON body.
pub fn created(value: impl serde::Serialize) -> Response {
    json(StatusCode::CREATED, value)
}

/// Room for a page of runs (about 700 bytes each) in one allocation.
const BODY_CAPACITY: usize = 16 * 1024;

/// `status` with `value` as JSON. Written into one buffer sized for a page
/// at once (axum's `Json` starts at 128 bytes and doubles: seven copies
/// and seven large allocations for a page of runs, each of which makes
/// glibc's malloc consolidate its free lists).
fn json(status: StatusCode, value: impl serde::Serialize) -> Response {
    use bytes::BufMut;
    let mut body = bytes::BytesMut::with_capacity(BODY_CAPACITY).writer();
    match serde_json::to_writer(&mut body, &value) {
        Ok(()) => (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            body.into_inner().freeze(),
        )
            .into_response(),
        // None of runway's shapes fails to serialize; were one to, the
        // bare 500 becomes the error envelope (`render_envelopes`).
        Err(err) => {
            tracing::error!(%err, "a response did not serialize");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
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
