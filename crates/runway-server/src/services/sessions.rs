//! SessionService: a run's session, with the agent version it runs.

use std::sync::Arc;

use runway_api::enums::{EventType, SortOrder};
use runway_api::services::ServerStream;
use runway_api::v1::session_service_server::SessionService;
use runway_api::v1::*;
use runway_store::entity::session;
use runway_store::repo::events::{self, EventQuery, NewEvent, Order};
use runway_store::repo::turns::{self, Finish};
use runway_store::repo::{agents, sessions};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use super::session_follow::{STREAM_BUFFER, SessionFollow};
use super::{Core, until_closing};
use crate::convert;
use crate::domain::access::Access;
use crate::domain::run_end;
use crate::error::{Reason, ResourceKind, ServiceError, ServiceResult};
use crate::paging::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::validate;

pub struct SessionApi {
    core: Arc<Core>,
}

impl SessionApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    async fn load(&self, org_id: &str, id: &str) -> ServiceResult<session::Model> {
        validate::known_id(ResourceKind::Session, "session_id", id)?;
        sessions::get(&self.core.store, org_id, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(ResourceKind::Session, id, "session_id"))
    }

    /// The `seq` of event `id` of `session_id`, for `after_id`/`before_id`.
    async fn seq_of(&self, session_id: &str, param: &str, id: &str) -> ServiceResult<i64> {
        validate::no_nul(param, id)?;
        events::get(&self.core.store, session_id, id)
            .await?
            .map(|e| e.seq)
            .ok_or_else(|| {
                ServiceError::invalid(param, format!("{id} is not an event of this session"))
            })
    }

    /// Event types named by a request, checked.
    fn types(types: &[i32]) -> ServiceResult<Vec<EventType>> {
        types
            .iter()
            .map(|t| {
                EventType::from_proto(*t).ok_or_else(|| {
                    ServiceError::invalid(
                        "types",
                        format!("types must be {}", EventType::expected()),
                    )
                })
            })
            .collect()
    }

    /// The list a request asks for, checked.
    async fn query(&self, req: &ListSessionEventsRequest) -> ServiceResult<EventQuery> {
        let limit = req.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ServiceError::invalid(
                "limit",
                format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
            ));
        }
        let order = match req.order {
            0 => Order::Asc,
            n => match SortOrder::from_proto(n) {
                Some(SortOrder::Asc) => Order::Asc,
                Some(SortOrder::Desc) => Order::Desc,
                None => {
                    return Err(ServiceError::invalid(
                        "order",
                        format!("order must be {}", SortOrder::expected()),
                    ));
                }
            },
        };
        let types = Self::types(&req.types)?;
        let after_seq = match &req.after_id {
            Some(id) => Some(self.seq_of(&req.session_id, "after_id", id).await?),
            None => None,
        };
        let before_seq = match &req.before_id {
            Some(id) => Some(self.seq_of(&req.session_id, "before_id", id).await?),
            None => None,
        };
        Ok(EventQuery {
            limit: limit as u64,
            order,
            after_seq,
            before_seq,
            types,
            created_gte: req.created_at_gte.as_ref().map(convert::nanos),
            created_lte: req.created_at_lte.as_ref().map(convert::nanos),
        })
    }
}

