//! CPU time spent per trigger, read from `/proc`: the server's threads
//! grouped by name (the async workers, SQLite's connection threads), the
//! bench process itself, and a local PostgreSQL's processes. A phase's CPU
//! per trigger tells what a change costs in machine time, which its
//! throughput alone (bound by a closed loop's latency) does not.

use std::collections::BTreeMap;

/// Clock ticks of CPU time (user + system) by thread group.
#[derive(Debug, Clone, Default)]
pub struct CpuTicks(BTreeMap<String, u64>);

impl CpuTicks {
    /// The server's live threads by group, plus `server` (the whole process,
    /// ended threads included), `bench` (this process) and `postgres` (every
    /// PostgreSQL process on the machine, when there are any). A thread or a
    /// PostgreSQL backend that ends within a phase takes its time out of its
    /// group (`server` keeps it): the groups are a breakdown, `server` the
    /// total.
    pub fn read(server_pid: u32) -> CpuTicks {
        let mut ticks = BTreeMap::new();
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{server_pid}/task")) {
            for task in tasks.flatten() {
                if let Ok(stat) = std::fs::read_to_string(task.path().join("stat"))
                    && let Some((name, used)) = parse(&stat)
                {
                    *ticks.entry(group(&name)).or_insert(0) += used;
                }
            }
        }
        // A PostgreSQL on this machine: its server processes together (the
        // backends serving the pool, the WAL writer, autovacuum).
        let mut postgres = None;
        if let Ok(processes) = std::fs::read_dir("/proc") {
            for process in processes.flatten() {
                if let Ok(stat) = std::fs::read_to_string(process.path().join("stat"))
                    && let Some((name, used)) = parse(&stat)
                    && name == "postgres"
                {
                    *postgres.get_or_insert(0) += used;
                }
            }
        }
        if let Some(used) = postgres {
            ticks.insert("postgres".to_owned(), used);
        }
        for (name, path) in [
            ("server", format!("/proc/{server_pid}/stat")),
            ("bench", "/proc/self/stat".to_owned()),
        ] {
            if let Some((_, used)) = std::fs::read_to_string(path)
                .ok()
                .as_deref()
                .and_then(parse)
            {
                ticks.insert(name.to_owned(), used);
            }
        }
        CpuTicks(ticks)
    }

    /// Microseconds of CPU per operation (a trigger, a read) by group,
    /// between `self` and `later`.
    pub fn per_operation_us(&self, later: &CpuTicks, operations: u64) -> BTreeMap<String, f64> {
        let tick_us = 1_000_000.0 / clock_ticks_per_second();
        later
            .0
            .iter()
            .map(|(name, &after)| {
                let used = after.saturating_sub(self.0.get(name).copied().unwrap_or(0));
                let us = used as f64 * tick_us / operations.max(1) as f64;
                (name.clone(), (us * 10.0).round() / 10.0)
            })
            .collect()
    }
}

/// `(comm, utime + stime)` of a `/proc/…/stat` line.
fn parse(stat: &str) -> Option<(String, u64)> {
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    // After the name: state is field 3; utime and stime are fields 14, 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// A thread's group: its name without a trailing number (`tokio-rt-worker`,
/// `sqlx-sqlite-wor`: Linux keeps 15 characters).
fn group(name: &str) -> String {
    name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_')
        .to_owned()
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads its integer argument.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}
