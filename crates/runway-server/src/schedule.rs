//! Cron schedules: 5-field expressions evaluated in an IANA time zone.
//!
//! Built on `croner` (with `chrono-tz` for the zone database). Why croner:
//! - it parses the whole classic syntax — ranges, steps, lists, `MON`/`JAN`
//!   names, `@daily` nicknames — with day-of-month/day-of-week OR-ed as in
//!   Vixie cron, and its parser can forbid the seconds and year fields, so
//!   "5-field" is enforced by configuration, not by string hacks;
//! - it searches occurrences on zoned `chrono` times, so a schedule that
//!   names every hour fires every real hour (25 times on a fall-back night,
//!   23 on a spring-forward one).
//!
//! A schedule that names some hours only names wall-clock times, and each of
//! them fires once (see the tests below): a time that a spring-forward gap
//! skips fires at the first valid instant after it (several such times, once),
//! a time that a fall-back hour repeats fires at its first occurrence. croner
//! does that only for a single minute of a single hour; with a list, a range
//! or a step it skipped the gap's times and fired the repeated ones twice, so
//! such schedules are evaluated here on the wall clock and each time mapped
//! to its instant.
//!
//! Why croner, still:
//! - `cron` (zslayton) wants 6–7 fields with seconds and leaves the zone
//!   rules to the caller's `TimeZone`, and the `jiff`-based crates would
//!   bring a second date-time library next to the `chrono` that the rest of
//!   the stack (sea-orm, croner) already uses.

use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::error::{ServiceError, ServiceResult};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    zone: Tz,
    /// It names some hours, not every one: its times are wall-clock times,
    /// each fired once (see the module's doc).
    wall_clock: bool,
}

/// The longest a time zone's clock jumps forward or back (two hours, as
/// some zones did in wartime; one today), with room to spare.
const LONGEST_JUMP: TimeDelta = TimeDelta::hours(3);

/// Wall-clock times a search may pass over in a row: those a repeated hour
/// or a gap maps to instants already passed or found, at most one a minute
/// over the longest jump (and its own time's minute).
const PASSED_OVER: usize = 3 * 60 + 1;

/// A wall-clock time as a UTC value, so that croner searches it without
/// any zone's transitions.
fn wall(local: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&local)
}

