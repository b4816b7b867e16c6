//! One run: its timeline (triggered → started → finished, the attempt
//! chain), its error, its transcript (live while it runs), and cancel.

use crate::form::PageForm;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use runway_api::enums::{RunStatus, SortOrder, TriggerType};
use runway_api::v1::{
    CancelDeploymentRunRequest, DeploymentRun, GetDeploymentRunRequest, ListRunsRequest,
    ListSessionEventsRequest, PageRequest,
};

use super::action_button;
use super::sign_in::CsrfForm;
use super::transcript::transcript_event;
use crate::api::Api;
use crate::failure::PageError;
use crate::format;
use crate::layout::{self, Nav};

/// Events the page renders before the live stream takes over.
const TRANSCRIPT_PAGE: i32 = 1000;

pub async fn load(api: &Api, id: &str) -> Result<DeploymentRun, PageError> {
    Ok(api
        .deployments()
        .get_deployment_run(api.request(GetDeploymentRunRequest {
            run_id: id.to_string(),
            deployment_id: None,
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner()
        .run
        .unwrap_or_default())
}

fn active(run: &DeploymentRun) -> bool {
    matches!(
        RunStatus::from_proto(run.status),
        Some(RunStatus::Pending | RunStatus::Running)
    )
}

pub async fn show(api: Api, Path(id): Path<String>) -> Result<Markup, PageError> {
    let run = load(&api, &id).await?;
    // Retries of this run: the deployment's retry runs that name it.
    let retries: Vec<DeploymentRun> = api
        .deployments()
        .list_runs(api.request(ListRunsRequest {
            page: Some(PageRequest {
                limit: Some(100),
                ..PageRequest::default()
            }),
            deployment_id: Some(run.deployment_id.clone()),
            trigger_type: Some(TriggerType::Retry.to_proto()),
            ..ListRunsRequest::default()
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner()
        .runs
        .into_iter()
        .filter(|r| {
            r.trigger_context
                .as_ref()
                .and_then(|t| t.retry_of.as_deref())
                == Some(run.id.as_str())
        })
        .collect();
    let events = match &run.session_id {
        None => Vec::new(),
        Some(session_id) => {
            api.sessions()
                .list_session_events(api.request(ListSessionEventsRequest {
                    session_id: session_id.clone(),
                    limit: Some(TRANSCRIPT_PAGE),
                    order: SortOrder::Asc.to_proto(),
                    ..ListSessionEventsRequest::default()
                }))
                .await
                .map_err(|s| api.fail(s))?
                .into_inner()
                .events
        }
    };
    let stream = (active(&run) && run.session_id.is_some()).then(|| {
        let after = events
            .last()
            .map(|e| format!("?after={}", e.id))
            .unwrap_or_default();
        format!("/runs/{}/transcript{after}", run.id)
    });
    let body = html! {
        section #timeline aria-label="Timeline" {
            (timeline(&api, &run, &retries))
        }
        section aria-labelledby="transcript-h" {
            h2 #transcript-h { "Transcript" }
            @if run.session_id.is_none() { p.none { "This run has no session: it never started." } }
            ol.transcript #transcript data-stream=[stream] aria-live="polite" {
                @for event in &events { (transcript_event(event)) }
            }
        }
    };
    Ok(layout::page(
        &api.session,
        &format!("Run {}", run.id),
        Nav::Runs,
        body,
    ))
}

fn timeline(api: &Api, run: &DeploymentRun, retries: &[DeploymentRun]) -> Markup {
    let started = run
        .cas_run_extras
        .as_ref()
        .and_then(|e| e.started_at.as_ref());
    let attempt = run.cas_run_extras.as_ref().map_or(1, |e| e.attempt);
    let retry_of = run
        .trigger_context
        .as_ref()
        .and_then(|t| t.retry_of.as_deref());
    html! {
        p {
            (format::run_status(run.status)) " "
            "of " a href=(format!("/deployments/{}", run.deployment_id)) { code { (run.deployment_id) } }
            " · " (format::trigger(run.trigger_context.as_ref().map_or(0, |t| t.r#type))) " trigger"
            " · attempt " (attempt)
            @if let Some(runner) = run.cas_run_extras.as_ref().and_then(|e| e.runner_name.as_deref()) {
                " · runner " code { (runner) }
            }
        }
        @if active(run) && !api.session.read_only {
            div.row-actions { (action_button(&format!("/runs/{}/cancel", run.id), "Cancel run", &api.session.csrf, "danger")) }
        }
        ol.timeline {
            li { strong { "Triggered" } " " (format::time(run.triggered_at.as_ref())) }
            li {
                strong { "Started" } " " (format::time(started))
                @if let Some(wait) = format::between(run.triggered_at.as_ref(), started) { " " small { "(after " (wait) ")" } }
            }
            li {
                strong { "Finished" } " " (format::time(run.completed_at.as_ref()))
                @if let Some(ms) = run.duration_ms { " " small { "(ran " (format::duration_ms(ms)) ")" } }
            }
        }
        @if let Some(error) = &run.error {
            div.error role="alert" { strong { (error.r#type) } ": " (error.message) }
        }
        @if retry_of.is_some() || !retries.is_empty() {
            p.chain {
                @if let Some(previous) = retry_of { "Retry of " a href=(format!("/runs/{previous}")) { code { (previous) } } ". " }
                @if !retries.is_empty() {
                    "Retried by "
                    @for (i, r) in retries.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(format!("/runs/{}", r.id)) { code { (r.id) } }
                    }
                    "."
                }
            }
        }
    }
}

pub async fn cancel(
    api: Api,
    Path(id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    api.check_csrf(&form.csrf)?;
    api.deployments()
        .cancel_deployment_run(api.request(CancelDeploymentRunRequest { run_id: id.clone() }))
        .await
        .map_err(|s| api.fail(s))?;
    Ok(Redirect::to(&format!("/runs/{id}")).into_response())
}
