//! The run RPCs of DeploymentService: trigger, read, list.

use runway_api::enums::{RunStatus, TriggerType};
use runway_api::v1::*;
use runway_store::ids::IdKind;
use runway_store::repo::deployments;
use runway_store::repo::runs::{self, RunFilter, RunScope};
use runway_store::repo::turns::{self, Finish};
use tonic::Request;

use super::Core;
use crate::convert;
use crate::domain::access::Access;
use crate::domain::deployment_not_found as not_found;
use crate::domain::run_end::{self, Expect, RetryPolicy};
use crate::error::{Reason, ResourceKind, ServiceError, ServiceResult};
use crate::paging;
use crate::validate;

fn run_not_found(id: &str) -> ServiceError {
    ServiceError::not_found(ResourceKind::DeploymentRun, id, "run_id")
}

async fn load_run(
    core: &Core,
    org_id: &str,
    id: &str,
) -> ServiceResult<runway_store::entity::deployment_run::Model> {
    validate::known_id(ResourceKind::DeploymentRun, "run_id", id)?;
    runs::get(&core.store, org_id, id)
        .await?
        .ok_or_else(|| run_not_found(id))
}

pub async fn run_deployment(
    core: &Core,
    request: Request<RunDeploymentRequest>,
) -> ServiceResult<RunDeploymentResponse> {
    let who = core
        .auth
        .principal(request.metadata(), Access::Write)
        .await?;
    let req = request.get_ref();
    let org = who.org_id.as_str();
    let id = req.deployment_id.as_str();
    validate::known_id(ResourceKind::Deployment, "deployment_id", id)?;
    let run = core
        .idempotency
        .run_claiming_first(
            org,
            request.metadata(),
            "RunDeployment",
            req,
            |claim| async move {
                let at = core.now();
                // Batched with the other triggers in flight, key claim and all.
                let recorded = core.triggers.trigger(org, id, at, claim).await?;
                let run = recorded.ok_or_else(|| not_found(id))?;
                if run.session_id.is_some() {
                    core.turns_started.notify_waiters();
                }
                core.metrics.triggered(TriggerType::Manual, run.status);
                Ok(run)
            },
            |run_id| async move { load_run(core, org, &run_id).await },
        )
        .await?;
    Ok(RunDeploymentResponse {
        run: Some(convert::run(run)),
    })
}

pub async fn get_run(
    core: &Core,
    request: Request<GetDeploymentRunRequest>,
) -> ServiceResult<GetDeploymentRunResponse> {
    let who = core
        .auth
        .principal(request.metadata(), Access::Read)
        .await?;
    let req = request.get_ref();
    if let Some(dep) = &req.deployment_id {
        validate::known_id(ResourceKind::Deployment, "deployment_id", dep)?;
    }
    let run = load_run(core, &who.org_id, &req.run_id).await?;
    if req
        .deployment_id
        .as_ref()
        .is_some_and(|dep| *dep != run.deployment_id)
    {
        return Err(run_not_found(&req.run_id));
    }
    Ok(GetDeploymentRunResponse {
        run: Some(convert::run(run)),
    })
}

fn status_filter(status: Option<i32>) -> ServiceResult<Option<RunStatus>> {
    status
        .map(|s| {
            RunStatus::from_proto(s).ok_or_else(|| {
                ServiceError::invalid(
                    "status",
                    format!("status must be {}", RunStatus::expected()),
                )
            })
        })
        .transpose()
}

/// A page of `org`'s runs under `filter`; `checked`: the deployment the
/// caller has already found in `org` (the page's scope, read once).
async fn list(
    core: &Core,
    org: &str,
    checked: Option<&str>,
    filter: RunFilter,
    page: Option<&PageRequest>,
) -> ServiceResult<(Vec<DeploymentRun>, PageInfo)> {
    let store = &core.store;
    let query = paging::plan(page, IdKind::Run)?
        .resolve(|id| async move { Ok(runs::key_of(store, org, &id).await?) })
        .await?;
    let page = match checked {
        Some(id) => runs::list_in(store, RunScope::Deployment(id), &filter, &query).await?,
        None => runs::list(store, org, &filter, &query).await?,
    };
    let info = paging::info(&page, |r| &r.id);
    Ok((page.items.into_iter().map(convert::run).collect(), info))
}

