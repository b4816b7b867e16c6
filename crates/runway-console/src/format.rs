//! How values read on a page: times (UTC in the markup, the viewer's zone
//! once the script runs, a deployment's own zone where it matters),
//! durations, statuses, schedules in plain words.

use chrono::{DateTime, TimeZone, Utc};
use maud::{Markup, html};
use prost_types::Timestamp;
use runway_api::enums::{RunStatus, TriggerType};

/// A timestamp as UTC.
pub fn utc(ts: &Timestamp) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(ts.seconds, u32::try_from(ts.nanos).ok()?)
        .single()
}

/// A `<time>` the script shows in the viewer's zone (UTC on hover); UTC
/// until then. `-` when absent.
pub fn time(ts: Option<&Timestamp>) -> Markup {
    match ts.and_then(utc) {
        None => html! { span.none { "–" } },
        Some(t) => {
            let shown = t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
            html! {
                time.local datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)) title=(shown) { (shown) }
            }
        }
    }
}

/// `ts` in the IANA zone `zone`, with its offset (a DST shift shows as a
/// change of offset); UTC when the zone is unknown.
pub fn in_zone(ts: &Timestamp, zone: &str) -> String {
    let Some(t) = utc(ts) else {
        return String::new();
    };
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => t
            .with_timezone(&tz)
            .format("%a %Y-%m-%d %H:%M %Z (UTC%:z)")
            .to_string(),
        Err(_) => t.format("%a %Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// A duration in milliseconds, the way people say it.
pub fn duration_ms(ms: i64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let seconds = ms as f64 / 1000.0;
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let total = ms / 1000;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min {s} s")
    }
}

/// The time between two timestamps, when both are there.
pub fn between(from: Option<&Timestamp>, to: Option<&Timestamp>) -> Option<String> {
    let (from, to) = (utc(from?)?, utc(to?)?);
    Some(duration_ms((to - from).num_milliseconds().max(0)))
}

/// A run status as a labelled badge (the word, never colour alone).
pub fn run_status(number: i32) -> Markup {
    let name = RunStatus::from_proto(number).map_or("unknown", RunStatus::name);
    html! { span class=(format!("badge s-{name}")) { (name) } }
}

/// A trigger type's name.
pub fn trigger(number: i32) -> &'static str {
    TriggerType::from_proto(number).map_or("unknown", TriggerType::name)
}

/// A cron expression in plain words ("At 09:00 AM, Monday through Friday").
pub fn cron_words(expression: &str) -> String {
    cronspeak::describe(expression).unwrap_or_else(|_| "A custom schedule".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(rfc3339: &str) -> Timestamp {
        let t = DateTime::parse_from_rfc3339(rfc3339).unwrap();
        Timestamp {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        }
    }

    #[test]
    fn a_zone_shows_its_offset_across_a_dst_change() {
        // Europe/Berlin leaves summer time on 2026-10-25.
        assert_eq!(
            in_zone(&ts("2026-10-24T07:00:00Z"), "Europe/Berlin"),
            "Sat 2026-10-24 09:00 CEST (UTC+02:00)"
        );
        assert_eq!(
            in_zone(&ts("2026-10-26T08:00:00Z"), "Europe/Berlin"),
            "Mon 2026-10-26 09:00 CET (UTC+01:00)"
        );
        assert_eq!(
            in_zone(&ts("2026-10-26T08:00:00Z"), "Nowhere/Else"),
            "Mon 2026-10-26 08:00 UTC"
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration_ms(250), "250 ms");
        assert_eq!(duration_ms(1_500), "1.5 s");
        assert_eq!(duration_ms(125_000), "2 min 5 s");
        assert_eq!(duration_ms(7_380_000), "2 h 3 min");
    }

    #[test]
    fn times_are_utc_in_the_markup() {
        let markup = time(Some(&ts("2026-12-01T11:10:12.5Z"))).into_string();
        assert_eq!(
            markup,
            r#"<time class="local" datetime="2026-12-01T11:10:12.500Z" title="2026-12-01 11:10:12 UTC">2026-12-01 11:10:12 UTC</time>"#
        );
    }

    #[test]
    fn cron_reads_in_plain_words() {
        assert_eq!(
            cron_words("0 9 * * 1-5"),
            "At 09:00 AM, Monday through Friday"
        );
    }
}
