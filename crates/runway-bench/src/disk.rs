//! Bytes the server process sent to storage (`write_bytes` of
//! `/proc/<pid>/io`: its WAL and database writes, the files' share of a
//! checkpoint; not its sockets), to tell what a trigger costs the disk.

/// The server's bytes written to storage so far, when Linux tells.
pub fn written_bytes(server_pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{server_pid}/io")).ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))?
        .trim()
        .parse()
        .ok()
}

/// KiB per operation between two readings, to one decimal.
pub fn kib_per_operation(before: Option<u64>, after: Option<u64>, operations: u64) -> Option<f64> {
    let written = after?.checked_sub(before?)?;
    let kib = written as f64 / 1024.0 / operations.max(1) as f64;
    Some((kib * 10.0).round() / 10.0)
}
