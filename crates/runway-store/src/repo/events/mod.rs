//! Session events: the transcript rows. The server's own events (a run's
//! initial events and its session's status changes) are written in the
//! transaction that starts or ends the run; reads page by `seq`. A
//! runner's appends are in `runner`, the replicas' announcements of new
//! events in `announce`.

use runway_api::enums::{EventType, InitialEventType};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Map, Value};

use crate::entity::{deployment, deployment_run, session, session_event};
use crate::ids::IdKind;
use crate::json_text::JsonText;
use crate::{Store, StoreResult};

mod announce;
mod runner;

pub use announce::*;
pub use runner::*;

/// The schema version of every event runway records.
pub const SCHEMA_VERSION: &str = "1.0";

/// Rows per insert statement: SQLite allows 32766 bound values, an event
/// row binds 11.
const INSERT_CHUNK: usize = 1000;

/// An event to record, before it gets its id and place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub kind: EventType,
    pub fields: Map<String, Value>,
}

impl NewEvent {
    /// An event with no fields beyond the common ones.
    pub fn bare(kind: EventType) -> Self {
        NewEvent {
            kind,
            fields: Map::new(),
        }
    }
}

/// The rows of `events`, the session's `first_seq`-th event onwards.
pub(crate) fn rows(
    org_id: &str,
    session_id: &str,
    turn_id: Option<&str>,
    first_seq: i64,
    events: Vec<NewEvent>,
    now: i64,
) -> Vec<session_event::Model> {
    events
        .into_iter()
        .zip(first_seq..)
        .map(|(event, seq)| session_event::Model {
            id: IdKind::Event.generate(),
            org_id: org_id.to_string(),
            session_id: session_id.to_string(),
            seq,
            kind: event.kind,
            turn_id: turn_id.map(str::to_string),
            fields: JsonText(event.fields),
            runner_seq: None,
            created_at: now,
            processed_at: now,
        })
        .collect()
}

/// The field an initial event's content is recorded in.
const INITIAL_CONTENT: &str = "content";

/// The events a session starts with when `run` starts: the deployment's
/// initial events, then `session.status_running`.
pub(crate) fn opening(dep: &deployment::Model) -> Vec<NewEvent> {
    let mut events: Vec<NewEvent> = dep
        .initial_events
        .iter()
        .map(|e| {
            let mut fields = Map::new();
            fields.insert(INITIAL_CONTENT.into(), e.content.clone());
            NewEvent {
                kind: e.kind.into(),
                fields,
            }
        })
        .collect();
    events.push(NewEvent::bare(EventType::SessionStatusRunning));
    events
}

/// The opening events of a started run's session, as rows.
pub(crate) fn opening_rows(
    dep: &deployment::Model,
    run: &deployment_run::Model,
    now: i64,
) -> Vec<session_event::Model> {
    let session_id = run.session_id.as_deref().unwrap_or_default();
    rows(
        &dep.org_id,
        session_id,
        run.turn_id.as_deref(),
        1,
        opening(dep),
        now,
    )
}

/// The events session `session_id` (of `org_id`) opened with — its
/// deployment's initial events as they were when its run started — read
/// back: those before its `session.status_running`.
pub async fn opening_of(
    store: &Store,
    org_id: &str,
    session_id: &str,
) -> StoreResult<Vec<deployment::InitialEvent>> {
    use session_event::Column as C;
    let rows = session_event::Entity::find()
        .filter(C::SessionId.eq(session_id))
        .filter(C::OrgId.eq(org_id))
        .order_by_asc(C::Seq)
        // More than an opening holds (at most 50 initial events and the
        // status change).
        .limit(64)
        .all(store.reader())
        .await?;
    Ok(rows
        .into_iter()
        .map_while(|row| {
            Some(deployment::InitialEvent {
                kind: InitialEventType::of_event(row.kind)?,
                content: row
                    .fields
                    .0
                    .get(INITIAL_CONTENT)
                    .cloned()
                    .unwrap_or(Value::Null),
            })
        })
        .collect())
}

/// Inserts `rows`: on PostgreSQL in one array statement, on SQLite in
/// multi-row statements of bounded size.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    rows: Vec<session_event::Model>,
) -> StoreResult<()> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        return insert_unnest(db, &rows).await;
    }
    let mut rows = rows
        .into_iter()
        .map(session_event::ActiveModel::from)
        .peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
        session_event::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Inserts events on PostgreSQL with one statement of array parameters: the
