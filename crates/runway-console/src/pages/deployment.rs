//! One deployment: its configuration (editable), its next five fire times
//! in its zone, its stats, its runs (filtered, paged), and archiving behind
//! a confirmation.

use crate::form::PageForm;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use runway_api::enums::RunStatus;
use runway_api::v1::{
    ArchiveDeploymentRequest, Deployment, GetDeploymentRequest, ListDeploymentRunsRequest,
    UpdateDeploymentRequest,
};

use super::deployment_form::{CONFIG_FIELDS, DeploymentForm, schedule_and_limits};
use super::deployments::{buttons, next_run, schedule, status};
use super::runs::runs_table;
use super::sign_in::CsrfForm;
use super::{Cursor, FormErrors, Input, csrf, encode, pager};
use crate::api::Api;
use crate::failure::PageError;
use crate::format;
use crate::layout::{self, Nav};

const RUNS_PAGE: i32 = 20;

async fn load(api: &Api, id: &str) -> Result<Deployment, PageError> {
    Ok(api
        .deployments()
        .get_deployment(api.request(GetDeploymentRequest {
            deployment_id: id.to_string(),
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner()
        .deployment
        .unwrap_or_default())
}

/// The text of the deployment's first initial event, as every run starts.
fn first_message(d: &Deployment) -> String {
    let content = d
        .initial_events
        .first()
        .and_then(|e| e.content.as_ref())
        .map(runway_api::json_value::from_proto);
    super::transcript::text_of(content.as_ref())
}

/// The edit form's values: what the deployment holds now.
fn form_of(d: &Deployment) -> DeploymentForm {
    let config = d.cas_config.as_ref().and_then(|c| c.config.as_ref());
    DeploymentForm {
        name: d.name.clone(),
        description: d.description.clone().unwrap_or_default(),
        expression: d
            .schedule
            .as_ref()
            .map(|s| s.expression.clone())
            .unwrap_or_default(),
        timezone: d.schedule.as_ref().map_or_else(
            || runway_api::DEFAULT_TIMEZONE.to_string(),
            |s| s.timezone.clone(),
        ),
        max_concurrent: config
            .map(|c| c.max_concurrent.to_string())
            .unwrap_or_default(),
        max_retries: config
            .map(|c| c.max_retries.to_string())
            .unwrap_or_default(),
        timeout_ms: config.map(|c| c.timeout_ms.to_string()).unwrap_or_default(),
        max_consecutive_failures: config
            .and_then(|c| c.max_consecutive_failures)
            .map(|v| v.to_string())
            .unwrap_or_default(),
        metadata: {
            let mut pairs: Vec<_> = d.metadata.iter().collect();
            pairs.sort();
            pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
        },
        ..DeploymentForm::default()
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct RunsQuery {
    status: Option<String>,
    #[serde(flatten)]
    cursor: Cursor,
}

pub async fn show(
    api: Api,
    Path(id): Path<String>,
    Query(q): Query<RunsQuery>,
) -> Result<Markup, PageError> {
    let d = load(&api, &id).await?;
    let form = form_of(&d);
    render(&api, &d, &form, &FormErrors::default(), &q).await
}

async fn render(
    api: &Api,
    d: &Deployment,
    form: &DeploymentForm,
    errors: &FormErrors,
    q: &RunsQuery,
) -> Result<Markup, PageError> {
    let status_filter = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            RunStatus::from_name(s).ok_or_else(|| {
                PageError::Api(runway_gateway::ApiError::invalid(
                    Some("status".into()),
                    format!("status must be {}.", RunStatus::expected()),
                ))
            })
        })
        .transpose()?;
    let runs = api
        .deployments()
        .list_deployment_runs(api.request(ListDeploymentRunsRequest {
            deployment_id: d.id.clone(),
            page: Some(q.cursor.request(RUNS_PAGE)),
            status: status_filter.map(RunStatus::to_proto),
            ..ListDeploymentRunsRequest::default()
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner();
    let stats = d.cas_config.as_ref().and_then(|c| c.stats.as_ref());
    let base = format!("/deployments/{}", d.id);
    let filter_query = status_filter
        .map(|s| format!("status={}", encode(s.name())))
        .unwrap_or_default();
    let mut fields = vec![
        "name",
        "description",
        "schedule.expression",
        "schedule.timezone",
        "metadata",
    ];
    fields.extend(CONFIG_FIELDS);
    let body = html! {
        section.summary aria-label="Summary" {
            p { (status(d)) " " small.id { (d.id) } }
            @if let Some(description) = &d.description { p { (description) } }
            div.row-actions { (buttons(api, d, &base)) }
            dl.stats {
                dt { "Agent" }
                dd {
                    @if let Some(agent) = &d.agent { code { (agent.id) } " version " (agent.version) }
                }
                dt { "Environment" } dd { code { (d.environment_id) } }
                dt { "First message" }
                dd.first-message { (first_message(d)) }
            }
        }
        div.columns {
            section aria-labelledby="schedule-h" {
                h2 #schedule-h { "Schedule" }
                (schedule(d.schedule.as_ref()))
                @if let Some(s) = &d.schedule {
                    h3 { "Next 5 fire times" }
                    @if s.upcoming_runs_at.is_empty() {
                        p.none { "None while paused or archived." }
                    } @else {
                        ol.upcoming {
                            @for t in &s.upcoming_runs_at {
                                li { (format::in_zone(t, &s.timezone)) " · yours: " (format::time(Some(t))) }
                            }
                        }
                    }
                    p { "Next run: " (next_run(d)) }
                }
            }
            section aria-labelledby="stats-h" {
                h2 #stats-h { "Stats" }
                dl.stats {
                    dt { "Runs" } dd { (stats.map_or(0, |s| s.total_runs)) }
                    dt { "Failures" } dd { (stats.map_or(0, |s| s.total_failures)) }
                    dt { "Failures in a row" } dd { (stats.map_or(0, |s| s.consecutive_failures)) }
                    dt { "Missed fire times" } dd { (stats.map_or(0, |s| s.missed_fires)) }
                    dt { "Last triggered" } dd { (format::time(stats.and_then(|s| s.last_triggered_at.as_ref()))) }
                }
            }
        }
        section aria-labelledby="runs-h" {
            h2 #runs-h { "Runs" }
            form.filters method="get" action=(base) {
                label for="f-status" { "Status" }
                select #f-status name="status" {
                    option value="" { "any" }
                    @for s in RunStatus::ALL {
                        option value=(s.name()) selected[Some(*s) == status_filter] { (s.name()) }
                    }
                }
                button type="submit" { "Filter" }
            }
            (runs_table(&runs.runs, false))
            (pager(&base, &filter_query, &q.cursor, runs.page_info.as_ref()))
        }
        @if d.archived_at.is_none() {
            section aria-labelledby="edit-h" {
                h2 #edit-h { "Configuration" }
                @if let Some(message) = errors.general(&fields) { p.error role="alert" { (message) } }
                // A read-only sign-in sees the same fields, disabled.
                form.card method="post" action=(base) novalidate {
                    (csrf(&api.session.csrf))
                    fieldset.plain disabled[api.session.read_only] {
                        legend.visually-hidden { "Configuration" }
                        (Input::text("name", "Name", &form.name).required().render(errors))
                        (Input::text("description", "Description", &form.description).render(errors))
                        (schedule_and_limits(form, errors))
                        (Input { kind: "textarea", ..Input::text("metadata", "Metadata (one key=value a line)", &form.metadata) }.render(errors))
                    }
                    @if !api.session.read_only { button.primary type="submit" { "Save" } }
                }
                @if !api.session.read_only {
                    p { a.button.danger href=(format!("{base}/archive")) { "Archive…" } }
                }
            }
        }
    };
    Ok(layout::page(&api.session, &d.name, Nav::Deployments, body))
}

pub async fn update(
    api: Api,
    Path(id): Path<String>,
    PageForm(form): PageForm<DeploymentForm>,
) -> Result<Response, PageError> {
    api.check_csrf(&form.csrf)?;
    let current = load(&api, &id).await?;
    let refuse = |errors: FormErrors, code: StatusCode| {
        let (api, current, form) = (&api, &current, &form);
        async move {
            let page = render(api, current, form, &errors, &RunsQuery::default()).await?;
            Ok::<Response, PageError>((code, page).into_response())
        }
    };
    let config = match form.config() {
        Ok(config) => config,
        Err(errors) => return refuse(errors, StatusCode::BAD_REQUEST).await,
    };
    let metadata = match form.metadata() {
        Ok(metadata) => metadata,
        Err(errors) => return refuse(errors, StatusCode::BAD_REQUEST).await,
    };
    let mut paths: Vec<String> = [
        "name",
        "description",
        "schedule",
        "config.max_concurrent",
        "config.max_retries",
        "config.timeout_ms",
        "config.max_consecutive_failures",
    ]
    .map(String::from)
    .to_vec();
    // Every key held now or given: given keys are set, the others removed.
    let mut keys: Vec<&String> = current.metadata.keys().chain(metadata.keys()).collect();
    keys.sort();
    keys.dedup();
    paths.extend(keys.iter().map(|k| format!("metadata.{k}")));
    let request = UpdateDeploymentRequest {
        deployment_id: id.clone(),
        name: form.name.trim().to_string(),
        description: Some(form.description.trim().to_string()).filter(|d| !d.is_empty()),
        schedule: form.schedule(),
        config: Some(config),
        metadata: metadata.clone(),
        update_mask: Some(prost_types::FieldMask { paths }),
        ..UpdateDeploymentRequest::default()
    };
    match api
        .deployments()
        .update_deployment(api.request(request))
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/deployments/{id}")).into_response()),
        Err(status) => match api.fail(status) {
            PageError::Api(error) => {
                let code = error.status();
                refuse(FormErrors::from_api(&error), code).await
            }
            other => Err(other),
        },
    }
}

pub async fn confirm_archive(api: Api, Path(id): Path<String>) -> Result<Markup, PageError> {
    let d = load(&api, &id).await?;
    if api.session.read_only {
        let title = format!("Archive {}?", d.name);
        return Ok(super::read_only_page(&api, &title, "archive deployments"));
    }
    let body = html! {
        p { "Archiving " strong { (d.name) } " is permanent: it stops its schedule, refuses every trigger, and cannot be undone. Its runs stay readable." }
        form.inline method="post" action=(format!("/deployments/{id}/archive")) {
            (csrf(&api.session.csrf))
            button.danger type="submit" { "Archive for good" }
        }
        " "
        a.button href=(format!("/deployments/{id}")) { "Keep it" }
    };
    Ok(layout::page(
        &api.session,
        &format!("Archive {}?", d.name),
        Nav::Deployments,
        body,
    ))
}

pub async fn archive(
    api: Api,
    Path(id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    api.check_csrf(&form.csrf)?;
    api.deployments()
        .archive_deployment(api.request(ArchiveDeploymentRequest {
            deployment_id: id.clone(),
        }))
        .await
        .map_err(|s| api.fail(s))?;
    Ok(Redirect::to(&format!("/deployments/{id}")).into_response())
}
