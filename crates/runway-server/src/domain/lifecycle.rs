//! How a deployment moves between active, paused and archived. Each rule
//! sees the locked row and changes it, or refuses with the reason.

use runway_api::enums::{DeploymentStatus, PausedReasonType};
use runway_store::entity::deployment;

use super::archived;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::schedule::CronSchedule;

/// Pause: refused when archived or already paused; no fire times while paused.
pub fn pause(row: &mut deployment::Model) -> ServiceResult<()> {
    if row.archived_at.is_some() {
        return Err(archived(&row.id));
    }
    if row.status == DeploymentStatus::Paused {
        return Err(ServiceError::precondition(
            Reason::DeploymentAlreadyPaused,
            format!("Deployment {} is already paused", row.id),
        ));
    }
    row.status = DeploymentStatus::Paused;
    row.paused_reason = Some(PausedReasonType::Manual);
    row.next_fire_at = None;
    Ok(())
}

/// Unpause: refused when archived or not paused; fire times restart from
/// `now`, so nothing fires for the paused period, and the count of failed
/// runs in a row starts again (else a deployment paused at
/// `max_consecutive_failures` would be paused again by its next failure).
pub fn unpause(row: &mut deployment::Model, now: i64) -> ServiceResult<()> {
    if row.archived_at.is_some() {
        return Err(archived(&row.id));
    }
    if row.status != DeploymentStatus::Paused {
        return Err(ServiceError::precondition(
            Reason::DeploymentNotPaused,
            format!("Deployment {} is not paused", row.id),
        ));
    }
    row.status = DeploymentStatus::Active;
    row.paused_reason = None;
    row.consecutive_failures = 0;
    row.next_fire_at = match (&row.schedule_expression, &row.schedule_timezone) {
        (Some(e), Some(z)) => CronSchedule::parse(e, z)?.next_after(now),
        _ => None,
    };
    Ok(())
}

/// Archive, irreversibly, at `now`: the name gets `_archived_<unix_seconds>`
/// so it can be reused, and nothing fires again.
pub fn archive(row: &mut deployment::Model, now: i64) -> ServiceResult<()> {
    if row.archived_at.is_some() {
        return Err(ServiceError::precondition(
            Reason::DeploymentAlreadyArchived,
            format!("Deployment {} is already archived", row.id),
        ));
    }
    row.archived_at = Some(now);
    row.name = format!("{}_archived_{}", row.name, now.div_euclid(1_000_000_000));
    row.next_fire_at = None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::deployment;

    const SECOND: i64 = 1_000_000_000;

    fn reason(result: ServiceResult<()>) -> Reason {
        match result.unwrap_err() {
            ServiceError::FailedPrecondition { reason, .. } => reason,
            other => panic!("not a precondition: {other:?}"),
        }
    }

    #[test]
    fn pause_then_unpause_recomputes_the_next_fire_from_now() {
        let mut dep = deployment();
        dep.schedule_expression = Some("0 * * * *".into());
        dep.schedule_timezone = Some("UTC".into());
        dep.next_fire_at = Some(3600 * SECOND);
        dep.consecutive_failures = 3;
        pause(&mut dep).unwrap();
        assert_eq!(dep.status, DeploymentStatus::Paused);
        assert_eq!(dep.paused_reason, Some(PausedReasonType::Manual));
        assert_eq!(dep.next_fire_at, None);
        assert_eq!(reason(pause(&mut dep)), Reason::DeploymentAlreadyPaused);

        // Unpaused at 05:30 the next hourly fire is 06:00, not the missed ones.
        unpause(&mut dep, 5 * 3600 * SECOND + 1800 * SECOND).unwrap();
        assert_eq!(dep.status, DeploymentStatus::Active);
        assert_eq!(dep.paused_reason, None);
        assert_eq!(dep.next_fire_at, Some(6 * 3600 * SECOND));
        assert_eq!(dep.consecutive_failures, 0, "the count starts again");
        assert_eq!(reason(unpause(&mut dep, 0)), Reason::DeploymentNotPaused);
    }

    #[test]
    fn archive_renames_stops_firing_and_happens_once() {
        let mut dep = deployment();
        dep.name = "daily".into();
        dep.next_fire_at = Some(10);
        archive(&mut dep, 1_700_000_000 * SECOND + 5).unwrap();
        assert_eq!(dep.name, "daily_archived_1700000000");
        assert_eq!(dep.archived_at, Some(1_700_000_000 * SECOND + 5));
        assert_eq!(dep.next_fire_at, None);
        assert_eq!(
            reason(archive(&mut dep, 0)),
            Reason::DeploymentAlreadyArchived
        );
        assert_eq!(reason(pause(&mut dep)), Reason::DeploymentArchived);
        assert_eq!(reason(unpause(&mut dep, 0)), Reason::DeploymentArchived);
    }
}
