//! JSON request bodies: parsed strictly, with every failure answered as a
//! 400 that names the field to blame.

use axum::http::HeaderMap;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// Parses a body that must be present.
pub fn required<T: DeserializeOwned>(_headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    optional(_headers, body)?
        .ok_or_else(|| ApiError::invalid(None, "A JSON request body is required."))
}

/// Parses a body that may be omitted (`None` when it is).
pub fn optional<T: DeserializeOwned>(
    _headers: &HeaderMap,
    body: &Bytes,
) -> Result<Option<T>, ApiError> {
    let Some(first) = body.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Ok(None);
    };
    // Every body is an object: a struct would also take a JSON array,
    // field by field in order, and give it a meaning nobody wrote.
    if *first != b'{' {
        return Err(ApiError::invalid(
            None,
            "The request body must be a JSON object.",
        ));
    }
    // The API speaks only JSON, so the body is read as JSON whatever its
    // Content-Type says (curl's `-d` sends a form type by default).
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(describe)?;
    de.end().map_err(|e| {
        ApiError::invalid(
            None,
            format!("Malformed JSON: {}", strip_position(&e.to_string())),
        )
    })?;
    Ok(Some(value))
}

/// The body of an action endpoint: omitted, or an empty object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Accepts an action endpoint's body (omitted or `{}`).
pub fn empty(headers: &HeaderMap, body: &Bytes) -> Result<(), ApiError> {
    optional::<Empty>(headers, body).map(|_| ())
}

fn describe(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.inner();
    let message = strip_position(&inner.to_string());
    if !inner.is_data() {
        return ApiError::invalid(None, format!("Malformed JSON: {message}"));
    }
    let parent = if path == "." { String::new() } else { path };
    let named = missing_field(&message);
    let param = match named {
        Some(field) if parent.is_empty() => Some(field.to_string()),
        Some(field) => Some(format!("{parent}.{field}")),
        None if parent.is_empty() => None,
        None => Some(parent),
    };
    ApiError::invalid(param, message)
}

/// A missing field is named in serde's message, not in the path (an
/// unknown field is in the path already).
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// serde's message in the API's words: without serde_json's " at line L
/// column C" (the param says where) and with JSON's names for types
/// instead of Rust's (`i32`, `struct X`, `sequence`, `map`).
fn strip_position(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    api_words(message)
}

fn api_words(message: &str) -> String {
    const WORDS: [(&str, &str); 12] = [
        (
            "expected i32",
            "expected an integer from -2147483648 to 2147483647",
        ),
        ("expected i64", "expected an integer"),
        ("expected u32", "expected an integer from 0 to 4294967295"),
        ("expected u64", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected an object"),
        ("expected a borrowed string", "expected a string"),
        ("invalid type: sequence", "invalid type: array"),
        ("invalid type: map", "invalid type: object"),
        ("invalid type: unit value", "invalid type: null"),
        ("unknown field", "unknown field"),
    ];
    let mut out = message.to_string();
    for (rust, json) in WORDS {
        out = out.replace(rust, json);
    }
    // "expected struct FooBody" / "expected a boolean"... name the JSON shape.
    if let Some(i) = out.find("expected struct ") {
        out.replace_range(i.., "expected an object");
    }
    // serde lists the known fields of an unknown one ("expected one of `a`,
    // `b`"): keep the list, it is in the API's names already.
    out
}

/// For optional fields that may not be `null`: absent is `None`, a value is
/// `Some`, and `null` is refused (serde's `Option` would read it as absent,
/// silently ignoring what the client sent).
pub fn present<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(de).map(Some)
}

/// For optional fields where `null` and absent differ (updates): absent is
/// `None`, `null` is `Some(None)`.
pub fn nullable<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// An integer field as JSON Schema's `integer`, which the OpenAPI document
/// promises: a JSON integer, or a number without a fractional part
/// (`100.0`, as a client computing in floating point sends it).
pub struct Whole<T>(pub T);

/// The integer `number` stands for, if it has no fractional part.
pub fn whole_number(number: &serde_json::Number) -> Option<i64> {
    number.as_i64().or_else(|| {
        let f = number.as_f64()?;
        // Below 2^63 in magnitude, an integral double converts exactly.
        (f.fract() == 0.0 && f.abs() < 2f64.powi(63)).then_some(f as i64)
    })
}

/// What an integer beyond its field's type is told: the field's own
/// range (its `minimum` and `maximum` in the OpenAPI document; inside the
/// type, the service names it) rather than the type's.
struct WithinTheFieldsRange;

impl serde::de::Expected for WithinTheFieldsRange {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer within the field's range")
    }
}

macro_rules! whole {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for Whole<$t> {
            fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                use serde::de::{Error, Unexpected, Visitor};
                struct Expect;
                impl<'de> Visitor<'de> for Expect {
                    type Value = Whole<$t>;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an integer")
                    }
                    fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
                        <$t>::try_from(v).map(Whole).map_err(|_| {
                            E::invalid_value(Unexpected::Signed(v), &WithinTheFieldsRange)
                        })
                    }
                    fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
                        <$t>::try_from(v).map(Whole).map_err(|_| {
                            E::invalid_value(Unexpected::Unsigned(v), &WithinTheFieldsRange)
                        })
                    }
                    fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
                        let number = serde_json::Number::from_f64(v);
                        match number.as_ref().and_then(whole_number) {
                            Some(i) => self.visit_i64(i),
                            // Whole, but past an i64.
                            None if v.fract() == 0.0 => Err(E::invalid_value(
                                Unexpected::Float(v),
                                &WithinTheFieldsRange,
                            )),
                            None => Err(E::invalid_value(Unexpected::Float(v), &self)),
                        }
                    }
                }
                de.deserialize_any(Expect)
            }
        }
    };
}

