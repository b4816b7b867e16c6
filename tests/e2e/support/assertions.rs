//! Assertions on whole answers: an error envelope, ids, timestamps; and
//! waiting for state the service reaches on its own.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Resp;

/// The keys of a JSON object.
pub fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// Asserts a whole error answer: status, envelope keys, type, param, and
/// that `request_id` matches the `x-request-id` header.
pub fn assert_envelope(resp: &Resp, status: u16, error_type: &str, param: Option<&str>) {
    assert_eq!(resp.status, status, "{}", resp.body);
    assert_eq!(
        keys(&resp.body),
        BTreeSet::from(["type", "error", "request_id"]),
        "{}",
        resp.body
    );
    assert_eq!(resp.body["type"], "error");
    let error = &resp.body["error"];
    let mut expected = BTreeSet::from(["type", "message"]);
    if param.is_some() {
        expected.insert("param");
    }
    assert_eq!(keys(error), expected, "{}", resp.body);
    assert_eq!(error["type"], error_type, "{}", resp.body);
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        resp.body
    );
    if let Some(param) = param {
        assert_eq!(error["param"], param, "{}", resp.body);
    }
    let header = resp
        .headers
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap();
    assert_eq!(resp.body["request_id"], header);
    assert_eq!(
        resp.headers.get("content-type").unwrap(),
        "application/json"
    );
}

/// `prefix` + 32 lowercase hex digits.
pub fn assert_id(value: &Value, prefix: &str) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("id is not a string: {value}"));
    let hex = s
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{s} lacks {prefix}"));
    assert_eq!(hex.len(), 32, "{s}");
    assert!(
        hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{s}"
    );
}

/// RFC 3339 UTC with 9 fractional digits and `Z`: `2026-06-14T08:58:17.133340942Z`.
pub fn assert_timestamp(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {value}"));
    let shape: String = s
        .chars()
        .map(|c| if c.is_ascii_digit() { 'd' } else { c })
        .collect();
    assert_eq!(shape, "dddd-dd-ddTdd:dd:dd.dddddddddZ", "{s}");
}

/// Checks `check` every 10 ms until it gives a value (at most 20 s): for
/// state the service reaches on its own, after what the test awaited.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let wait = async {
        loop {
            if let Some(value) = check().await {
                return value;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
