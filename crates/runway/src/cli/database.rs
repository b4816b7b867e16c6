//! The operator's commands on the database itself: `migrate`, `prune`,
//! `token create --org`.

use std::path::PathBuf;

use clap::Args;
use runway_server::Runway;
use runway_store::repo::tenants;

use crate::app::{self, DEFAULT_DATA_DIR};
use crate::client;

#[derive(Debug, Args)]
pub(super) struct DatabaseArgs {
    /// `sqlite://FILE` or `postgres://USER@HOST/DB`; default: SQLite in --data-dir.
    #[arg(long, env = "RUNWAY_DATABASE_URL")]
    pub(super) database_url: Option<String>,
    /// Where the default SQLite database, the admin token and (`serve
    /// --exec`) the embedded runner's token record live.
    #[arg(long, env = "RUNWAY_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub(super) data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct PruneArgs {
    #[command(flatten)]
    pub(super) database: DatabaseArgs,
    /// Count what would be deleted; delete nothing.
    #[arg(long)]
    pub(super) dry_run: bool,
}

/// `migrate`: apply the migrations and stop.
pub(super) async fn migrate(db: DatabaseArgs) -> anyhow::Result<()> {
    let url = app::database_url(db.database_url.as_deref(), &db.data_dir);
    app::open_store(&url, &db.data_dir, 2, true)
        .await?
        .close()
        .await;
    println!("runway: migrations applied");
    Ok(())
}

/// `prune`: one retention pass on the database itself, or its count.
pub(super) async fn prune(args: PruneArgs) -> anyhow::Result<()> {
    let db = args.database;
    let url = app::database_url(db.database_url.as_deref(), &db.data_dir);
    let store = app::open_existing_store(&url, 2).await?;
    let runway = Runway::new(
        store.clone(),
        std::sync::Arc::new(runway_server::SystemClock),
        runway_server::ExecutionConfig::default(),
    );
    let pruner = runway.pruner();
    let (counts, verb) = if args.dry_run {
        (pruner.dry_run().await?, "would delete")
    } else {
        (pruner.run_once().await?, "deleted")
    };
    println!(
        "runway: {verb} {} runs, {} sessions, {} session events, {} webhook deliveries, {} idempotency keys",
        counts.runs, counts.sessions, counts.events, counts.deliveries, counts.idempotency_keys
    );
    store.close().await;
    Ok(())
}

/// `token create --org`: the operator's way in, on the database itself,
/// with the API's rules. The database must exist and be migrated (a token
/// in a database no server uses is no way in, and a newer CLI must not
/// migrate production as a side effect); the organization must exist
/// unless `create_org`.
pub(super) async fn create_token_in_database(
    database: DatabaseArgs,
    org: &str,
    create_org: bool,
    spec: &client::tokens::NewTokenArgs,
) -> anyhow::Result<()> {
    let url = app::database_url(database.database_url.as_deref(), &database.data_dir);
    let store = app::open_existing_store(&url, 2).await?;
    let now = runway_server::Clock::now_nanos(&runway_server::SystemClock);
    let new = spec.new_token(now)?;
    runway_server::domain::access::check_new_token(new.scope, &new.environment_ids)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let named: Vec<&String> = new
        .environment_ids
        .iter()
        .filter(|e| *e != runway_server::domain::access::ALL_ENVIRONMENTS)
        .collect();
    let org_row = match tenants::find_organization(&store, org).await? {
        Some(row) => row,
        // A new organization has no environment to name.
        None if !create_org => {
            anyhow::bail!("organization {org:?} does not exist (--create-org creates it)");
        }
        None if !named.is_empty() => {
            anyhow::bail!(
                "organization {org:?} does not exist, so it has no environment {}",
                named[0]
            );
        }
        None => {
            crate::logging::tell(format_args!("runway: created organization {org:?}"));
            tenants::create_organization(&store, org).await?
        }
    };
    for env in named {
        if runway_store::repo::environments::get(&store, &org_row.id, env)
            .await?
            .is_none()
        {
            anyhow::bail!("organization {org:?} has no environment {env}");
        }
    }
    let token = tenants::create_token(&store, &org_row.id, &new, now).await?;
    println!("{}", token.secret);
    store.close().await;
    Ok(())
}
