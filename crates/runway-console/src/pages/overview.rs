//! The overview: the last 24 hours' runs by outcome, the deployments
//! failing now, skipped and missed scheduled runs, and the runs holding a
//! runner's lease.

use futures::future::try_join_all;
use maud::{Markup, html};
use runway_api::enums::{RunStatus, TriggerType};
use runway_api::v1::{
    Deployment, DeploymentRun, ListDeploymentsRequest, ListRunsRequest, PageRequest,
};

use super::runs::runs_table;
use crate::api::Api;
use crate::failure::PageError;
use crate::format;
use crate::layout::{self, Nav};

/// Runs counted per outcome; more shows as "1000+".
const COUNT_CAP: i32 = 1000;
/// Deployments looked at for failures and missed fire times.
const DEPLOYMENTS_SCANNED: i32 = 1000;

async fn runs(
    api: &Api,
    request: ListRunsRequest,
) -> Result<(Vec<DeploymentRun>, bool), PageError> {
    let page = api
        .deployments()
        .list_runs(api.request(request))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner();
    let more = page.page_info.is_some_and(|p| p.has_more);
    Ok((page.runs, more))
}

fn since(
    day_ago: prost_types::Timestamp,
    status: Option<RunStatus>,
    limit: i32,
) -> ListRunsRequest {
    ListRunsRequest {
        page: Some(PageRequest {
            limit: Some(limit),
            ..PageRequest::default()
        }),
        status: status.map(RunStatus::to_proto),
        triggered_after: Some(day_ago),
        ..ListRunsRequest::default()
    }
}

pub async fn show(api: Api) -> Result<Markup, PageError> {
    let now = std::time::SystemTime::now();
    let day_ago = prost_types::Timestamp::from(now - std::time::Duration::from_secs(24 * 3600));
    let counts = try_join_all(
        RunStatus::ALL
            .iter()
            .map(|s| runs(&api, since(day_ago, Some(*s), COUNT_CAP))),
    )
    .await?;
    let (skipped, _) = runs(&api, since(day_ago, Some(RunStatus::Skipped), 10)).await?;
    let (running, _) = runs(
        &api,
        ListRunsRequest {
            page: Some(PageRequest {
                limit: Some(100),
                ..PageRequest::default()
            }),
            status: Some(RunStatus::Running.to_proto()),
            ..ListRunsRequest::default()
        },
    )
    .await?;
    let deployments: Vec<Deployment> = api
        .deployments()
        .list_deployments(api.request(ListDeploymentsRequest {
            page: Some(PageRequest {
                limit: Some(DEPLOYMENTS_SCANNED),
                ..PageRequest::default()
            }),
            ..ListDeploymentsRequest::default()
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner()
        .deployments;
    let stats = |d: &Deployment| {
        d.cas_config
            .as_ref()
            .and_then(|c| c.stats)
            .unwrap_or_default()
    };
    let failing: Vec<&Deployment> = deployments
        .iter()
        .filter(|d| stats(d).consecutive_failures > 0)
        .collect();
    let missing: Vec<&Deployment> = deployments
        .iter()
        .filter(|d| stats(d).missed_fires > 0)
        .collect();
    let leased: Vec<&DeploymentRun> = running
        .iter()
        .filter(|r| {
            r.cas_run_extras
                .as_ref()
                .is_some_and(|e| e.runner_name.is_some())
        })
        .collect();
    let body = html! {
        section aria-labelledby="day-h" {
            h2 #day-h { "Runs in the last 24 hours" }
            ul.cards {
                @for (status, (runs, more)) in RunStatus::ALL.iter().zip(&counts) {
                    li.card {
                        a href=(format!("/runs?status={}", status.name())) {
                            span.count { (runs.len()) @if *more { "+" } }
                            " " (format::run_status(status.to_proto()))
                        }
                    }
                }
            }
        }
        section aria-labelledby="failing-h" {
            h2 #failing-h { "Failing now" }
            @if failing.is_empty() { p.none { "No deployment's last run failed." } }
            @else {
                ul { @for d in &failing {
                    li { a href=(format!("/deployments/{}", d.id)) { (d.name) } " – " (stats(d).consecutive_failures) " failed in a row" }
                } }
            }
        }
        section aria-labelledby="skipped-h" {
            h2 #skipped-h { "Skipped and missed" }
            @if missing.is_empty() && skipped.is_empty() { p.none { "Nothing skipped or missed in the last 24 hours." } }
            @if !missing.is_empty() {
                ul { @for d in &missing {
                    li { a href=(format!("/deployments/{}", d.id)) { (d.name) } " – " (stats(d).missed_fires) " scheduled times missed while no scheduler ran" }
                } }
            }
            @if !skipped.is_empty() {
                (runs_table(&skipped, true))
                p { a href=(format!("/runs?status=skipped&trigger_type={}", TriggerType::Schedule.name())) { "All skipped scheduled runs" } }
            }
        }
        section aria-labelledby="leases-h" {
            h2 #leases-h { "Runners holding leases" }
            @if leased.is_empty() { p.none { "No runner is executing a run." } }
            @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Runner" } th scope="col" { "Run" } th scope="col" { "Started" } } }
                    tbody { @for r in &leased {
                        tr {
                            td { (r.cas_run_extras.as_ref().and_then(|e| e.runner_name.as_deref()).unwrap_or_default()) }
                            td { a href=(format!("/runs/{}", r.id)) { code { (r.id) } } }
                            td { (format::time(r.cas_run_extras.as_ref().and_then(|e| e.started_at.as_ref()))) }
                        }
                    } }
                } }
            }
        }
    };
    Ok(layout::page(&api.session, "Overview", Nav::Overview, body))
}