whole!(i32);
whole!(i64);

/// [`present`] for an integer field ([`Whole`]).
pub fn present_whole<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    Whole<T>: Deserialize<'de>,
{
    Whole::<T>::deserialize(de).map(|w| Some(w.0))
}

/// [`nullable`] for an integer field ([`Whole`]).
pub fn nullable_whole<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    Whole<T>: Deserialize<'de>,
{
    Option::<Whole<T>>::deserialize(de).map(|o| Some(o.map(|w| w.0)))
}

/// An integer field where `null` and absent both mean none ([`Whole`]).
pub fn optional_whole<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    Whole<T>: Deserialize<'de>,
{
    Option::<Whole<T>>::deserialize(de).map(|o| o.map(|w| w.0))
}

/// Deserializes a JSON value found at `prefix` of the body (for nested
/// objects parsed in a second step), naming fields by their full path.
pub fn from_value_at<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = strip_position(&err.inner().to_string());
        let named = missing_field(&message);
        let mut param = prefix.to_string();
        if path != "." {
            param = format!("{param}.{path}");
        }
        if let Some(field) = named {
            param = format!("{param}.{field}");
        }
        ApiError::invalid(Some(param), message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: i32,
    }

    fn parse(body: &str) -> Result<Option<Outer>, ApiError> {
        optional::<Outer>(&HeaderMap::new(), &Bytes::from(body.to_string()))
    }

    fn param(body: &str) -> Option<String> {
        let err = parse(body).unwrap_err();
        err.param().map(|p| format!("Some({p:?})"))
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(param(r#"{"name": 5}"#).as_deref(), Some("Some(\"name\")"));
        assert_eq!(
            param(r#"{"name": "a", "inner": {"n": "x"}}"#).as_deref(),
            Some("Some(\"inner.n\")")
        );
        assert_eq!(
            param(r#"{"inner": null}"#).as_deref(),
            Some("Some(\"name\")")
        );
        assert_eq!(
            param(r#"{"name": "a", "bogus": 1}"#).as_deref(),
            Some("Some(\"bogus\")")
        );
        assert_eq!(
            param(r#"{"name": "a", "inner": {"n": 1, "m": 2}}"#).as_deref(),
            Some("Some(\"inner.m\")")
        );
        assert_eq!(param(r#"{"name": "a""#), None);
        assert_eq!(param(r#"{"name": "a"} x"#), None);
        assert!(parse("  ").unwrap().is_none());
    }

    #[derive(Debug, Deserialize)]
    struct Limits {
        #[serde(default, deserialize_with = "present_whole")]
        small: Option<i32>,
        #[serde(default, deserialize_with = "nullable_whole")]
        large: Option<Option<i64>>,
    }

    fn limits(body: &str) -> Result<(Option<i32>, Option<Option<i64>>), String> {
        optional::<Limits>(&HeaderMap::new(), &Bytes::from(body.to_string()))
            .map(|l| l.map(|l| (l.small, l.large)).unwrap())
            .map_err(|e| format!("{}: {}", e.param().unwrap_or("-"), e.message()))
    }

    #[test]
    fn integers_are_json_schema_integers() {
        assert_eq!(limits(r#"{"small": 100}"#), Ok((Some(100), None)));
        assert_eq!(limits(r#"{"small": 100.0}"#), Ok((Some(100), None)));
        assert_eq!(limits(r#"{"small": -2e0}"#), Ok((Some(-2), None)));
        assert_eq!(
            limits(r#"{"large": 1e15}"#),
            Ok((None, Some(Some(1_000_000_000_000_000))))
        );
        assert_eq!(limits(r#"{"large": null}"#), Ok((None, Some(None))));
        let in_range = "an integer within the field's range";
        assert_eq!(
            limits(r#"{"small": 1.5}"#),
            Err("small: invalid value: floating point `1.5`, expected an integer".to_string())
        );
        assert_eq!(
            limits(r#"{"small": 3e9}"#),
            Err(format!(
                "small: invalid value: integer `3000000000`, expected {in_range}"
            ))
        );
        assert_eq!(
            limits(r#"{"small": 3000000000}"#),
            Err(format!(
                "small: invalid value: integer `3000000000`, expected {in_range}"
            ))
        );
        assert_eq!(
            limits(r#"{"small": "5"}"#),
            Err("small: invalid type: string \"5\", expected an integer".to_string())
        );
        assert_eq!(
            limits(r#"{"small": null}"#),
            Err("small: invalid type: null, expected an integer".to_string())
        );
        assert_eq!(
            limits(r#"{"large": 1e300}"#),
            Err(format!(
                "large: invalid value: floating point `1e+300`, expected {in_range}"
            ))
        );
        assert_eq!(
            limits(r#"{"large": 2.5}"#),
            Err("large: invalid value: floating point `2.5`, expected an integer".to_string())
        );
    }
}
