//! Schema migrations, written with `SchemaManager` only so they run the same
//! on SQLite and PostgreSQL. A migration, once released, never changes.

use sea_orm_migration::prelude::*;

mod m20261124_000001_initial_schema;
mod m20261124_000002_missed_fires;
mod m20261124_000003_run_execution;
mod m20261124_000004_active_runs;
mod m20261125_000005_session_events;
mod m20261125_000006_session_status;
mod m20261125_000007_cheaper_trigger_writes;
mod m20261125_000008_webhooks;
mod m20261201_000009_token_scopes;
mod m20261201_000010_run_list_indexes;
mod m20261202_000011_retention;
mod m20261204_000012_parked_deliveries;
mod m20261205_000013_endpoint_due_index;
mod m20261205_000014_endpoint_last_failure;
mod online_column;
mod online_index;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_initial_schema::Migration),
            Box::new(m20261124_000002_missed_fires::Migration),
            Box::new(m20261124_000003_run_execution::Migration),
            Box::new(m20261124_000004_active_runs::Migration),
            Box::new(m20261125_000005_session_events::Migration),
            Box::new(m20261125_000006_session_status::Migration),
            Box::new(m20261125_000007_cheaper_trigger_writes::Migration),
            Box::new(m20261125_000008_webhooks::Migration),
            Box::new(m20261201_000009_token_scopes::Migration),
            Box::new(m20261201_000010_run_list_indexes::Migration),
            Box::new(m20261202_000011_retention::Migration),
            Box::new(m20261204_000012_parked_deliveries::Migration),
            Box::new(m20261205_000013_endpoint_due_index::Migration),
            Box::new(m20261205_000014_endpoint_last_failure::Migration),
        ]
    }
}
