//! The command line: every subcommand; the ones that run a service or work
//! on the database itself are here, the API client's in `client`.

mod database;
mod gateway;
mod serve;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::client;
use crate::logging::{self, LogFormat};
use database::{DatabaseArgs, PruneArgs};
use gateway::GatewayArgs;
use serve::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "runway",
    version,
    about = "Self-hostable Qoder Cloud Deployments API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on standard error are written: `text`, or `json` (one
    /// object a line) for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC and the REST gateway from one process.
    Serve(ServeArgs),
    /// Serve only the REST gateway, calling a runway gRPC server.
    Gateway(GatewayArgs),
    /// Execute the turns of an environment: spawn CMD for each.
    Runner(RunnerArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage personal access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the REST API's OpenAPI 3.1 document (docs/openapi.json).
    Openapi,
    /// Delete now what the retention policies no longer keep (as every
    /// `serve` does each --prune-interval-ms), or with --dry-run tell what
    /// would go.
    Prune(PruneArgs),
    /// Deployments: list, get, create, update, pause, unpause, archive, run.
    Deployments {
        #[command(subcommand)]
        command: client::DeploymentCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Runs: list, get, cancel, watch, logs.
    Runs {
        #[command(subcommand)]
        command: client::RunCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Agents: list, get, create, update, archive.
    Agents {
        #[command(subcommand)]
        command: client::AgentCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Environments: list, get, create, update, archive.
    Environments {
        #[command(subcommand)]
        command: client::EnvironmentCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
}

#[derive(Debug, Args)]
struct RunnerArgs {
    /// The runway gRPC server, e.g. http://127.0.0.1:50051 or https://runway.internal:50051.
    #[arg(long, env = "RUNWAY_SERVER")]
    server: String,
    #[command(flatten)]
    tls: crate::tls::ClientTlsArgs,
    /// A PAT of the environment's organization.
    #[arg(long, env = "RUNWAY_TOKEN", hide_env_values = true)]
    token: String,
    /// The environment whose turns to execute (env_…).
    #[arg(long, env = "RUNWAY_ENVIRONMENT")]
    environment: String,
    /// The command each turn runs (through `sh -c`), with the run context as
    /// JSON on stdin and RUNWAY_RUN_ID, RUNWAY_SESSION_ID, RUNWAY_DEPLOYMENT_ID set.
    #[arg(long)]
    exec: String,
    /// Turns executed at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// A name for this runner in the server's logs (default: host:pid).
    #[arg(long)]
    name: Option<String>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token and print its secret once. With --org: straight into
    /// the database (which must exist and be migrated), for that
    /// organization; without: through the API, for the caller's
    /// organization (an admin token).
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The organization's name (writes the database directly).
        #[arg(long)]
        org: Option<String>,
        /// Create the --org organization if it does not exist (without it,
        /// an unknown name is refused: a typo does not make an organization).
        #[arg(long, requires = "org")]
        create_org: bool,
        #[command(flatten)]
        spec: client::tokens::NewTokenArgs,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// List the organization's tokens (never their secrets).
    List {
        #[command(flatten)]
        list: client::ListArgs,
        /// Also list revoked tokens.
        #[arg(long)]
        include_revoked: bool,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Show the token this command runs with (--token or RUNWAY_TOKEN):
    /// its id, name, scope, environments and expiry. Any token may.
    Current {
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Revoke a token: every replica refuses it within 10 seconds.
    Revoke {
        /// The token's id (tok_…).
        id: String,
        #[command(flatten)]
        client: client::ClientArgs,
    },
}

/// Runs the command line and maps failure to exit code 1.
pub fn main() -> ExitCode {
    crate::tls::install_crypto_provider();
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            crate::logging::tell(format_args!("runway: cannot start the runtime: {err}"));
            return ExitCode::FAILURE;
        }
    };
    let ran = runtime.block_on(run(cli.command));
    // A second signal's stop exits 130 even when the command, its turns
    // ended by that stop, returned before the signal's task could exit.
    if STOPPED_BY_A_SECOND_SIGNAL.load(std::sync::atomic::Ordering::SeqCst) {
        return ExitCode::from(SECOND_SIGNAL_EXIT);
    }
    match ran {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            crate::logging::tell(format_args!("runway: {err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Runs `command`; the exit code (client commands report a run's outcome).
async fn run(command: Command) -> anyhow::Result<u8> {
    let code = match command {
        Command::Deployments { command, client } => {
            client::run(client, client::ClientCommand::Deployments(command)).await?
        }
        Command::Runs { command, client } => {
            client::run(client, client::ClientCommand::Runs(command)).await?
        }
        Command::Agents { command, client } => {
            client::run(client, client::ClientCommand::Agents(command)).await?
        }
        Command::Environments { command, client } => {
            client::run(client, client::ClientCommand::Environments(command)).await?
        }
        other => {
            run_service(other).await?;
            0
        }
    };
    Ok(u8::try_from(code).unwrap_or(1))
}

async fn run_service(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Gateway(args) => gateway::gateway(args).await,
        Command::Runner(args) => {
            let config = runway_runner::RunnerConfig {
                tls: args.tls.grpc(&args.server)?,
                server: args.server,
                token: args.token,
                environment_id: args.environment,
                exec: args.exec,
                concurrency: args.concurrency,
                name: args.name.unwrap_or_else(default_runner_name),
            };
            let stop = async {
                shutdown_signal().await;
                // Its turns may run long: a second signal kills them.
                exit_on_a_second_signal();
            };
            runway_runner::run(config, stop).await
        }
        Command::Openapi => {
            client::print_line(runway_gateway::openapi::document().trim_end());
            Ok(())
        }
        Command::Prune(args) => database::prune(args).await,
        Command::Migrate(db) => database::migrate(db).await,
        Command::Token(TokenCommand::Create {
            database,
            org: Some(org),
            create_org,
            spec,
            ..
        }) => database::create_token_in_database(database, &org, create_org, &spec).await,
        Command::Token(TokenCommand::Create {
            org: None,
            spec,
            client,
            ..
        }) => client::tokens::create(client, &spec).await,
        Command::Token(TokenCommand::List {
            list,
            include_revoked,
            client,
        }) => client::tokens::list(client, &list, include_revoked).await,
        Command::Token(TokenCommand::Current { client }) => client::tokens::current(client).await,
        Command::Token(TokenCommand::Revoke { id, client }) => {
            client::tokens::revoke(client, &id).await
        }
        Command::Deployments { .. }
        | Command::Runs { .. }
        | Command::Agents { .. }
        | Command::Environments { .. } => {
            unreachable!("client commands are run by `run`")
        }
    }
}

pub(super) fn host_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    match host.trim() {
        "" => "localhost".to_string(),
        host => host.to_string(),
    }
}

pub(super) fn default_runner_name() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

/// How long a second stop signal waits for the killed turns' reports.
const SECOND_SIGNAL_REPORTS: std::time::Duration = std::time::Duration::from_secs(5);

/// After the first SIGINT or SIGTERM has begun a graceful stop, a second
/// one ends the process at once (exit 130), killing the turns it runs and
/// failing their runs (at most [`SECOND_SIGNAL_REPORTS`] for the reports),
/// as an impatient operator means. One within a second of the first is the
/// same stop told twice (a terminal's Ctrl-C and a process manager's
/// SIGTERM), not impatience.
/// Set by a second signal's stop, before it ends the turns under way.
static STOPPED_BY_A_SECOND_SIGNAL: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The exit code of a stop by a second signal (128 + SIGINT, as a shell's).
const SECOND_SIGNAL_EXIT: u8 = 130;

pub(super) fn exit_on_a_second_signal() {
    let first = std::time::Instant::now();
    tokio::spawn(async move {
        loop {
            shutdown_signal().await;
            if first.elapsed() >= std::time::Duration::from_secs(1) {
                break;
            }
        }
        crate::logging::tell(format_args!(
            "runway: a second signal: ending the turns under way (their runs fail as runner_lost_error) and exiting"
        ));
        // Each killed turn reports its run failed, so the run is not left
        // running until its lease runs out; a report that cannot be made
        // in time is given up.
        STOPPED_BY_A_SECOND_SIGNAL.store(true, std::sync::atomic::Ordering::SeqCst);
        runway_runner::end_all_turns();
        let _ = tokio::time::timeout(SECOND_SIGNAL_REPORTS, runway_runner::turns_ended()).await;
        std::process::exit(i32::from(SECOND_SIGNAL_EXIT));
    });
}

/// SIGINT (Ctrl-C) or SIGTERM.
pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