fn nanos(instant: DateTime<Utc>) -> Option<i64> {
    instant.timestamp_nanos_opt()
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
        let wall_clock = cron.pattern.hours.values().len() < 24;
        Ok(CronSchedule {
            cron,
            zone,
            wall_clock,
        })
    }

    /// [`CronSchedule::parse`] for a schedule being set: also refused when
    /// no date ever matches all of its fields (February 30th, April 31st).
    /// Only for new input: a schedule stored by an earlier version that
    /// never fires must still be read (it shows no fire times).
    pub fn parse_new(expression: &str, timezone: &str) -> ServiceResult<CronSchedule> {
        let schedule = Self::parse(expression, timezone)?;
        if schedule.next_after(0).is_none() {
            return Err(ServiceError::invalid(
                "schedule.expression",
                format!("{expression:?} never fires: no date matches all of its fields"),
            ));
        }
        Ok(schedule)
    }

    /// The instant the wall-clock time `local` fires at: itself; the first
    /// of its two occurrences in a fall-back hour; the first valid instant
    /// after a spring-forward gap (gaps end on a whole minute). Later
    /// wall-clock times never fire earlier.
    fn fire_instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let mut time = local;
        for _ in 0..=LONGEST_JUMP.num_minutes() {
            match self.zone.from_local_datetime(&time) {
                LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                    return Some(at.with_timezone(&Utc));
                }
                LocalResult::None => time += TimeDelta::minutes(1),
            }
        }
        None
    }

    /// The first `n` fire times strictly after `after_nanos`, as Unix nanoseconds.
    pub fn upcoming(&self, after_nanos: i64, n: usize) -> Vec<i64> {
        let after = DateTime::<Utc>::from_timestamp_nanos(after_nanos);
        if !self.wall_clock {
            return self
                .cron
                .iter_after(after.with_timezone(&self.zone))
                .take(n)
                .filter_map(|t| nanos(t.with_timezone(&Utc)))
                .collect();
        }
        // A wall-clock time before `after`'s own never fires after it; one
        // after it may have fired already (in a repeated hour) or fire with
        // others at a gap's end: each instant once, strictly after `after`.
        let local = after.with_timezone(&self.zone).naive_local();
        let mut fires = Vec::with_capacity(n);
        let mut last = after;
        let mut passed = 0;
        for time in self.cron.iter_after(wall(local)) {
            if fires.len() == n || passed > PASSED_OVER {
                break;
            }
            match self.fire_instant(time.naive_utc()) {
                Some(instant) if instant > last => {
                    fires.extend(nanos(instant));
                    last = instant;
                    passed = 0;
                }
                _ => passed += 1,
            }
        }
        fires
    }

    /// The first fire time strictly after `after_nanos`.
    pub fn next_after(&self, after_nanos: i64) -> Option<i64> {
        self.upcoming(after_nanos, 1).into_iter().next()
    }

    /// The last fire time at or before `at_nanos`.
    pub fn latest_at_or_before(&self, at_nanos: i64) -> Option<i64> {
        let at = DateTime::<Utc>::from_timestamp_nanos(at_nanos);
        if !self.wall_clock {
            return self
                .cron
                .find_previous_occurrence(&at.with_timezone(&self.zone), true)
                .ok()
                .and_then(|t| nanos(t.with_timezone(&Utc)));
        }
        // In the second pass of a repeated hour, wall-clock times up to a
        // jump after `at`'s own fired before it (at their first occurrence):
        // search back from past them.
        let local = at.with_timezone(&self.zone).naive_local();
        let mut cursor = wall(local + LONGEST_JUMP);
        for _ in 0..=PASSED_OVER {
            let time = self.cron.find_previous_occurrence(&cursor, false).ok()?;
            if let Some(instant) = self.fire_instant(time.naive_utc())
                && instant <= at
            {
                return nanos(instant);
            }
            cursor = time;
        }
        None
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
            ("0 0 30 2 *", "UTC", "schedule.expression"),
            ("0 0 31 4 *", "Europe/Berlin", "schedule.expression"),
        ] {
            match CronSchedule::parse_new(expr, tz) {
                Err(ServiceError::InvalidArgument { param: Some(p), .. }) => {
                    assert_eq!(p, param, "{expr} {tz}")
                }
                other => panic!("{expr} {tz}: {other:?}"),
            }
        }
        assert!(CronSchedule::parse("*/15 9-17 * JAN-MAR MON-FRI", "Europe/Berlin").is_ok());
        // Once every four years is not never.
        assert!(CronSchedule::parse_new("0 0 29 2 *", "UTC").is_ok());
        // One that never fires, stored before it was refused, still reads:
        // no fire times.
        let never = CronSchedule::parse("0 0 30 2 *", "UTC").unwrap();
        assert_eq!(never.upcoming(0, 5), Vec::<i64>::new());
        assert_eq!(never.latest_at_or_before(i64::MAX / 2), None);
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
    fn lists_ranges_and_steps_of_hours_fire_each_wall_clock_time_once() {
        const NY: &str = "America/New_York";
        // 2026-03-08, New York, spring forward (02:00 EST → 03:00 EDT).
        let (gap_day, gap_next) = ("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z");
        for expr in ["0,30 2 * * *", "*/15 2 * * *", "0-59/20 2 * * *"] {
            assert_eq!(
                fires(expr, NY, gap_day, gap_next),
                vec![at("2026-03-08T07:00:00Z")],
                "{expr}: the gap's times, once at 03:00 EDT"
            );
        }
        assert_eq!(
            fires("0,30 2 * * *", NY, gap_next, "2026-03-10T04:00:00Z"),
            vec![at("2026-03-09T06:00:00Z"), at("2026-03-09T06:30:00Z")],
            "the day after, both"
        );
        assert_eq!(
            fires("30 2,5 * * *", NY, gap_day, gap_next),
            vec![at("2026-03-08T07:00:00Z"), at("2026-03-08T09:30:00Z")]
        );
        // 2026-11-01, New York, fall back (02:00 EDT → 01:00 EST).
        let (day, next) = ("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z");
        assert_eq!(
            fires("30 1,5 * * *", NY, day, next),
            vec![at("2026-11-01T05:30:00Z"), at("2026-11-01T10:30:00Z")],
            "01:30 at its first occurrence only"
        );
        assert_eq!(
            fires("0 1-3 * * *", NY, day, next),
            vec![
                at("2026-11-01T05:00:00Z"),
                at("2026-11-01T07:00:00Z"),
                at("2026-11-01T08:00:00Z")
            ]
        );
        assert_eq!(
            fires("*/20 1 * * *", NY, day, next),
            vec![
                at("2026-11-01T05:00:00Z"),
                at("2026-11-01T05:20:00Z"),
                at("2026-11-01T05:40:00Z")
            ]
        );
    }

    /// The latest fire at or before any instant, and the next after it,
    /// agree with the fire times listed from before: over both transitions,
    /// for schedules on the wall clock and on real time.
    #[test]
    fn the_latest_and_the_next_fire_agree_with_the_list() {
        for (zone, from, to) in [
            (
                "America/New_York",
                "2026-03-07T20:00:00Z",
                "2026-03-08T14:00:00Z",
            ),
            (
                "America/New_York",
                "2026-10-31T20:00:00Z",
                "2026-11-01T14:00:00Z",
            ),
            (
                "Australia/Lord_Howe",
                "2026-04-04T10:00:00Z",
                "2026-04-05T04:00:00Z",
            ),
            (
                "Australia/Lord_Howe",
                "2026-10-03T10:00:00Z",
                "2026-10-04T04:00:00Z",
            ),
        ] {
            for expr in [
                "30 2 * * *",
                "0,30 1,2 * * *",
                "*/10 1-3 * * *",
                "15 * * * *",
                "*/7 * * * *",
            ] {
                let s = CronSchedule::parse(expr, zone).unwrap();
                let (from, to) = (at(from), at(to));
                let list: Vec<i64> = s
                    .upcoming(from, 1_000)
                    .into_iter()
                    .filter(|t| *t < to)
                    .collect();
                assert!(list.windows(2).all(|w| w[0] < w[1]), "{expr} {zone}");
                let mut t = from + 1;
                while t < to {
                    let latest = list.iter().rev().find(|f| **f <= t).copied();
                    if latest.is_some() {
                        assert_eq!(s.latest_at_or_before(t), latest, "{expr} {zone} at {t}");
                    }
                    let next = list.iter().find(|f| **f > t).copied();
                    if next.is_some() {
                        assert_eq!(s.next_after(t), next, "{expr} {zone} after {t}");
                    }
                    t += 7 * 60_000_000_000 + 13_000_000_000;
                }
            }
        }
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