/// same prepared statement whatever the batch's size (a multi-row `VALUES`
/// binds 10 values a row and is planned anew for every size). Absent turn
/// ids and runner sequence numbers travel as `''` and `-1` (a runner's are
/// never negative), so every array is of non-null elements.
async fn insert_unnest(
    db: &impl ConnectionTrait,
    rows: &[session_event::Model],
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    fn column<T>(rows: &[session_event::Model], f: impl Fn(&session_event::Model) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    let fields: Vec<String> = rows
        .iter()
        .map(|r| serde_json::to_string(&r.fields.0))
        .collect::<Result<_, _>>()?;
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "INSERT INTO session_events \
           (id, org_id, session_id, seq, type, turn_id, fields, runner_seq, created_at, processed_at) \
         SELECT e.id, e.org_id, e.session_id, e.seq, e.type, NULLIF(e.turn_id, ''), e.fields, \
                NULLIF(e.runner_seq, -1), e.created_at, e.processed_at \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], \
                     $7::text[], $8::bigint[], $9::bigint[], $10::bigint[]) \
           AS e(id, org_id, session_id, seq, type, turn_id, fields, runner_seq, created_at, processed_at)",
        [
            column(rows, |r| r.id.clone()).into(),
            column(rows, |r| r.org_id.clone()).into(),
            column(rows, |r| r.session_id.clone()).into(),
            column(rows, |r| r.seq).into(),
            column(rows, |r| r.kind.name().to_string()).into(),
            column(rows, |r| r.turn_id.clone().unwrap_or_default()).into(),
            fields.into(),
            column(rows, |r| r.runner_seq.unwrap_or(-1)).into(),
            column(rows, |r| r.created_at).into(),
            column(rows, |r| r.processed_at).into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Appends `events` to the session of run `run`, in the caller's
/// transaction, which holds the run's row (so nothing else appends).
/// Returns them as recorded.
pub(crate) async fn append_to_run(
    db: &impl ConnectionTrait,
    run: &deployment_run::Model,
    events: Vec<NewEvent>,
    now: i64,
) -> StoreResult<Vec<session_event::Model>> {
    let Some(session_id) = &run.session_id else {
        return Ok(Vec::new());
    };
    let Some(session) = session::Entity::find_by_id(session_id).one(db).await? else {
        return Ok(Vec::new());
    };
    let first = session.event_seq + 1;
    let last = session.event_seq + events.len() as i64;
    session::Entity::update_many()
        .col_expr(
            session::Column::EventSeq,
            sea_orm::sea_query::Expr::value(last),
        )
        .filter(session::Column::Id.eq(session_id))
        .exec(db)
        .await?;
    let rows = rows(
        &run.org_id,
        session_id,
        run.turn_id.as_deref(),
        first,
        events,
        now,
    );
    insert(db, rows.clone()).await?;
    announce(db, session_id).await?;
    Ok(rows)
}

/// Which way a list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first (the transcript as it happened).
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

/// Which events of a session a list shows, and where its page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    pub limit: u64,
    pub order: Order,
    /// Only events after (`seq >`) this one.
    pub after_seq: Option<i64>,
    /// Only events before (`seq <`) this one.
    pub before_seq: Option<i64>,
    /// Only these types (all when empty).
    pub types: Vec<EventType>,
    pub created_gte: Option<i64>,
    pub created_lte: Option<i64>,
}

/// One page of events and whether more match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<session_event::Model>,
    pub has_more: bool,
}

/// One page of session `session_id`'s events (of `org_id`).
pub async fn list(
    store: &Store,
    org_id: &str,
    session_id: &str,
    query: &EventQuery,
) -> StoreResult<EventPage> {
    use session_event::Column as C;
    let mut select = session_event::Entity::find()
        .filter(C::SessionId.eq(session_id))
        .filter(C::OrgId.eq(org_id));
    if let Some(seq) = query.after_seq {
        select = select.filter(C::Seq.gt(seq));
    }
    if let Some(seq) = query.before_seq {
        select = select.filter(C::Seq.lt(seq));
    }
    if !query.types.is_empty() {
        select = select.filter(C::Kind.is_in(query.types.iter().copied()));
    }
    if let Some(at) = query.created_gte {
        select = select.filter(C::CreatedAt.gte(at));
    }
    if let Some(at) = query.created_lte {
        select = select.filter(C::CreatedAt.lte(at));
    }
    select = match query.order {
        Order::Asc => select.order_by_asc(C::Seq),
        Order::Desc => select.order_by_desc(C::Seq),
    };
    let mut events = select.limit(query.limit + 1).all(store.reader()).await?;
    let has_more = events.len() as u64 > query.limit;
    events.truncate(query.limit as usize);
    Ok(EventPage { events, has_more })
}

/// Event `id` of session `session_id`.
pub async fn get(
    store: &Store,
    session_id: &str,
    id: &str,
) -> StoreResult<Option<session_event::Model>> {
    Ok(session_event::Entity::find_by_id(id)
        .filter(session_event::Column::SessionId.eq(session_id))
        .one(store.reader())
        .await?)
}
