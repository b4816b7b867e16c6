//! DeploymentService: deployments' lifecycle. The run RPCs live in `runs`.

use std::sync::Arc;

use runway_api::enums;
use runway_api::v1::deployment_service_server::DeploymentService;
use runway_api::v1::*;
use runway_store::entity::deployment;
use runway_store::ids::IdKind;
use runway_store::repo::deployments::{self, DeploymentDraft, DeploymentFilter};
use runway_store::repo::{agents, environments};
use tonic::{Request, Response, Status};

use super::deployment_fields::{
    DEFAULT_MAX_CONCURRENT, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_MS, initial_events,
    max_concurrent, max_consecutive_failures, max_retries, own_retention, schedule,
    session_strategy, timeout_ms, vault_ids,
};
use super::deployment_update::DeploymentUpdate;
use super::{Core, mask_paths, runs};
use crate::convert;
use crate::domain::access::{self, Access};
use crate::domain::deployment_not_found as not_found;
use crate::domain::{archived, lifecycle};
use crate::error::{Reason, ResourceKind, ServiceError, ServiceResult};
use crate::paging;
use crate::validate;

pub struct DeploymentApi {
    core: Arc<Core>,
}

impl DeploymentApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    async fn load(&self, org_id: &str, id: &str) -> ServiceResult<deployment::Model> {
        validate::known_id(ResourceKind::Deployment, "deployment_id", id)?;
        deployments::get(&self.core.store, org_id, id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// The agent version a deployment pins: version 0 is the latest.
    async fn resolve_agent(
        &self,
        org_id: &str,
        agent: Option<&AgentRef>,
    ) -> ServiceResult<(String, i32)> {
        let agent = agent.ok_or_else(|| ServiceError::invalid("agent", "agent is required"))?;
        validate::known_id(ResourceKind::Agent, "agent", &agent.id)?;
        let not_found = || ServiceError::not_found(ResourceKind::Agent, agent.id.clone(), "agent");
        let row = agents::get(&self.core.store, org_id, &agent.id)
            .await?
            .ok_or_else(not_found)?;
        if row.archived_at.is_some() {
            return Err(ServiceError::precondition(
                Reason::AgentArchived,
                format!("Agent {} is archived", agent.id),
            ));
        }
        match agent.version {
            0 => Ok((row.id, row.version)),
            v if v > 0 && v <= row.version => Ok((row.id, v)),
            v => Err(ServiceError::not_found(
                ResourceKind::AgentVersion,
                format!("{} version {v}", agent.id),
                "agent.version",
            )),
        }
    }

    async fn resolve_environment(&self, org_id: &str, id: &str) -> ServiceResult<String> {
        if id.is_empty() {
            return Err(ServiceError::invalid(
                "environment_id",
                "environment_id is required",
            ));
        }
        validate::known_id(ResourceKind::Environment, "environment_id", id)?;
        let not_found =
            || ServiceError::not_found(ResourceKind::Environment, id.to_string(), "environment_id");
        let row = environments::get(&self.core.store, org_id, id)
            .await?
            .ok_or_else(not_found)?;
        if row.archived_at.is_some() {
            return Err(ServiceError::precondition(
                Reason::EnvironmentArchived,
                format!("Environment {id} is archived"),
            ));
        }
        Ok(row.id)
    }

    fn answer(&self, row: &deployment::Model) -> ServiceResult<Option<Deployment>> {
        Ok(Some(convert::deployment(row, self.core.now())?))
    }

    /// Authenticates, then applies the lifecycle rule `rule` to deployment
    /// `id`, locked, and answers with the result.
    async fn transition(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        id: &str,
        rule: impl FnOnce(&mut deployment::Model) -> ServiceResult<()>,
    ) -> ServiceResult<Option<Deployment>> {
        let who = self.core.auth.principal(metadata, Access::Write).await?;
        validate::known_id(ResourceKind::Deployment, "deployment_id", id)?;
        let now = self.core.now();
        let row = deployments::modify(&self.core.store, &who.org_id, id, now, rule)
            .await?
            .ok_or_else(|| not_found(id))?;
        self.answer(&row)
    }
}

#[tonic::async_trait]
impl DeploymentService for DeploymentApi {
    async fn create_deployment(
        &self,
        request: Request<CreateDeploymentRequest>,
    ) -> Result<Response<CreateDeploymentResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let req = request.get_ref();
        let org = who.org_id.as_str();
        let name = validate::name("name", &req.name)?;
        let description = validate::text("description", req.description.as_ref())?;
        let events = initial_events(&req.initial_events)?;
        let schedule = schedule(req.schedule.as_ref())?;
        let resources = validate::typed_objects("resources", &req.resources)?;
        let vault_ids = vault_ids(&req.vault_ids)?;
        validate::deployment_metadata("metadata", &req.metadata)?;
        let config = req.config.unwrap_or_default();
        let max_concurrent =
            max_concurrent(config.max_concurrent.unwrap_or(DEFAULT_MAX_CONCURRENT))?;
        let max_retries = max_retries(config.max_retries.unwrap_or(DEFAULT_MAX_RETRIES))?;
        let timeout_ms = timeout_ms(config.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS))?;
        let max_consecutive_failures = max_consecutive_failures(config.max_consecutive_failures)?;
        let session_strategy = session_strategy(req.session_strategy)?;
        if req.retention.is_some() {
            access::require(who.scope, Access::Retention)?;
        }
        let retention = own_retention(req.retention.as_ref())?;
        let (agent_id, agent_version) = self.resolve_agent(org, req.agent.as_ref()).await?;
        let environment_id = self.resolve_environment(org, &req.environment_id).await?;

