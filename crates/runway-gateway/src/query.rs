//! Query strings: known parameters only, each at most once, typed.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::DateTime;
use prost_types::Timestamp;
use runway_api::enums::{UnknownName, one_of};
use runway_api::v1::PageRequest;

use crate::error::ApiError;

/// Paging parameters every list takes.
pub const PAGING: [&str; 4] = ["limit", "page", "after_id", "before_id"];

pub struct Query {
    pairs: BTreeMap<String, String>,
    /// Parameters named `name[]`, which may repeat (`types[]=a&types[]=b`).
    lists: BTreeMap<String, Vec<String>>,
}

impl Query {
    /// Parses `raw`, refusing parameters outside `PAGING` and `allowed` (a
    /// typo like `stauts=` must not silently widen a list) and repeats.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Query, ApiError> {
        Self::parse_with(raw, |key| PAGING.contains(&key) || allowed.contains(&key))
    }

    /// Like [`Query::parse`], for a list that pages otherwise: only `allowed`.
    pub fn parse_only(raw: Option<&str>, allowed: &[&str]) -> Result<Query, ApiError> {
        Self::parse_with(raw, |key| allowed.contains(&key))
    }

    fn parse_with(raw: Option<&str>, known: impl Fn(&str) -> bool) -> Result<Query, ApiError> {
        let list: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
            .map_err(|e| ApiError::invalid(None, format!("Malformed query string: {e}")))?;
        let mut pairs = BTreeMap::new();
        let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, value) in list {
            if !known(key.as_str()) {
                return Err(ApiError::invalid(
                    Some(key.clone()),
                    format!("Unknown query parameter {key:?}."),
                ));
            }
            if value.is_empty() {
                return Err(ApiError::invalid(
                    Some(key.clone()),
                    format!("Query parameter {key:?} is empty."),
                ));
            }
            if key.ends_with("[]") {
                lists.entry(key).or_default().push(value);
                continue;
            }
            if pairs.insert(key.clone(), value).is_some() {
                return Err(ApiError::invalid(
                    Some(key.clone()),
                    format!("Query parameter {key:?} is repeated."),
                ));
            }
        }
        Ok(Query { pairs, lists })
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.pairs.get(name).cloned()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.pairs
            .get(name)
            .map(|v| match v.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid(
                    Some(name.into()),
                    format!("{name} must be true or false."),
                )),
            })
            .transpose()
    }

    pub fn timestamp(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        self.pairs.get(name).map(|v| rfc3339(name, v)).transpose()
    }

    /// A parameter of a closed set (`status=failed`), by the names the
    /// set's one type defines.
    pub fn member<T: FromStr<Err = UnknownName>>(
        &self,
        param: &str,
    ) -> Result<Option<T>, ApiError> {
        self.pairs
            .get(param)
            .map(|v| {
                v.parse::<T>().map_err(|err| {
                    ApiError::invalid(
                        Some(param.into()),
                        format!("{param} must be {}.", one_of(err.expected)),
                    )
                })
            })
            .transpose()
    }

    /// Every value of a repeatable `name[]` parameter, as members of a
    /// closed set.
    pub fn members<T: FromStr<Err = UnknownName>>(&self, param: &str) -> Result<Vec<T>, ApiError> {
        self.lists
            .get(param)
            .into_iter()
            .flatten()
            .map(|v| {
                v.parse::<T>().map_err(|err| {
                    ApiError::invalid(
                        Some(param.into()),
                        format!("{param} must be {}.", one_of(err.expected)),
                    )
                })
            })
            .collect()
    }

    /// An integer parameter.
    pub fn integer(&self, name: &str) -> Result<Option<i32>, ApiError> {
        self.pairs
            .get(name)
            .map(|v| {
                v.parse::<i32>().map_err(|_| {
                    ApiError::invalid(Some(name.into()), format!("{name} must be an integer."))
                })
            })
            .transpose()
    }

    /// `limit`, `page`, `after_id`, `before_id` (range and exclusivity are
    /// checked by the service).
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = self
            .pairs
            .get("limit")
            .map(|v| {
                v.parse::<i32>().map_err(|_| {
                    ApiError::invalid(
                        Some("limit".into()),
                        "limit must be an integer from 1 to 1000.",
                    )
                })
            })
            .transpose()?;
        Ok(PageRequest {
            limit,
            page: self.string("page"),
            after_id: self.string("after_id"),
            before_id: self.string("before_id"),
        })
    }
}

/// `value` of parameter or field `name` as a timestamp: RFC 3339, or a 400
/// naming it.
pub fn rfc3339(name: &str, value: &str) -> Result<Timestamp, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| Timestamp {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        })
        .map_err(|_| {
            ApiError::invalid(
                Some(name.into()),
                format!("{name} must be an RFC 3339 timestamp."),
            )
        })
}
