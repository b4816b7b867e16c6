//! Cron schedules: 5-field expressions evaluated in an IANA time zone.
//!
//! Built on `croner` (with `chrono-tz` for the zone database). Why croner:
//! - it parses the whole classic syntax — ranges, steps, lists, `MON`/`JAN`
//!   names, `@daily` nicknames — with day-of-month/day-of-week OR-ed as in
//!   Vixie cron, and its parser can forbid the seconds and year fields, so
//!   "5-field" is enforced by configuration, not by string hacks;
//! - it searches occurrences on zoned `chrono` times and gets daylight
//!   saving right the way cron users expect (see the tests below): a time in
//!   a spring-forward gap fires once at the first valid instant, a fixed
//!   time in a fall-back overlap fires once, and a wildcard hour fires every
//!   real hour (25 times on a fall-back night);
//! - `cron` (zslayton) wants 6–7 fields with seconds and leaves the zone
//!   rules to the caller's `TimeZone`, and the `jiff`-based crates would
//!   bring a second date-time library next to the `chrono` that the rest of
//!   the stack (sea-orm, croner) already uses.

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

    /// The last fire time at or before `at_nanos`.
    pub fn latest_at_or_before(&self, at_nanos: i64) -> Option<i64> {
        let at = self
            .zone
            .from_utc_datetime(&DateTime::<Utc>::from_timestamp_nanos(at_nanos).naive_utc());
        self.cron
            .find_previous_occurrence(&at, true)
            .ok()
            .and_then(|t| t.with_timezone(&Utc).timestamp_nanos_opt())
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

#[cfg(test)]
mod dst_tests {
    use super::*;

    fn at(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    /// Fire times in `[from, to)`.
    fn fires(expr: &str, zone: &str, from: &str, to: &str) -> Vec<i64> {
        let s = CronSchedule::parse(expr, zone).unwrap();
        let (from, to) = (at(from), at(to));
        s.upcoming(from - 1, 100)
            .into_iter()
            .filter(|t| *t < to)
            .collect()
    }

    #[test]
    fn spring_forward_gap_fires_once_at_the_first_valid_instant() {
        // 2026-03-08 in New York: 02:00 EST jumps to 03:00 EDT; 02:30 never happens.
        let day = fires(
            "30 2 * * *",
            "America/New_York",
            "2026-03-08T05:00:00Z",
            "2026-03-09T04:00:00Z",
        );
        assert_eq!(day, vec![at("2026-03-08T07:00:00Z")], "03:00 EDT");
    }

    #[test]
    fn fall_back_overlap_fires_a_fixed_time_once() {
        // 2026-11-01 in New York: 02:00 EDT falls back to 01:00 EST.
        let day = fires(
            "30 2 * * *",
            "America/New_York",
            "2026-11-01T04:00:00Z",
            "2026-11-02T05:00:00Z",
        );
        assert_eq!(day, vec![at("2026-11-01T07:30:00Z")]);
        let day = fires(
            "30 1 * * *",
            "America/New_York",
            "2026-11-01T04:00:00Z",
            "2026-11-02T05:00:00Z",
        );
        assert_eq!(
            day,
            vec![at("2026-11-01T05:30:00Z")],
            "the first 01:30 only"
        );
    }

    #[test]
    fn an_hourly_schedule_fires_every_real_hour_over_a_fall_back_night() {
        // 2026-10-25 in Berlin: 03:00 CEST falls back to 02:00 CET; 25 hours pass.
        let night = fires(
            "0 * * * *",
            "Europe/Berlin",
            "2026-10-24T22:00:00Z",
            "2026-10-25T23:00:00Z",
        );
        assert_eq!(night.len(), 25);
        assert!(night.windows(2).all(|w| w[1] - w[0] == 3_600_000_000_000));
    }

    #[test]
    fn a_zone_without_dst_matches_the_documented_example() {
        // docs/API.md: "0 9 * * *" in Asia/Shanghai; 09:00 CST is 01:00 UTC, all year.
        for (from, first) in [
            ("2026-01-10T00:00:00Z", "2026-01-10T01:00:00Z"),
            ("2026-07-10T02:00:00Z", "2026-07-11T01:00:00Z"),
        ] {
            let s = CronSchedule::parse("0 9 * * *", "Asia/Shanghai").unwrap();
            let next = s.upcoming(at(from), 5);
            assert_eq!(next[0], at(first));
            assert!(next.windows(2).all(|w| w[1] - w[0] == 86_400_000_000_000));
        }
    }
}
