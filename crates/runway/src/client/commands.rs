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
        default_value = "",
        hide_default_value = true
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
    /// Runs: list, get, cancel, watch, logs.
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
    /// List the organization's deployments, newest first.
    List {
        #[command(flatten)]
        list: ListArgs,
        /// `active` or `paused`.
        #[arg(long)]
        status: Option<String>,
        /// Also list archived deployments.
        #[arg(long)]
        include_archived: bool,
        /// Only the deployments of this agent (`agent_…`).
        #[arg(long)]
        agent_id: Option<String>,
    },
    /// Show a deployment (`-o json`: with its configuration and stats).
    Get {
        /// `dep_…`
        id: String,
    },
    /// Create from flags, or from a JSON body (`--json FILE`, `-` for stdin).
    /// Without `--json`, `--name`, `--agent`, `--environment` and
    /// `--message` are required.
    Create {
        /// The deployment's name.
        #[arg(long, required_unless_present = "json")]
        name: Option<String>,
        /// `agent_…` (pins its latest version).
        #[arg(long, required_unless_present = "json")]
        agent: Option<String>,
        /// `env_…`: whose runners execute the runs.
        #[arg(long, required_unless_present = "json")]
        environment: Option<String>,
        /// A `user.message` initial event (repeatable): what each run starts
        /// from.
        #[arg(long = "message", required_unless_present = "json")]
        messages: Vec<String>,
        /// A 5-field cron expression.
        #[arg(long)]
        schedule: Option<String>,
        /// The schedule's IANA time zone, e.g. Asia/Shanghai (default: UTC).
        #[arg(long, requires = "schedule")]
        timezone: Option<String>,
        /// Runs pending or running at once, 1–100 (past it a trigger is
        /// recorded skipped).
        #[arg(long)]
        max_concurrent: Option<u32>,
        /// Retries of a failed run, 0–10.
        #[arg(long)]
        max_retries: Option<u32>,
        /// A run's time limit in milliseconds, 1000–86400000.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// The request body as JSON, from a file (`-`: stdin); the flags
        /// given are merged into it (a flag wins).
        #[arg(long)]
        json: Option<String>,
        /// Sent as `Idempotency-Key`: a retry with the same key creates
        /// nothing twice.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Update with a JSON merge body (`--json FILE`, `-` for stdin) or flags.
    Update {
        /// `dep_…`
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new 5-field cron expression, in the schedule's time zone as it
        /// is (UTC for a deployment without one) unless --timezone is given.
        #[arg(long)]
        schedule: Option<String>,
        /// A new IANA time zone for the schedule (alone: the schedule's
        /// expression as it is, in this zone).
        #[arg(long, conflicts_with = "no_schedule")]
        timezone: Option<String>,
        /// Remove the schedule.
        #[arg(long, conflicts_with = "schedule")]
        no_schedule: bool,
        /// Runs pending or running at once, 1–100.
        #[arg(long)]
        max_concurrent: Option<u32>,
        /// Retries of a failed run, 0–10.
        #[arg(long)]
        max_retries: Option<u32>,
        /// A run's time limit in milliseconds, 1000–86400000.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// The update's JSON body, from a file (`-`: stdin); the flags given
        /// are merged into it (a flag wins).
        #[arg(long)]
        json: Option<String>,
    },
    /// Stop scheduling a deployment (manual runs are refused too).
    Pause {
        /// `dep_…`
        id: String,
    },
    /// Schedule a paused deployment again (its next fires from now).
    Unpause {
        /// `dep_…`
        id: String,
    },
    /// Archive a deployment, for good: no new runs (those under way go on).
    Archive {
        /// `dep_…`
        id: String,
    },
    /// Trigger a run. With --wait, follow it (and the retries of its
    /// failures) and exit with the outcome of the last (0 completed, 1
    /// failed, 2 skipped).
    Run {
        /// `dep_…`
        id: String,
        /// Follow the run until it (and its retries) end, and exit with the
        /// outcome.
        #[arg(long)]
        wait: bool,
        /// Sent as `Idempotency-Key`: a retry with the same key triggers
        /// one run.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// List runs, newest first.
    List {
        #[command(flatten)]
        list: ListArgs,
        /// Only this deployment's runs (`dep_…`).
        #[arg(long)]
        deployment: Option<String>,
        /// `pending`, `running`, `completed`, `failed` or `skipped`.
        #[arg(long)]
        status: Option<String>,
        /// `manual`, `schedule` or `retry`.
        #[arg(long)]
        trigger_type: Option<String>,
    },
    /// Show a run.
    Get {
        /// `drun_…`
        id: String,
    },
    /// Cancel a pending or running run (it fails with `canceled_error`).
    Cancel {
        /// `drun_…`
        id: String,
    },
    /// Follow a run until it ends; exit 0 completed, 1 failed, 2 skipped.
    Watch {
        /// `drun_…`
        id: String,
    },
    /// Print a run's transcript: text as text, tool calls and spans
    /// summarized (`--output json`: the events as JSON lines).
    Logs {
        /// `drun_…`
        id: String,
        /// Follow the transcript live until the run ends, and exit with its
        /// outcome (0 completed, 1 failed, 2 skipped).
        #[arg(long, short)]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// List the organization's agents.
    List {
        #[command(flatten)]
        list: ListArgs,
        /// Also list archived agents.
        #[arg(long)]
        include_archived: bool,
    },
    /// Show an agent at its latest version.
    Get {
        /// `agent_…`
        id: String,
    },
    /// Create an agent from flags, or from a JSON body (`--json FILE`).
    Create {
        /// The agent's name.
        #[arg(long)]
        name: Option<String>,
        /// The model it runs, e.g. claude-sonnet-4-5.
        #[arg(long)]
        model: Option<String>,
        /// Its system prompt.
        #[arg(long)]
        system: Option<String>,
        /// The request body as JSON, from a file (`-`: stdin); the flags
        /// given are merged into it (a flag wins).
        #[arg(long)]
        json: Option<String>,
    },
    /// Update an agent (a change makes a new version; deployments keep the
    /// version they pinned).
    Update {
        /// `agent_…`
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new model.
        #[arg(long)]
        model: Option<String>,
        /// A new system prompt.
        #[arg(long)]
        system: Option<String>,
        /// The update's JSON body, from a file (`-`: stdin); the flags given
        /// are merged into it (a flag wins).
        #[arg(long)]
        json: Option<String>,
    },
    /// Archive an agent: no new deployments of it.
    Archive {
        /// `agent_…`
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EnvironmentCommand {
    /// List the organization's environments.
    List {
        #[command(flatten)]
        list: ListArgs,
        /// Also list archived environments.
        #[arg(long)]
        include_archived: bool,
    },
    /// Show an environment.
    Get {
        /// `env_…`
        id: String,
    },
    /// Create an environment (a pool of runners).
    Create {
        /// The environment's name.
        #[arg(long)]
        name: String,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Update an environment's name or description.
    Update {
        /// `env_…`
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Archive an environment: no new deployments in it.
    Archive {
        /// `env_…`
        id: String,
    },
}
