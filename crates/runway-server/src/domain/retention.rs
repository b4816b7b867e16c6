//! Retention rules: which values are allowed, and where a deployment's
//! rules put its cutoffs at an instant. A run goes when any rule says so:
//! completed and skipped runs `keep_days` after they were triggered,
//! failed ones `keep_failed_days` after (failures are kept at least as
//! long), and every terminal run older than the deployment's newest
//! `max_runs`. Active runs and retry chains still going are kept whatever
//! the rules (the store's candidates are terminal; the pruner drops the
//! chains).

use runway_store::entity::organization::RetentionRules;
use runway_store::repo::retention::RunCutoffs;
use runway_store::time::DAY_NANOS;

use crate::error::{ServiceError, ServiceResult};

/// The longest a day limit may be (100 years).
pub const MAX_DAYS: i32 = 36_500;
/// The most runs a deployment may be set to keep.
pub const MAX_RUNS: i64 = 100_000_000;

/// Idempotency keys are documented to live 24 h: the pruner deletes them
/// after that, whatever the policy.
pub const IDEMPOTENCY_KEY_LIFETIME: i64 = DAY_NANOS;

/// Checks `rules`; field errors name `prefix` + the field (`keep_days`,
/// `retention.keep_days`, …).
pub fn check(prefix: &str, rules: RetentionRules) -> ServiceResult<RetentionRules> {
    let field = |name: &str| format!("{prefix}{name}");
    for (name, days) in [
        ("keep_days", rules.keep_days),
        ("keep_failed_days", rules.keep_failed_days),
    ] {
        if let Some(days) = days
            && !(1..=MAX_DAYS).contains(&days)
        {
            return Err(ServiceError::invalid(
                field(name),
                format!("{name} must be 1 to {MAX_DAYS} days, or null for no limit"),
            ));
        }
    }
    if let Some(runs) = rules.max_runs
        && !(1..=MAX_RUNS).contains(&runs)
    {
        return Err(ServiceError::invalid(
            field("max_runs"),
            format!("max_runs must be 1 to {MAX_RUNS}, or null for no limit"),
        ));
    }
    match (rules.keep_days, rules.keep_failed_days) {
        (Some(keep), Some(failed)) if failed < keep => {
            return Err(ServiceError::invalid(
                field("keep_failed_days"),
                "keep_failed_days must be at least keep_days (null keeps failed runs without \
                 limit): failed runs are kept at least as long as the others",
            ));
        }
        (None, Some(_)) => {
            return Err(ServiceError::invalid(
                field("keep_days"),
                "keep_days null (no limit) would keep the other runs longer than the failed ones: \
                 failed runs are kept at least as long as the others (set keep_failed_days null too)",
            ));
        }
        _ => {}
    }
    Ok(rules)
}

/// The rules a deployment's runs follow: its own, or else its
/// organization's.
pub fn effective(own: Option<RetentionRules>, organization: RetentionRules) -> RetentionRules {
    own.unwrap_or(organization)
}

/// The time cutoffs of `rules` at `now` (the `max_runs` one needs the
/// deployment's runs: the pruner reads it).
pub fn cutoffs(rules: RetentionRules, now: i64) -> RunCutoffs {
    let before = |days: Option<i32>| days.map(|d| now.saturating_sub(i64::from(d) * DAY_NANOS));
    RunCutoffs {
        keep_before: before(rules.keep_days),
        failed_before: before(rules.keep_failed_days),
        newest_kept: None,
    }
}

/// Whether the `max_runs` rule may delete anything from a deployment that
/// recorded `total_runs` runs ever (it has at most that many now).
pub fn may_exceed_max_runs(rules: RetentionRules, total_runs: i64) -> Option<i64> {
    rules.max_runs.filter(|&max| total_runs > max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(keep: Option<i32>, failed: Option<i32>, max: Option<i64>) -> RetentionRules {
        RetentionRules {
            keep_days: keep,
            keep_failed_days: failed,
            max_runs: max,
        }
    }

    fn param(result: ServiceResult<RetentionRules>) -> String {
        match result {
            Err(ServiceError::InvalidArgument {
                param: Some(field), ..
            }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn allowed_rules() {
        for ok in [
            rules(None, None, None),
            rules(Some(30), None, None),
            rules(Some(30), Some(30), None),
            rules(Some(1), Some(MAX_DAYS), Some(1)),
            rules(None, None, Some(MAX_RUNS)),
        ] {
            assert_eq!(check("", ok).unwrap(), ok);
        }
    }

    #[test]
    fn refused_rules_name_their_field() {
        let cases = [
            (rules(Some(0), None, None), "keep_days"),
            (rules(Some(MAX_DAYS + 1), None, None), "keep_days"),
            (rules(Some(10), Some(0), None), "keep_failed_days"),
            (rules(Some(10), Some(9), None), "keep_failed_days"),
            (rules(None, Some(90), None), "keep_days"),
            (rules(None, None, Some(0)), "max_runs"),
            (rules(None, None, Some(MAX_RUNS + 1)), "max_runs"),
        ];
        for (bad, field) in cases {
            assert_eq!(param(check("", bad)), field, "{bad:?}");
            assert_eq!(
                param(check("retention.", bad)),
                format!("retention.{field}")
            );
        }
    }

    #[test]
    fn a_deployment_s_own_rules_replace_its_organization_s() {
        let org = rules(Some(30), Some(90), None);
        assert_eq!(effective(None, org), org);
        let own = rules(None, None, Some(100));
        assert_eq!(effective(Some(own), org), own);
        // Its own "keep everything" keeps everything.
        assert!(effective(Some(RetentionRules::default()), org).keeps_everything());
    }

    #[test]
    fn cutoffs_are_days_before_now() {
        let now = 1_000 * DAY_NANOS;
        let c = cutoffs(rules(Some(30), Some(90), Some(5)), now);
        assert_eq!(c.keep_before, Some(970 * DAY_NANOS));
        assert_eq!(c.failed_before, Some(910 * DAY_NANOS));
        assert_eq!(c.newest_kept, None);
        assert_eq!(
            cutoffs(RetentionRules::default(), now),
            RunCutoffs::default()
        );
    }

    #[test]
    fn max_runs_matters_only_past_the_count() {
        let r = rules(None, None, Some(100));
        assert_eq!(may_exceed_max_runs(r, 100), None);
        assert_eq!(may_exceed_max_runs(r, 101), Some(100));
        assert_eq!(may_exceed_max_runs(RetentionRules::default(), 10_000), None);
    }
}