pub async fn list_deployment_runs(
    core: &Core,
    request: Request<ListDeploymentRunsRequest>,
) -> ServiceResult<ListDeploymentRunsResponse> {
    let who = core
        .auth
        .principal(request.metadata(), Access::Read)
        .await?;
    let req = request.get_ref();
    let id = req.deployment_id.as_str();
    validate::known_id(ResourceKind::Deployment, "deployment_id", id)?;
    if deployments::get(&core.store, &who.org_id, id)
        .await?
        .is_none()
    {
        return Err(not_found(id));
    }
    let filter = RunFilter {
        deployment_id: Some(id.to_string()),
        status: status_filter(req.status)?,
        triggered_after: req.triggered_after.as_ref().map(convert::nanos),
        triggered_before: req.triggered_before.as_ref().map(convert::nanos),
        ..RunFilter::default()
    };
    let (runs, page_info) = list(core, &who.org_id, Some(id), filter, req.page.as_ref()).await?;
    Ok(ListDeploymentRunsResponse {
        runs,
        page_info: Some(page_info),
    })
}

pub async fn list_runs(
    core: &Core,
    request: Request<ListRunsRequest>,
) -> ServiceResult<ListRunsResponse> {
    let who = core
        .auth
        .principal(request.metadata(), Access::Read)
        .await?;
    list_runs_of(core, &who.org_id, request.get_ref()).await
}

/// The page of `org_id`'s runs that `req` asks for.
pub(crate) async fn list_runs_of(
    core: &Core,
    org_id: &str,
    req: &ListRunsRequest,
) -> ServiceResult<ListRunsResponse> {
    // A filter by an id that names nothing matches nothing, malformed or
    // not, as `agent_id` does on deployments; only a NUL is refused (no
    // text holds one: PostgreSQL could not compare it).
    if let Some(id) = &req.deployment_id {
        validate::no_nul("deployment_id", id)?;
    }
    let trigger_type = req
        .trigger_type
        .map(|t| {
            TriggerType::from_proto(t).ok_or_else(|| {
                ServiceError::invalid(
                    "trigger_type",
                    format!("trigger_type must be {}", TriggerType::expected()),
                )
            })
        })
        .transpose()?;
    let filter = RunFilter {
        deployment_id: req.deployment_id.clone(),
        status: status_filter(req.status)?,
        trigger_type,
        has_error: req.has_error,
        triggered_after: req.triggered_after.as_ref().map(convert::nanos),
        triggered_before: req.triggered_before.as_ref().map(convert::nanos),
    };
    let (runs, page_info) = list(core, org_id, None, filter, req.page.as_ref()).await?;
    Ok(ListRunsResponse {
        runs,
        page_info: Some(page_info),
    })
}

pub async fn cancel_run(
    core: &Core,
    request: Request<CancelDeploymentRunRequest>,
) -> ServiceResult<CancelDeploymentRunResponse> {
    let who = core
        .auth
        .principal(request.metadata(), Access::Write)
        .await?;
    let id = request.get_ref().run_id.as_str();
    validate::known_id(ResourceKind::DeploymentRun, "run_id", id)?;
    let now = core.now();
    let decide = run_end::finish(Expect::Active, run_end::canceled(), RetryPolicy::Never, now);
    let result = turns::finish(&core.store, Some(&who.org_id), id, now, decide).await?;
    core.record_finish(&result);
    match result {
        Finish::NotFound => Err(run_not_found(id)),
        Finish::Refused(run) => Err(ServiceError::precondition(
            Reason::RunAlreadyTerminal,
            format!("Deployment run {id} is already {}", run.status),
        )),
        Finish::Finished { run, .. } => Ok(CancelDeploymentRunResponse {
            run: Some(convert::run(*run)),
        }),
    }
}
