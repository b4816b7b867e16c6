//! Instants are stored as signed 64-bit nanoseconds since the Unix epoch:
//! exact on both backends (PostgreSQL's `timestamptz` keeps only
//! microseconds, and the API shows nanoseconds), and cheap to index.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("system clock is before 1970");
    i64::try_from(since.as_nanos()).expect("system clock is past the year 2262")
}

/// 24 hours in nanoseconds.
pub const DAY_NANOS: i64 = 24 * 60 * 60 * 1_000_000_000;

/// `duration` in the nanoseconds instants are stored in (past i64: the end
/// of time).
pub fn duration_nanos(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}
