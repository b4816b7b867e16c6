//! RunnerService: runners claim turns under a lease, heartbeat, report.

use std::sync::Arc;
use std::time::Duration;

use runway_api::enums::RunErrorType;
use runway_api::v1::runner_service_server::RunnerService;
use runway_api::v1::*;
use runway_store::repo::events::{self, Appended};
use runway_store::repo::turns;
use runway_store::repo::{agents, deployments, environments, runs};
use tonic::{Request, Response, Status};

use super::Core;
use super::runner_checks::{finish_answer, lease_ids, not_leased, not_leased_as, runner_events};
use crate::convert;
use crate::domain::access::{self, Access};
use crate::domain::run_end::{self, Expect, Outcome};
use crate::error::{ResourceKind, ServiceError, ServiceResult};
use crate::validate;

const MAX_WAIT_MS: i32 = 30_000;
const MAX_ERROR_MESSAGE_BYTES: usize = 64 * 1024;

pub struct RunnerApi {
    core: Arc<Core>,
}

impl RunnerApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// Everything the agent needs for a claimed run.
    async fn turn(&self, run: runway_store::entity::deployment_run::Model) -> ServiceResult<Turn> {
        let store = &self.core.store;
        let dep = deployments::get(store, &run.org_id, &run.deployment_id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("run {} has no deployment", run.id)))?;
        let agent = agents::get_version(store, &run.org_id, &run.agent_id, run.agent_version)
            .await?
            .ok_or_else(|| {
                ServiceError::Internal(format!("run {} has no agent version", run.id))
            })?;
        let session_id = run.session_id.clone().unwrap_or_default();
        let opening = events::opening_of(store, &run.org_id, &session_id).await?;
        let ttl_ms = self.core.lease_ttl_nanos() / 1_000_000;
        Ok(Turn {
            initial_events: opening.into_iter().map(convert::initial_event).collect(),
            lease_id: run.lease_id.clone().unwrap_or_default(),
            lease_expires_at: run.lease_expires_at.map(convert::timestamp),
            heartbeat_interval_ms: (ttl_ms / 3).max(1),
            session_id,
            timeout_ms: run.timeout_ms.unwrap_or(dep.timeout_ms),
            deployment: Some(convert::deployment(&dep, self.core.now())?),
            agent: Some(convert::agent_version(&agent)),
            run: Some(convert::run(run)),
        })
    }
}

