//! Cron schedules: 5-field expressions evaluated in an IANA time zone.
//!
//! Built on `croner`: it parses the whole classic syntax (ranges, steps,
//! lists, `MON`/`JAN` names, `@daily`-style nicknames) and searches
//! occurrences on zoned `chrono` times, so daylight-saving gaps and overlaps
//! are handled by the time-zone database rather than by our arithmetic.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::error::{ServiceError, ServiceResult};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    zone: Tz,
}

/// How many fire times `upcoming_runs_at` shows.
pub const UPCOMING: usize = 5;

impl CronSchedule {
    /// Parses `expression` in `timezone`; a field error names
    /// `schedule.expression` or `schedule.timezone`.
    pub fn parse(expression: &str, timezone: &str) -> ServiceResult<CronSchedule> {
        if expression.split_whitespace().count() != 5 && !expression.trim_start().starts_with('@') {
            return Err(ServiceError::invalid(
                "schedule.expression",
                format!(
                    "{expression:?} is not a 5-field cron expression (minute hour day-of-month month day-of-week)"
                ),
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| {
                ServiceError::invalid(
                    "schedule.expression",
                    format!("{expression:?} is not a valid cron expression: {e}"),
                )
            })?;
        let zone = Tz::from_str(timezone).map_err(|_| {
            ServiceError::invalid(
                "schedule.timezone",
                format!("{timezone:?} is not an IANA time zone (e.g. Asia/Shanghai)"),
            )
        })?;
        Ok(CronSchedule { cron, zone })
    }

    /// The first `n` fire times strictly after `after_nanos`, as Unix nanoseconds.
    pub fn upcoming(&self, after_nanos: i64, n: usize) -> Vec<i64> {
        let start = self
            .zone
            .from_utc_datetime(&DateTime::<Utc>::from_timestamp_nanos(after_nanos).naive_utc());
        self.cron
            .iter_after(start)
            .take(n)
            .filter_map(|t| t.with_timezone(&Utc).timestamp_nanos_opt())
            .collect()
    }

    /// The first fire time strictly after `after_nanos`.
    pub fn next_after(&self, after_nanos: i64) -> Option<i64> {
        self.upcoming(after_nanos, 1).into_iter().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    #[test]
    fn shanghai_nine_am_is_one_am_utc() {
        let s = CronSchedule::parse("0 9 * * *", "Asia/Shanghai").unwrap();
        let next = s.upcoming(at("2026-06-14T08:58:17Z"), 2);
        assert_eq!(
            next,
            vec![at("2026-06-15T01:00:00Z"), at("2026-06-16T01:00:00Z")]
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        for (expr, tz, param) in [
            ("0 9 * *", "UTC", "schedule.expression"),
            ("0 25 * * *", "UTC", "schedule.expression"),
            ("0 9 * * * *", "UTC", "schedule.expression"),
            ("0 9 * * *", "Mars/Olympus", "schedule.timezone"),
        ] {
            match CronSchedule::parse(expr, tz) {
                Err(ServiceError::InvalidArgument { param: Some(p), .. }) => {
                    assert_eq!(p, param, "{expr} {tz}")
                }
                other => panic!("{expr} {tz}: {other:?}"),
            }
        }
        assert!(CronSchedule::parse("*/15 9-17 * JAN-MAR MON-FRI", "Europe/Berlin").is_ok());
    }
}
