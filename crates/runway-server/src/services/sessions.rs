//! SessionService: a run's session, with the agent version it runs.

use std::sync::Arc;

use runway_api::v1::session_service_server::SessionService;
use runway_api::v1::*;
use runway_store::repo::{agents, sessions};
use tonic::{Request, Response, Status};

use super::Core;
use crate::convert;
use crate::error::{ResourceKind, ServiceError};
use crate::validate;

pub struct SessionApi {
    core: Arc<Core>,
}

impl SessionApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

#[tonic::async_trait]
impl SessionService for SessionApi {
    async fn get_session(
        &self,
        request: Request<GetSessionRequest>,
    ) -> Result<Response<GetSessionResponse>, Status> {
        let who = self.core.auth.principal(request.metadata()).await?;
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
}