#[tonic::async_trait]
impl RunnerService for RunnerApi {
    async fn claim_turn(
        &self,
        request: Request<ClaimTurnRequest>,
    ) -> Result<Response<ClaimTurnResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Run)
            .await?;
        let req = request.get_ref();
        let requested = (!req.environment_id.is_empty()).then_some(req.environment_id.as_str());
        if let Some(env) = requested {
            validate::known_id(ResourceKind::Environment, "environment_id", env)?;
        }
        // A runner token claims only from its environments (checked before
        // the environment is looked up, so it learns nothing of others).
        let environments = access::claimable(who.scope, &who.environment_ids, requested)?;
        if let Some(env) = requested
            && environments::get(&self.core.store, &who.org_id, env)
                .await
                .map_err(ServiceError::from)?
                .is_none()
        {
            return Err(ServiceError::not_found(
                ResourceKind::Environment,
                env.to_string(),
                "environment_id",
            )
            .into());
        }
        if !(0..=MAX_WAIT_MS).contains(&req.wait_ms) {
            return Err(ServiceError::invalid(
                "wait_ms",
                format!("wait_ms must be between 0 and {MAX_WAIT_MS}"),
            )
            .into());
        }
        // Shown in runs, pages, webhooks and logs: a label, bounded like a
        // name (a runner token is the least trusted caller).
        let runner = if req.runner_name.is_empty() {
            "runner".to_string()
        } else {
            validate::name("runner_name", &req.runner_name)?
        };
        let runner = runner.as_str();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(req.wait_ms as u64);
        // A stopping server answers a waiting claim at once (no turn), so
        // its runners' long polls do not hold the stop.
        let mut closing = self.core.closing.subscribe();
        loop {
            if *closing.borrow() {
                return Ok(Response::new(ClaimTurnResponse { turn: None }));
            }
            // A token revoked or expired while its claim waits claims
            // nothing: the turn would go to a runner that may no longer
            // report it (and fail as a lost runner's). Each look (the
            // verdict is cached: a read per token and period at most).
            if !self.core.auth.still_valid(&who).await {
                return Err(ServiceError::Unauthenticated.into());
            }
            // Register for wake-ups before looking, so a start in between is not missed.
            let started = self.core.turns_started.notified();
            tokio::pin!(started);
            started.as_mut().enable();
            let claimed = turns::claim(
                &self.core.store,
                &who.org_id,
                environments.as_deref(),
                runner,
                self.core.now(),
                self.core.lease_ttl_nanos(),
            )
            .await
            .map_err(ServiceError::from)?;
            if let Some(run) = claimed {
                tracing::info!(run_id = %run.id, runner, "turn claimed");
                let turn = self.turn(run).await?;
                return Ok(Response::new(ClaimTurnResponse { turn: Some(turn) }));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Response::new(ClaimTurnResponse { turn: None }));
            }
            // Starts on other replicas wake nobody here: look again every second.
            let wait = deadline.min(now + Duration::from_secs(1));
            tokio::select! {
                _ = tokio::time::timeout_at(wait, started) => {}
                _ = closing.changed() => {}
            }
        }
    }

    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Run)
            .await?;
        let req = request.get_ref();
        lease_ids(&req.run_id, &req.lease_id)?;
        let environments = access::claimable(who.scope, &who.environment_ids, None)?;
        let expires = turns::heartbeat(
            &self.core.store,
            &who.org_id,
            environments.as_deref(),
            &req.run_id,
            &req.lease_id,
            self.core.now(),
            self.core.lease_ttl_nanos(),
        )
        .await
        .map_err(ServiceError::from)?;
        let Some(expires) = expires else {
            // Refused: say why (canceled, timed out, lost), read once.
            let run = runs::get(&self.core.store, &who.org_id, &req.run_id)
                .await
                .map_err(ServiceError::from)?;
            return Err(not_leased_as(&req.run_id, run.as_ref(), environments.as_deref()).into());
        };
        Ok(Response::new(HeartbeatResponse {
            lease_expires_at: Some(convert::timestamp(expires)),
        }))
    }

    async fn complete_turn(
        &self,
        request: Request<CompleteTurnRequest>,
    ) -> Result<Response<CompleteTurnResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Run)
            .await?;
        let req = request.get_ref();
        lease_ids(&req.run_id, &req.lease_id)?;
        let now = self.core.now();
        let environments = access::claimable(who.scope, &who.environment_ids, None)?;
        let expect = Expect::Lease {
            lease: req.lease_id.clone(),
            environments: environments.clone(),
        };
        let decide = run_end::finish(expect, Outcome::Completed, self.core.retry_policy(), now);
        let result = turns::finish(
            &self.core.store,
            Some(&who.org_id),
            &req.run_id,
            now,
            decide,
        )
        .await?;
        self.core.record_finish(&result);
        let (run, _) = finish_answer(result, &req.run_id, environments.as_deref())?;
        Ok(Response::new(CompleteTurnResponse { run: Some(run) }))
    }

    async fn fail_turn(
        &self,
        request: Request<FailTurnRequest>,
    ) -> Result<Response<FailTurnResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Run)
            .await?;
        let req = request.get_ref();
        lease_ids(&req.run_id, &req.lease_id)?;
        let error = req.error.clone().unwrap_or_default();
        let error_type = RunErrorType::from_name(&error.r#type).ok_or_else(|| {
            ServiceError::invalid(
                "error.type",
                format!("error.type must be {}", RunErrorType::expected()),
            )
        })?;
        let mut message = error.message;
        if message.len() > MAX_ERROR_MESSAGE_BYTES {
            let mut cut = message.len() - MAX_ERROR_MESSAGE_BYTES;
            while !message.is_char_boundary(cut) {
                cut += 1;
            }
            message = message[cut..].to_string();
        }
        let now = self.core.now();
        let outcome = Outcome::Failed {
            error_type,
            message,
        };
        let environments = access::claimable(who.scope, &who.environment_ids, None)?;
        let expect = Expect::Lease {
            lease: req.lease_id.clone(),
            environments: environments.clone(),
        };
        let decide = run_end::finish(expect, outcome, self.core.retry_policy(), now);
        let result = turns::finish(
            &self.core.store,
            Some(&who.org_id),
            &req.run_id,
            now,
            decide,
        )
        .await?;
        self.core.record_finish(&result);
        let (run, retry) = finish_answer(result, &req.run_id, environments.as_deref())?;
        Ok(Response::new(FailTurnResponse {
            run: Some(run),
            retry,
        }))
    }

    async fn append_events(
        &self,
        request: Request<AppendEventsRequest>,
    ) -> Result<Response<AppendEventsResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Run)
            .await?;
        let req = request.get_ref();
        lease_ids(&req.run_id, &req.lease_id)?;
        let now = self.core.now();
        let batch = runner_events(&req.events, now)?;
        let expect = Expect::Lease {
            lease: req.lease_id.clone(),
            environments: access::claimable(who.scope, &who.environment_ids, None)?,
        };
        let appended = events::append_for_runner(
            &self.core.store,
            &who.org_id,
            &req.run_id,
            now,
            |run| expect.holds(run),
            batch,
        )
        .await
        .map_err(ServiceError::from)?;
        match appended {
            Appended::NotFound => Err(ServiceError::not_found(
                ResourceKind::DeploymentRun,
                req.run_id.clone(),
                "run_id",
            )
            .into()),
            Appended::Refused => Err(not_leased(&req.run_id).into()),
            Appended::Recorded(rows) => {
                let events = rows.iter().map(convert::event).collect();
                self.core.events.publish(rows);
                Ok(Response::new(AppendEventsResponse { events }))
            }
        }
    }
}
