//! DeploymentService: deployments' lifecycle. The run RPCs live in `runs`.

use std::sync::Arc;

use runway_api::enums::{self, InitialEventType, ScheduleType, SessionStrategy};
use runway_api::json_value;
use runway_api::v1::deployment_service_server::DeploymentService;
use runway_api::v1::*;
use runway_store::entity::deployment::{self, InitialEvent as StoredEvent};
use runway_store::entity::organization::RetentionRules;
use runway_store::ids::IdKind;
use runway_store::json_text::JsonText;
use runway_store::repo::deployments::{self, DeploymentDraft, DeploymentFilter};
use runway_store::repo::{agents, environments};
use tonic::{Request, Response, Status};

use super::{Core, mask_paths, runs};
use crate::convert;
use crate::domain::access::{self, Access};
use crate::domain::deployment_not_found as not_found;
use crate::domain::{archived, lifecycle, retention};
use crate::error::{Reason, ResourceKind, ServiceError, ServiceResult};
use crate::paging;
use crate::schedule::CronSchedule;
use crate::validate;

const MAX_INITIAL_EVENTS: usize = 50;
const MAX_VAULT_IDS: usize = 50;
const DEFAULT_MAX_CONCURRENT: i32 = 1;
const DEFAULT_MAX_RETRIES: i32 = 0;
const DEFAULT_TIMEOUT_MS: i64 = 300_000;

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

fn initial_events(events: &[InitialEvent]) -> ServiceResult<Vec<StoredEvent>> {
    if events.is_empty() || events.len() > MAX_INITIAL_EVENTS {
        return Err(ServiceError::invalid(
            "initial_events",
            format!(
                "initial_events must hold 1 to {MAX_INITIAL_EVENTS} events, got {}",
                events.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let kind = InitialEventType::from_proto(event.r#type).ok_or_else(|| {
            ServiceError::invalid(
                format!("initial_events[{i}].type"),
                format!("type must be {}", InitialEventType::expected()),
            )
        })?;
        let content = event
            .content
            .as_ref()
            .map(json_value::from_proto)
            .unwrap_or_default();
        validate::json_depth(&format!("initial_events[{i}].content"), &content)?;
        // As large as an event a runner records may be: each one is part of
        // the turn a runner claims, and of the session's transcript.
        validate::event_size(&format!("initial_events[{i}].content"), &content)?;
        let valid = match &content {
            serde_json::Value::String(s) => !s.is_empty(),
            serde_json::Value::Array(blocks) => {
                !blocks.is_empty()
                    && blocks
                        .iter()
                        .all(|b| b["type"].as_str().is_some_and(|t| !t.is_empty()))
            }
            _ => false,
        };
        if !valid {
            return Err(ServiceError::invalid(
                format!("initial_events[{i}].content"),
                "content must be a non-empty string or a non-empty list of content blocks, each an object with a type",
            ));
        }
        out.push(StoredEvent { kind, content });
    }
    Ok(out)
}

fn vault_ids(ids: &[String]) -> ServiceResult<Vec<String>> {
    if ids.len() > MAX_VAULT_IDS {
        return Err(ServiceError::invalid(
            "vault_ids",
            format!(
                "vault_ids may hold at most {MAX_VAULT_IDS} ids, got {}",
                ids.len()
            ),
        ));
    }
    if let Some(i) = ids.iter().position(|id| {
        id.is_empty() || id.chars().count() > 256 || id.chars().any(char::is_control)
    }) {
        return Err(ServiceError::invalid(
            format!("vault_ids[{i}]"),
            "vault ids must be 1 to 256 characters, none of them a control character",
        ));
    }
    Ok(ids.to_vec())
}

fn max_concurrent(v: i32) -> ServiceResult<i32> {
    in_range("config.max_concurrent", i64::from(v), 1, 100).map(|_| v)
}

fn max_retries(v: i32) -> ServiceResult<i32> {
    in_range("config.max_retries", i64::from(v), 0, 10).map(|_| v)
}

fn max_consecutive_failures(v: Option<i32>) -> ServiceResult<Option<i32>> {
    match v {
        Some(v) => {
            in_range("config.max_consecutive_failures", i64::from(v), 1, 1000).map(|_| Some(v))
        }
        None => Ok(None),
    }
}

fn timeout_ms(v: i64) -> ServiceResult<i64> {
    in_range("config.timeout_ms", v, 1000, 86_400_000).map(|_| v)
}

fn in_range(param: &str, v: i64, min: i64, max: i64) -> ServiceResult<()> {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            param,
            format!("{param} must be between {min} and {max}, got {v}"),
        ))
    }
}

/// A deployment's own retention rules, checked; `None`: its
/// organization's policy.
fn own_retention(
    rules: Option<&runway_api::v1::RetentionRules>,
) -> ServiceResult<Option<RetentionRules>> {
    rules
        .map(|r| retention::check("retention.", convert::retention_rules_from(r)))
        .transpose()
}

