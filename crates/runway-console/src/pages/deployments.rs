//! The deployments list (schedule in plain words, next run in the
//! deployment's zone and the viewer's, the last 20 outcomes) and the run /
//! pause / unpause buttons. The new deployment form is `deployment_form`.

use crate::form::PageForm;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use futures::future::join_all;
use maud::{Markup, html};
use runway_api::enums::DeploymentStatus;
use runway_api::v1::{
    Deployment, DeploymentRun, ListDeploymentRunsRequest, ListDeploymentsRequest, PageRequest,
    PauseDeploymentRequest, RunDeploymentRequest, Schedule, UnpauseDeploymentRequest,
};

use super::{Cursor, action_button, pager};
use crate::api::Api;
use crate::failure::PageError;
use crate::format;
use crate::layout::{self, Nav};

/// Deployments a page of the list shows.
const PAGE: i32 = 25;
/// Outcomes the strip shows.
const STRIP: i32 = 20;

/// The list's query: its cursor, and `archived=1` to show archived ones too.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    page: Option<String>,
    archived: Option<String>,
}

pub async fn list(api: Api, Query(q): Query<ListQuery>) -> Result<Markup, PageError> {
    let cursor = Cursor { page: q.page };
    let archived = q.archived.as_deref() == Some("1");
    let page = api
        .deployments()
        .list_deployments(api.request(ListDeploymentsRequest {
            page: Some(cursor.request(PAGE)),
            include_archived: archived,
            ..ListDeploymentsRequest::default()
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner();
    // Every strip at once: in-process calls, one index range each.
    let strips = join_all(
        page.deployments
            .iter()
            .map(|d| recent_runs(&api, &d.id, STRIP)),
    )
    .await;
    let strips = strips.into_iter().collect::<Result<Vec<_>, _>>()?;
    let body = html! {
        p.actions {
            @if !api.session.read_only {
                a.button.primary href="/deployments/new" { "New deployment" }
            }
            @if archived {
                a href="/deployments" { "Hide archived deployments" }
            } @else {
                a href="/deployments?archived=1" { "Show archived deployments" }
            }
        }
        @if page.deployments.is_empty() {
            p { "No deployments yet." }
        } @else {
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Status" } th scope="col" { "Schedule" }
                        th scope="col" { "Next run" } th scope="col" { "Last 20 runs" } th scope="col" { span.visually-hidden { "Actions" } }
                    } }
                    tbody {
                        @for (d, runs) in page.deployments.iter().zip(&strips) {
                            (row(&api, d, runs))
                        }
                    }
                }
            }
        }
        (pager("/deployments", if archived { "archived=1" } else { "" }, &cursor, page.page_info.as_ref()))
    };
    Ok(layout::page(
        &api.session,
        "Deployments",
        Nav::Deployments,
        body,
    ))
}

