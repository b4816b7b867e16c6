//! The client subcommands: what a user types (`send` is what each sends).

use clap::{Args, Subcommand};

use super::render::Output;

/// Where the server is and who is calling.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The REST gateway, e.g. http://127.0.0.1:8080.
    #[arg(
        long,
        global = true,
        env = "RUNWAY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub(super) url: String,
    /// A personal access token.
    #[arg(
        long,
        global = true,
        env = "RUNWAY_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    pub(super) token: String,
    /// `table` (default) or `json`.
    #[arg(long, short, global = true, value_enum, default_value = "table")]
    pub(super) output: Output,
    /// CA certificates (PEM) to trust for an https:// URL (default: the
    /// system's roots).
    #[arg(long, global = true, env = "RUNWAY_CA")]
    pub(super) ca: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Page size, 1–1000.
    #[arg(long)]
    limit: Option<u32>,
    /// The `next_page` cursor of a previous page.
    #[arg(long)]
    page: Option<String>,
}

impl ListArgs {
    pub(super) fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(p) = &self.page {
            q.push(("page", p.clone()));
        }
        q
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Deployments: list, get, create, update, pause, unpause, archive, run.
    #[command(subcommand)]
    Deployments(DeploymentCommand),
    /// Runs: list, get, cancel, watch.
    #[command(subcommand)]
    Runs(RunCommand),
    /// Agents: list, get, create, update, archive.
    #[command(subcommand)]
    Agents(AgentCommand),
    /// Environments: list, get, create, update, archive.
    #[command(subcommand)]
    Environments(EnvironmentCommand),
}

#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    List {
        #[command(flatten)]
        list: ListArgs,
        /// `active` or `paused`.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        include_archived: bool,
        #[arg(long)]
        agent_id: Option<String>,
    },
    Get {
        id: String,
    },
    /// Create from flags, or from a JSON body (`--json FILE`, `-` for stdin).
    Create {
        #[arg(long)]
        name: Option<String>,
        /// `agent_…` (pins its latest version).
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        environment: Option<String>,
        /// A `user.message` initial event (repeatable).
        #[arg(long = "message")]
        messages: Vec<String>,
        /// A 5-field cron expression.
        #[arg(long)]
        schedule: Option<String>,
        #[arg(long, default_value = "UTC")]
        timezone: String,
        #[arg(long)]
        max_concurrent: Option<u32>,
        #[arg(long)]
        max_retries: Option<u32>,
        #[arg(long)]
        timeout_ms: Option<u64>,
        #[arg(long)]
        json: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Update with a JSON merge body (`--json FILE`, `-` for stdin) or flags.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        schedule: Option<String>,
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Remove the schedule.
        #[arg(long, conflicts_with = "schedule")]
        no_schedule: bool,
        #[arg(long)]
        max_concurrent: Option<u32>,
        #[arg(long)]
        json: Option<String>,
    },
    Pause {
        id: String,
    },
    Unpause {
        id: String,
    },
    Archive {
        id: String,
    },
    /// Trigger a run. With --wait, follow it (and the retries of its
    /// failures) and exit with the outcome of the last (0 completed, 1
    /// failed, 2 skipped).
    Run {
        id: String,
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    List {
        #[command(flatten)]
        list: ListArgs,
        #[arg(long)]
        deployment: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        trigger_type: Option<String>,
    },
    Get {
        id: String,
    },
    Cancel {
        id: String,
    },
    /// Follow a run until it ends; exit 0 completed, 1 failed, 2 skipped.
    Watch {
        id: String,
    },
    /// Print a run's transcript: text as text, tool calls and spans
    /// summarized (`--output json`: the events as JSON lines).
    Logs {
        id: String,
        /// Follow the transcript live until the run ends, and exit with its
        /// outcome (0 completed, 1 failed, 2 skipped).
        #[arg(long, short)]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    List {
        #[command(flatten)]
        list: ListArgs,
        #[arg(long)]
        include_archived: bool,
    },
    Get {
        id: String,
    },
    Create {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        system: Option<String>,
        #[arg(long)]
        json: Option<String>,
    },
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        system: Option<String>,
        #[arg(long)]
        json: Option<String>,
    },
    Archive {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EnvironmentCommand {
    List {
        #[command(flatten)]
        list: ListArgs,
        #[arg(long)]
        include_archived: bool,
    },
    Get {
        id: String,
    },
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    Archive {
        id: String,
    },
}