/// The session strategy; proto's UNSPECIFIED (0) means the default.
fn session_strategy(v: i32) -> ServiceResult<SessionStrategy> {
    if v == 0 {
        return Ok(SessionStrategy::NewSession);
    }
    SessionStrategy::from_proto(v).ok_or_else(|| {
        ServiceError::invalid(
            "session_strategy",
            format!("session_strategy must be {}", SessionStrategy::expected()),
        )
    })
}

/// A schedule's expression and zone, validated, or `None` for no schedule.
fn schedule(s: Option<&Schedule>) -> ServiceResult<Option<(String, String, CronSchedule)>> {
    let Some(s) = s else { return Ok(None) };
    // Proto's UNSPECIFIED (0) means the default, cron.
    if s.r#type != 0 && ScheduleType::from_proto(s.r#type).is_none() {
        return Err(ServiceError::invalid(
            "schedule.type",
            format!("schedule.type must be {}", ScheduleType::expected()),
        ));
    }
    let parsed = CronSchedule::parse_new(&s.expression, &s.timezone)?;
    Ok(Some((s.expression.clone(), s.timezone.clone(), parsed)))
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
        let has = |p: &str| paths.contains(&p);
        let config = req.config.unwrap_or_default();
        let missing = |p: &str| ServiceError::invalid(p, format!("{p} must be given when updated"));

        // Validate and resolve everything the mask names before locking.
        let name = has("name")
            .then(|| validate::name("name", &req.name))
            .transpose()?;
        let description = validate::text("description", req.description.as_ref())?;
        let agent = match has("agent") {
            true => Some(self.resolve_agent(org, req.agent.as_ref()).await?),
            false => None,
        };
        let environment_id = match has("environment_id") {
            true => Some(self.resolve_environment(org, &req.environment_id).await?),
            false => None,
        };
        let events = has("initial_events")
            .then(|| initial_events(&req.initial_events))
            .transpose()?;
        let schedule = has("schedule")
            .then(|| schedule(req.schedule.as_ref()))
            .transpose()?;
        let resources = has("resources")
            .then(|| validate::typed_objects("resources", &req.resources))
            .transpose()?;
        let vault_ids = has("vault_ids")
            .then(|| vault_ids(&req.vault_ids))
            .transpose()?;
        let max_concurrent = has("config.max_concurrent")
            .then(|| {
                max_concurrent(
                    config
                        .max_concurrent
                        .ok_or_else(|| missing("config.max_concurrent"))?,
                )
            })
            .transpose()?;
        let max_retries = has("config.max_retries")
            .then(|| {
                max_retries(
                    config
                        .max_retries
                        .ok_or_else(|| missing("config.max_retries"))?,
                )
            })
            .transpose()?;
        let timeout_ms = has("config.timeout_ms")
            .then(|| {
                timeout_ms(
                    config
                        .timeout_ms
                        .ok_or_else(|| missing("config.timeout_ms"))?,
                )
            })
            .transpose()?;
        let failure_limit = has("config.max_consecutive_failures")
            .then(|| max_consecutive_failures(config.max_consecutive_failures))
            .transpose()?;
        if has("session_strategy") {
            session_strategy(req.session_strategy)?;
        }
        if has("retention") {
            access::require(who.scope, Access::Retention)?;
        }
        let retention = has("retention")
            .then(|| own_retention(req.retention.as_ref()))
            .transpose()?;

        let now = self.core.now();
        let row = deployments::modify(&self.core.store, org, id, now, |row| {
            if row.archived_at.is_some() {
                return Err(archived(id));
            }
            if let Some(name) = name {
                row.name = name;
            }
            if has("description") {
                row.description = description;
            }
            if let Some((agent_id, version)) = agent {
                row.agent_id = agent_id;
                row.agent_version = version;
            }
            if let Some(env) = environment_id {
                row.environment_id = env;
            }
            if let Some(events) = events {
                row.initial_events = JsonText(events);
            }
            if let Some(schedule) = schedule {
                row.next_fire_at = match &schedule {
                    Some((_, _, s)) if crate::domain::is_live(row) => s.next_after(now),
                    _ => None,
                };
                row.schedule_expression = schedule.as_ref().map(|(e, _, _)| e.clone());
                row.schedule_timezone = schedule.map(|(_, z, _)| z);
            }
            if let Some(resources) = resources {
                row.resources = JsonText(resources);
            }
            if let Some(vault_ids) = vault_ids {
                row.vault_ids = JsonText(vault_ids);
            }
            let metadata = &mut row.metadata.0;
            for path in &paths {
                if let Some(key) = path.strip_prefix("metadata.") {
                    match req.metadata.get(key) {
                        Some(value) => metadata.insert(key.to_string(), value.clone()),
                        None => metadata.remove(key),
                    };
                }
            }
            validate::deployment_metadata("metadata", metadata)?;
            if let Some(v) = max_concurrent {
                row.max_concurrent = v;
            }
            if let Some(v) = max_retries {
                row.max_retries = v;
            }
            if let Some(v) = timeout_ms {
                row.timeout_ms = v;
            }
            if let Some(v) = failure_limit {
                row.max_consecutive_failures = v;
            }
            if let Some(rules) = retention {
                row.retention = rules.map(JsonText);
            }
            Ok(())
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