        let now = self.core.now();
        let draft = DeploymentDraft {
            name,
            description,
            agent_id,
            agent_version,
            environment_id,
            initial_events: events,
            next_fire_at: schedule.as_ref().and_then(|(_, _, s)| s.next_after(now)),
            schedule_expression: schedule.as_ref().map(|(e, _, _)| e.clone()),
            schedule_timezone: schedule.as_ref().map(|(_, z, _)| z.clone()),
            resources,
            vault_ids,
            metadata: req.metadata.clone(),
            max_concurrent,
            max_retries,
            max_consecutive_failures,
            timeout_ms,
            session_strategy,
            retention,
        };
        let row = self
            .core
            .idempotency
            .run(
                org,
                request.metadata(),
                "CreateDeployment",
                req,
                |claim| async move {
                    let store = &self.core.store;
                    Ok(deployments::create(store, org, draft, claim.as_ref(), now).await?)
                },
                |id| async move { self.load(org, &id).await },
            )
            .await?;
        Ok(Response::new(CreateDeploymentResponse {
            deployment: self.answer(&row)?,
        }))
    }

    async fn get_deployment(
        &self,
        request: Request<GetDeploymentRequest>,
    ) -> Result<Response<GetDeploymentResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let row = self
            .load(&who.org_id, &request.get_ref().deployment_id)
            .await?;
        Ok(Response::new(GetDeploymentResponse {
            deployment: self.answer(&row)?,
        }))
    }

    async fn list_deployments(
        &self,
        request: Request<ListDeploymentsRequest>,
    ) -> Result<Response<ListDeploymentsResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let req = request.get_ref();
        let status = req
            .status
            .map(|s| {
                enums::DeploymentStatus::from_proto(s).ok_or_else(|| {
                    ServiceError::invalid(
                        "status",
                        format!("status must be {}", enums::DeploymentStatus::expected()),
                    )
                })
            })
            .transpose()?;
        if let Some(id) = &req.agent_id {
            validate::no_nul("agent_id", id)?;
        }
        let filter = DeploymentFilter {
            status,
            include_archived: req.include_archived,
            agent_id: req.agent_id.clone(),
        };
        let store = &self.core.store;
        let org = who.org_id.as_str();
        let query = paging::plan(req.page.as_ref(), IdKind::Deployment)?
            .resolve(|id| async move { Ok(deployments::key_of(store, org, &id).await?) })
            .await?;
        let page = deployments::list(store, org, &filter, &query)
            .await
            .map_err(ServiceError::from)?;
        let now = self.core.now();
        Ok(Response::new(ListDeploymentsResponse {
            deployments: page
                .items
                .iter()
                .map(|d| convert::deployment(d, now))
                .collect::<ServiceResult<_>>()?,
            page_info: Some(paging::info(&page, |d| &d.id)),
        }))
    }

    async fn update_deployment(
        &self,
        request: Request<UpdateDeploymentRequest>,
    ) -> Result<Response<UpdateDeploymentResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let req = request.get_ref();
        let org = who.org_id.as_str();
        let id = req.deployment_id.as_str();
        validate::known_id(ResourceKind::Deployment, "deployment_id", id)?;
        let paths = mask_paths(
            req.update_mask.as_ref(),
            &[
                "name",
                "description",
                "agent",
                "environment_id",
                "initial_events",
                "schedule",
                "resources",
                "vault_ids",
                "config.max_concurrent",
                "config.max_retries",
                "config.timeout_ms",
                "config.max_consecutive_failures",
                "session_strategy",
                "retention",
            ],
            &["metadata."],
        )?;
        // Check and resolve everything the mask names before locking: the
        // fields themselves first, then what they name in the database.
        let mut update = DeploymentUpdate::checked(req, paths, who.scope)?;
        if update.names("agent") {
            update.agent = Some(self.resolve_agent(org, req.agent.as_ref()).await?);
        }
        if update.names("environment_id") {
            update.environment_id = Some(self.resolve_environment(org, &req.environment_id).await?);
        }
        let now = self.core.now();
        let row = deployments::modify(&self.core.store, org, id, now, |row| {
            if row.archived_at.is_some() {
                return Err(archived(id));
            }
            update.apply(row, now)
        })
        .await?
        .ok_or_else(|| not_found(id))?;
        Ok(Response::new(UpdateDeploymentResponse {
            deployment: self.answer(&row)?,
        }))
    }

    async fn pause_deployment(
        &self,
        request: Request<PauseDeploymentRequest>,
    ) -> Result<Response<PauseDeploymentResponse>, Status> {
        let id = &request.get_ref().deployment_id;
        let deployment = self
            .transition(request.metadata(), id, lifecycle::pause)
            .await?;
        Ok(Response::new(PauseDeploymentResponse { deployment }))
    }

    async fn unpause_deployment(
        &self,
        request: Request<UnpauseDeploymentRequest>,
    ) -> Result<Response<UnpauseDeploymentResponse>, Status> {
        let id = &request.get_ref().deployment_id;
        let now = self.core.now();
        let deployment = self
            .transition(request.metadata(), id, |row| lifecycle::unpause(row, now))
            .await?;
        Ok(Response::new(UnpauseDeploymentResponse { deployment }))
    }

    async fn archive_deployment(
        &self,
        request: Request<ArchiveDeploymentRequest>,
    ) -> Result<Response<ArchiveDeploymentResponse>, Status> {
        let id = &request.get_ref().deployment_id;
        let now = self.core.now();
        let deployment = self
            .transition(request.metadata(), id, |row| lifecycle::archive(row, now))
            .await?;
        Ok(Response::new(ArchiveDeploymentResponse { deployment }))
    }

    async fn run_deployment(
        &self,
        request: Request<RunDeploymentRequest>,
    ) -> Result<Response<RunDeploymentResponse>, Status> {
        Ok(Response::new(
            runs::run_deployment(&self.core, request).await?,
        ))
    }

    async fn get_deployment_run(
        &self,
        request: Request<GetDeploymentRunRequest>,
    ) -> Result<Response<GetDeploymentRunResponse>, Status> {
        Ok(Response::new(runs::get_run(&self.core, request).await?))
    }

    async fn list_deployment_runs(
        &self,
        request: Request<ListDeploymentRunsRequest>,
    ) -> Result<Response<ListDeploymentRunsResponse>, Status> {
        Ok(Response::new(
            runs::list_deployment_runs(&self.core, request).await?,
        ))
    }

    async fn cancel_deployment_run(
        &self,
        request: Request<CancelDeploymentRunRequest>,
    ) -> Result<Response<CancelDeploymentRunResponse>, Status> {
        Ok(Response::new(runs::cancel_run(&self.core, request).await?))
    }

    async fn list_runs(
        &self,
        request: Request<ListRunsRequest>,
    ) -> Result<Response<ListRunsResponse>, Status> {
        Ok(Response::new(runs::list_runs(&self.core, request).await?))
    }

    type WatchRunsStream = super::watch_runs::WatchRunsStream;

    async fn watch_runs(
        &self,
        request: Request<WatchRunsRequest>,
    ) -> Result<Response<Self::WatchRunsStream>, Status> {
        Ok(Response::new(
            super::watch_runs::watch_runs(self.core.clone(), request).await?,
        ))
    }
}