#[tonic::async_trait]
impl SessionService for SessionApi {
    async fn get_session(
        &self,
        request: Request<GetSessionRequest>,
    ) -> Result<Response<GetSessionResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let id = &request.get_ref().session_id;
        let not_found = || ServiceError::not_found(ResourceKind::Session, id.clone(), "session_id");
        validate::known_id(ResourceKind::Session, "session_id", id)?;
        let session = sessions::get(&self.core.store, &who.org_id, id)
            .await
            .map_err(ServiceError::from)?
            .ok_or_else(not_found)?;
        let agent = agents::get_version(
            &self.core.store,
            &who.org_id,
            &session.agent_id,
            session.agent_version,
        )
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(|| ServiceError::Internal(format!("session {id} has no agent version")))?;
        Ok(Response::new(GetSessionResponse {
            session: Some(convert::session(&session, &agent)),
        }))
    }

    async fn list_session_events(
        &self,
        request: Request<ListSessionEventsRequest>,
    ) -> Result<Response<ListSessionEventsResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let req = request.get_ref();
        let session = self.load(&who.org_id, &req.session_id).await?;
        let query = self.query(req).await?;
        let page = events::list(&self.core.store, &who.org_id, &session.id, &query)
            .await
            .map_err(ServiceError::from)?;
        let events = page.events.iter().map(convert::event).collect();
        let (events, cut) = crate::paging::within_bytes(events, crate::paging::MAX_PAGE_BYTES);
        Ok(Response::new(ListSessionEventsResponse {
            first_id: events.first().map(|e| e.id.clone()),
            last_id: events.last().map(|e| e.id.clone()),
            has_more: page.has_more || cut,
            events,
        }))
    }

    async fn send_session_events(
        &self,
        request: Request<SendSessionEventsRequest>,
    ) -> Result<Response<SendSessionEventsResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let req = request.get_ref();
        let session = self.load(&who.org_id, &req.session_id).await?;
        let events = user_events(&req.events)?;
        // A deployment session's turns are its runs': the only thing a user
        // can send it is an interrupt of the running one.
        if let Some((i, event)) = events
            .iter()
            .enumerate()
            .find(|(_, e)| e.kind != EventType::UserInterrupt)
        {
            return Err(ServiceError::precondition(
                Reason::SessionEventNotAccepted,
                format!(
                    "events[{i}]: a deployment session takes only user.interrupt, not {}",
                    event.kind
                ),
            )
            .into());
        }
        if events.len() > 1 {
            return Err(ServiceError::precondition(
                Reason::SessionEventNotAccepted,
                "a deployment session takes one user.interrupt at a time",
            )
            .into());
        }
        let now = self.core.now();
        let interrupt = events.into_iter().next().expect("1 or more events");
        let decide = run_end::interrupt(interrupt, now);
        let finish = turns::finish(
            &self.core.store,
            Some(&who.org_id),
            &session.deployment_run_id,
            now,
            decide,
        )
        .await?;
        self.core.record_finish(&finish);
        match finish {
            Finish::Finished { events, .. } => Ok(Response::new(SendSessionEventsResponse {
                // What the caller sent, as recorded (the closing event is the server's).
                events: events
                    .iter()
                    .filter(|e| e.kind == EventType::UserInterrupt)
                    .map(convert::event)
                    .collect(),
            })),
            Finish::Refused(_) | Finish::NotFound => Err(ServiceError::precondition(
                Reason::SessionNotProcessing,
                format!(
                    "Session {} is not working on a turn: nothing to interrupt",
                    session.id
                ),
            )
            .into()),
        }
    }

    type StreamSessionEventsStream = ServerStream<StreamSessionEventsResponse>;

    async fn stream_session_events(
        &self,
        request: Request<StreamSessionEventsRequest>,
    ) -> Result<Response<Self::StreamSessionEventsStream>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let req = request.into_inner();
        let session = self.load(&who.org_id, &req.session_id).await?;
        let types = Self::types(&req.types)?;
        let after = match &req.after_id {
            Some(id) => Some(self.seq_of(&session.id, "after_id", id).await?),
            None => None,
        };
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let follow = SessionFollow::new(self.core.clone(), who, session.id, types, after);
        tokio::spawn(follow.run(tx));
        Ok(Response::new(until_closing(&self.core.closing, rx)))
    }
}

/// Events a user may send at once.
const MAX_USER_EVENTS: usize = 50;

/// A user's events, checked: 1–50 of known types, fields as JSON.
fn user_events(events: &[UserEvent]) -> ServiceResult<Vec<NewEvent>> {
    if events.is_empty() || events.len() > MAX_USER_EVENTS {
        return Err(ServiceError::invalid(
            "events",
            format!(
                "events must hold 1 to {MAX_USER_EVENTS} events, got {}",
                events.len()
            ),
        ));
    }
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let kind = EventType::from_proto(e.r#type).ok_or_else(|| {
                ServiceError::invalid(
                    format!("events[{i}].type"),
                    format!("type must be {}", EventType::expected()),
                )
            })?;
            let mut fields = e
                .fields
                .as_ref()
                .map(runway_api::json_value::struct_to_object)
                .unwrap_or_default();
            validate::object_depth(&format!("events[{i}].fields"), &fields)?;
            // What the service stamps is not the user's to say.
            for stamped in runway_api::STAMPED_EVENT_FIELDS {
                fields.remove(stamped);
            }
            Ok(NewEvent { kind, fields })
        })
        .collect()
}
