//! Retention as the API shows it: an organization's policy, and the rules
//! a deployment may set for itself (`metadata.cas_config.retention`).

use runway_api::v1;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{RetentionPolicyTag, ts};

/// How long runs are kept; `null` in a field: no such limit.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[schema(as = RetentionRules)]
pub struct RetentionRulesJson {
    /// Completed and skipped runs are deleted this many days after they
    /// were triggered.
    #[schema(required = true, minimum = 1, maximum = 36500)]
    pub keep_days: Option<i32>,
    /// Failed runs are deleted this many days after they were triggered
    /// (at least `keep_days`, and only with `keep_days` set: failed runs are
    /// kept at least as long as the others).
    #[schema(required = true, minimum = 1, maximum = 36500)]
    pub keep_failed_days: Option<i32>,
    /// Only each deployment's newest this many runs are kept.
    #[schema(required = true, minimum = 1, maximum = 100000000)]
    pub max_runs: Option<i64>,
}

/// The organization's retention policy: the rules of each deployment
/// without its own.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = RetentionPolicy)]
pub struct RetentionPolicyJson {
    #[serde(flatten)]
    pub rules: RetentionRulesJson,
    #[serde(rename = "type")]
    pub kind: RetentionPolicyTag,
    /// When the policy last changed; `null` while it never has.
    #[schema(required = true, format = DateTime)]
    pub updated_at: Option<String>,
}

pub fn retention_rules(r: &v1::RetentionRules) -> RetentionRulesJson {
    RetentionRulesJson {
        keep_days: r.keep_days,
        keep_failed_days: r.keep_failed_days,
        max_runs: r.max_runs,
    }
}

pub fn retention_policy(p: &v1::RetentionPolicy) -> RetentionPolicyJson {
    RetentionPolicyJson {
        rules: retention_rules(&p.rules.unwrap_or_default()),
        kind: RetentionPolicyTag,
        updated_at: ts(p.updated_at.as_ref()),
    }
}
