//! Session statuses follow the Agents API (`idle`, `processing`, `canceling`,
//! `archived`) instead of mirroring the run's (`running`, `completed`,
//! `failed`): a running run's session is processing, an ended one's idle.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE sessions SET status = CASE status \
                   WHEN 'running' THEN 'processing' ELSE 'idle' END \
                 WHERE status IN ('running', 'completed', 'failed')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // An idle session's run decides what it was.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE sessions SET status = COALESCE((\
                   SELECT CASE deployment_runs.status \
                     WHEN 'completed' THEN 'completed' WHEN 'running' THEN 'running' ELSE 'failed' END \
                   FROM deployment_runs WHERE deployment_runs.id = sessions.deployment_run_id), 'failed')",
            )
            .await?;
        Ok(())
    }
}
