//! Tables for people; JSON for scripts.

use clap::ValueEnum;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use runway_json::{AgentTag, DeploymentRunTag, DeploymentTag, EnvironmentTag, TokenTag};
use serde_json::Value;

use super::terminal;

/// How a command prints its answer.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum Output {
    /// Readable tables.
    #[default]
    Table,
    /// The API's JSON, unchanged.
    Json,
}

/// Prints `text` and a newline on standard output. A reader that went away
/// (`runway … | head`) ends the command quietly, with the exit status a
/// broken pipe gives other tools (141), instead of a panic.
pub fn print_line(text: impl std::fmt::Display) {
    use std::io::Write;
    if let Err(err) = writeln!(std::io::stdout().lock(), "{text}") {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        crate::logging::tell(format_args!(
            "runway: cannot write to standard output: {err}"
        ));
        std::process::exit(1);
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => terminal::inert(s, false),
        other => other.to_string(),
    }
}

fn schedule(schedule: &Value) -> String {
    match (
        schedule["expression"].as_str(),
        schedule["timezone"].as_str(),
    ) {
        (Some(expression), Some(zone)) => terminal::inert(&format!("{expression} {zone}"), false),
        (Some(expression), None) => terminal::inert(expression, false),
        _ => "-".to_string(),
    }
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_header(headers.to_vec());
    for row in rows {
        t.add_row(row);
    }
    t.to_string()
}

/// A deployment's schedule as one cell: its expression and the time zone
/// it is read in (`0 9 * * * Asia/Shanghai`).
const SCHEDULE: &str = "/schedule";

/// Columns per object type: (header, JSON pointer).
fn columns(object_type: &str) -> &'static [(&'static str, &'static str)] {
    match object_type {
        DeploymentTag::VALUE => &[
            ("ID", "/id"),
            ("NAME", "/name"),
            ("STATUS", "/status"),
            ("SCHEDULE", SCHEDULE),
            ("NEXT", "/metadata/cas_config/stats/next_trigger_at"),
            ("RUNS", "/metadata/cas_config/stats/total_runs"),
        ],
        DeploymentRunTag::VALUE => &[
            ("ID", "/id"),
            ("DEPLOYMENT", "/deployment_id"),
            ("STATUS", "/status"),
            ("TRIGGER", "/trigger_context/type"),
            ("ATTEMPT", "/cas_run_extras/attempt"),
            ("ERROR", "/error/type"),
            ("TRIGGERED", "/triggered_at"),
        ],
        AgentTag::VALUE => &[
            ("ID", "/id"),
            ("NAME", "/name"),
            ("MODEL", "/model"),
            ("VERSION", "/version"),
            ("ARCHIVED", "/archived_at"),
        ],
        EnvironmentTag::VALUE => &[
            ("ID", "/id"),
            ("NAME", "/name"),
            ("STATUS", "/status"),
            ("CREATED", "/created_at"),
        ],
        TokenTag::VALUE => &[
            ("ID", "/id"),
            ("NAME", "/name"),
            ("SCOPE", "/scope"),
            ("ENVIRONMENTS", "/environment_ids"),
            ("EXPIRES", "/expires_at"),
            ("LAST USED", "/last_used_at"),
            ("REVOKED", "/revoked_at"),
        ],
        _ => &[("ID", "/id")],
    }
}

/// A table of one object or of a list's `data`.
pub fn human(value: &Value) -> String {
    let items: Vec<&Value> = match value.get("data").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![value],
    };
    if items.is_empty() {
        // A header alone reads as a broken table.
        return "(none)".to_string();
    }
    let object_type = items.first().and_then(|i| i["type"].as_str()).unwrap_or("");
    let cols = columns(object_type);
    let headers: Vec<&str> = cols.iter().map(|(h, _)| *h).collect();
    let rows = items
        .iter()
        .map(|item| {
            cols.iter()
                .map(|(_, p)| match *p {
                    SCHEDULE => schedule(&item[&SCHEDULE[1..]]),
                    p => text(item.pointer(p).unwrap_or(&Value::Null)),
                })
                .collect()
        })
        .collect();
    let mut out = table(&headers, rows);
    if value["has_more"] == true {
        // The cursor carries no filter: the next page is this command's,
        // its filters included, with the cursor added.
        out.push_str(&format!(
            "\nmore: run this command again (same filters) with --page {}",
            text(&value["next_page"])
        ));
    }
    if object_type == DeploymentRunTag::VALUE
        && value.get("data").is_none()
        && let Some(message) = value["error"]["message"].as_str()
    {
        out.push_str(&format!("\n{}", terminal::inert(message, true)));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::human;

    #[test]
    fn an_empty_list_says_so() {
        assert_eq!(
            human(&json!({"data": [], "has_more": false, "first_id": null})),
            "(none)"
        );
    }

    #[test]
    fn control_characters_reach_no_terminal() {
        let run = json!({"type": "deployment_run", "id": "drun_1\u{1b}[2J", "status": "failed",
                         "error": {"type": "agent_error", "message": "boom \u{1b}]0;OWNED\u{7}\n\tdone"}});
        let shown = human(&run);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
            "{shown}"
        );
        assert!(shown.contains("drun_1\\u{1b}[2J"), "{shown}");
        assert!(
            shown.ends_with("\nboom \\u{1b}]0;OWNED\\u{7}\n\tdone"),
            "{shown}"
        );
    }

    #[test]
    fn a_deployments_schedule_shows_its_time_zone() {
        // Every other cell filled, so a `-` can only be the schedule's.
        let deployment = |schedule| {
            json!({"type": "deployment", "id": "dep_1", "name": "daily", "status": "active",
                   "schedule": schedule, "metadata": {"cas_config": {"stats": {
                       "total_runs": 0, "next_trigger_at": "2026-01-01T09:00:00Z"}}}})
        };
        let table = human(&json!({"data": [
            deployment(json!({"type": "cron", "expression": "0 9 * * *", "timezone": "Asia/Shanghai"})),
            deployment(json!(null)),
        ], "has_more": false}));
        assert!(table.contains("0 9 * * * Asia/Shanghai"), "{table}");
        let rows: Vec<&str> = table.lines().filter(|l| l.contains("dep_1")).collect();
        assert_eq!(rows.len(), 2, "{table}");
        assert!(rows[1].contains(" - "), "{table}");
    }
}
