//! What a runner appends to a session: its events, each with the
//! runner's own number, recorded once however often they are resent.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{NewEvent, announce, insert};
use crate::entity::{deployment_run, session, session_event};
use crate::ids::IdKind;
use crate::json_text::JsonText;
use crate::repo::begin;
use crate::{Store, StoreResult};

/// An event a runner appends, with the runner's own number for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerEvent {
    pub runner_seq: i64,
    pub event: NewEvent,
    pub created_at: i64,
}

/// The result of [`append_for_runner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// No such run in the organization.
    NotFound,
    /// `allow` refused the run as it is (no longer under the lease).
    Refused,
    /// The batch's events as recorded, in the session's order: the new ones
    /// and those an earlier send of the same numbers had recorded.
    Recorded(Vec<session_event::Model>),
}

/// The events of session `session_id` a runner already sent under
/// `numbers` (its own sequence numbers), through the session's
/// `(session_id, runner_seq)` index however long the session. On
/// PostgreSQL one array parameter: the same prepared statement for every
/// batch size.
pub fn runner_events_select(
    backend: sea_orm::DbBackend,
    session_id: &str,
    numbers: Vec<i64>,
) -> sea_orm::Statement {
    match backend {
        sea_orm::DbBackend::Postgres => sea_orm::Statement::from_sql_and_values(
            backend,
            "SELECT * FROM session_events WHERE session_id = $1 AND runner_seq = ANY($2)",
            [session_id.into(), numbers.into()],
        ),
        _ => {
            use sea_orm::QueryTrait;
            use session_event::Column as C;
            session_event::Entity::find()
                .filter(C::SessionId.eq(session_id))
                .filter(C::RunnerSeq.is_in(numbers))
                .build(backend)
        }
    }
}

/// Appends a runner's `events` to the session of run `run_id` in one
/// transaction, with the run's row locked, if `allow` accepts the run.
/// Events whose runner number the session already has are not recorded
/// again (a resend after a lost answer).
pub async fn append_for_runner(
    store: &Store,
    org_id: &str,
    run_id: &str,
    now: i64,
    allow: impl FnOnce(&deployment_run::Model) -> bool,
    events: Vec<RunnerEvent>,
) -> StoreResult<Appended> {
    let txn = begin(store).await?;
    let Some(run) = deployment_run::Entity::find_by_id(run_id)
        .filter(deployment_run::Column::OrgId.eq(org_id))
        .lock_exclusive()
        .one(&txn)
        .await?
    else {
        return Ok(Appended::NotFound);
    };
    if !allow(&run) {
        return Ok(Appended::Refused);
    }
    let Some(session_id) = run.session_id.clone() else {
        return Ok(Appended::Refused);
    };
    let session = session::Entity::find_by_id(&session_id)
        .one(&txn)
        .await?
        .ok_or_else(|| crate::StoreError::Corrupt(format!("run {run_id} has no session")))?;
    let numbers: Vec<i64> = events.iter().map(|e| e.runner_seq).collect();
    let backend = txn.get_database_backend();
    let earlier = session_event::Entity::find()
        .from_raw_sql(runner_events_select(backend, &session_id, numbers))
        .all(&txn)
        .await?;
    let mut seen: std::collections::HashSet<i64> =
        earlier.iter().filter_map(|e| e.runner_seq).collect();
    let mut seq = session.event_seq;
    let mut fresh = Vec::with_capacity(events.len());
    for event in events {
        // Already recorded, or twice in this batch: once is enough.
        if !seen.insert(event.runner_seq) {
            continue;
        }
        seq += 1;
        fresh.push(session_event::Model {
            id: IdKind::Event.generate(),
            org_id: run.org_id.clone(),
            session_id: session_id.clone(),
            seq,
            kind: event.event.kind,
            turn_id: run.turn_id.clone(),
            fields: JsonText(event.event.fields),
            runner_seq: Some(event.runner_seq),
            created_at: event.created_at,
            processed_at: now,
        });
    }
    if !fresh.is_empty() {
        session::Entity::update_many()
            .col_expr(
                session::Column::EventSeq,
                sea_orm::sea_query::Expr::value(seq),
            )
            .filter(session::Column::Id.eq(&session_id))
            .exec(&txn)
            .await?;
        insert(&txn, fresh.clone()).await?;
        announce(&txn, &session_id).await?;
    }
    txn.commit().await?;
    let mut recorded = earlier;
    recorded.extend(fresh);
    recorded.sort_by_key(|e| e.seq);
    Ok(Appended::Recorded(recorded))
}