/// The newest `limit` runs of deployment `id`.
pub async fn recent_runs(api: &Api, id: &str, limit: i32) -> Result<Vec<DeploymentRun>, PageError> {
    Ok(api
        .deployments()
        .list_deployment_runs(api.request(ListDeploymentRunsRequest {
            deployment_id: id.to_string(),
            page: Some(PageRequest {
                limit: Some(limit),
                ..PageRequest::default()
            }),
            ..ListDeploymentRunsRequest::default()
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner()
        .runs)
}

fn row(api: &Api, d: &Deployment, runs: &[DeploymentRun]) -> Markup {
    html! {
        tr {
            td { a href=(format!("/deployments/{}", d.id)) { (d.name) } br; small.id { (d.id) } }
            td { (status(d)) }
            td { (schedule(d.schedule.as_ref())) }
            td { (next_run(d)) }
            td { (strip(runs)) }
            td { div.row-actions { (buttons(api, d, "/deployments")) } }
        }
    }
}

/// A deployment's state: active, paused (and why), or archived.
pub fn status(d: &Deployment) -> Markup {
    if d.archived_at.is_some() {
        return html! { span.badge.s-archived { "archived" } };
    }
    let name = DeploymentStatus::from_proto(d.status).map_or("unknown", DeploymentStatus::name);
    let reason = d
        .paused_reason
        .as_ref()
        .and_then(|r| runway_api::enums::PausedReasonType::from_proto(r.r#type));
    html! {
        span class=(format!("badge s-{name}")) { (name) }
        @if let Some(reason) = reason { " " small { "(" (reason.name().replace('_', " ")) ")" } }
    }
}

/// A schedule: the expression, its plain-words reading and its zone.
pub fn schedule(s: Option<&Schedule>) -> Markup {
    match s {
        None => html! { span.none { "Manual only" } },
        Some(s) => html! {
            code { (s.expression) } br;
            span { (format::cron_words(&s.expression)) } br;
            small { "in " (s.timezone) }
        },
    }
}

/// When the deployment fires next, in its zone and (by the script) the viewer's.
pub fn next_run(d: &Deployment) -> Markup {
    let (Some(s), Some(next)) = (
        d.schedule.as_ref(),
        d.schedule.as_ref().and_then(|s| s.upcoming_runs_at.first()),
    ) else {
        return html! { span.none { "–" } };
    };
    html! {
        span { (format::in_zone(next, &s.timezone)) } br;
        small { "yours: " (format::time(Some(next))) }
    }
}

/// The last runs' outcomes, oldest to newest, each linking to its run.
pub fn strip(runs: &[DeploymentRun]) -> Markup {
    html! {
        @if runs.is_empty() { span.none { "No runs yet" } }
        @else {
            ol.strip aria-label=(format!("Last {} runs, oldest first", runs.len())) {
                @for run in runs.iter().rev() {
                    @let status = runway_api::enums::RunStatus::from_proto(run.status).map_or("unknown", |s| s.name());
                    li { a class=(format!("cell s-{status}")) href=(format!("/runs/{}", run.id))
                        title=(status) aria-label=(format!("Run {}: {status}", run.id)) {} }
                }
            }
        }
    }
}

/// Run, and pause or unpause, for a live deployment (none for a read-only
/// sign-in); `back` is where to return after pausing or unpausing.
pub fn buttons(api: &Api, d: &Deployment, back: &str) -> Markup {
    if d.archived_at.is_some() || api.session.read_only {
        return html! {};
    }
    let paused = d.status == DeploymentStatus::Paused.to_proto();
    let base = format!("/deployments/{}", d.id);
    html! {
        // A paused deployment refuses triggers (409): unpause first.
        @if !paused {
            (action_button(&format!("{base}/run"), "Run", &api.session.csrf, "primary"))
        }
        @if paused {
            (action_button(&format!("{base}/unpause?back={}", super::encode(back)), "Unpause", &api.session.csrf, ""))
        } @else {
            (action_button(&format!("{base}/pause?back={}", super::encode(back)), "Pause", &api.session.csrf, ""))
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Back {
    back: Option<String>,
}

impl Back {
    /// Where to go after an action: a path of this console, else `fallback`.
    fn or(&self, fallback: &str) -> String {
        match self.back.as_deref().and_then(crate::destination::safe) {
            Some(path) => path.to_string(),
            None => fallback.to_string(),
        }
    }
}

pub async fn run(
    api: Api,
    Path(id): Path<String>,
    PageForm(form): PageForm<super::sign_in::CsrfForm>,
) -> Result<Response, PageError> {
    api.check_csrf(&form.csrf)?;
    let run = api
        .deployments()
        .run_deployment(api.request(RunDeploymentRequest { deployment_id: id }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner()
        .run
        .unwrap_or_default();
    Ok(Redirect::to(&format!("/runs/{}", run.id)).into_response())
}

pub async fn pause(
    api: Api,
    Path(id): Path<String>,
    Query(back): Query<Back>,
    PageForm(form): PageForm<super::sign_in::CsrfForm>,
) -> Result<Response, PageError> {
    api.check_csrf(&form.csrf)?;
    api.deployments()
        .pause_deployment(api.request(PauseDeploymentRequest {
            deployment_id: id.clone(),
        }))
        .await
        .map_err(|s| api.fail(s))?;
    Ok(Redirect::to(&back.or(&format!("/deployments/{id}"))).into_response())
}

pub async fn unpause(
    api: Api,
    Path(id): Path<String>,
    Query(back): Query<Back>,
    PageForm(form): PageForm<super::sign_in::CsrfForm>,
) -> Result<Response, PageError> {
    api.check_csrf(&form.csrf)?;
    api.deployments()
        .unpause_deployment(api.request(UnpauseDeploymentRequest {
            deployment_id: id.clone(),
        }))
        .await
        .map_err(|s| api.fail(s))?;
    Ok(Redirect::to(&back.or(&format!("/deployments/{id}"))).into_response())
}
