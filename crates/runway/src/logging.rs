//! The log stream: standard error, as text for people or JSON lines for
//! log shippers; colour only when a person is looking at a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `fields`).
    Json,
}

/// The filter when `RUST_LOG` is not set. PostgreSQL's notices (`relation
/// "seaql_migrations" already exists, skipping` at every start) are not
/// news.
const DEFAULT_FILTER: &str = "info,sea_orm_migration=warn,sqlx::postgres::notice=warn";

/// Installs the process's subscriber. Colour codes only when standard error
/// is a terminal and `NO_COLOR` is not set: a file or a pipe gets plain
/// text.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // A log line that cannot be written is dropped: by default the
    // subscriber reports it with `eprintln!`, which panics on the same
    // closed standard error (`runway runner 2>&1 | head -1` ended in a panic).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.with_ansi(colour_wanted()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

fn colour_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Writes `text` and a newline on standard output, ignoring a closed one:
/// a long-running server's announcements (its addresses) must not turn a
/// reader that took the lines it wanted (`| head -1`) into a panic.
pub fn announce(text: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Writes `text` and a newline on standard error, ignoring a closed one
/// (`eprintln!` would panic there, turning exit 1 into a panic's 101).
pub fn tell(text: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
