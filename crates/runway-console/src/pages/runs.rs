//! All runs of the organization, filtered by status, trigger, error and
//! deployment, newest first; kept current by the live feed.

use axum::extract::Query;
use maud::{Markup, html};
use runway_api::enums::{RunStatus, TriggerType};
use runway_api::v1::{DeploymentRun, ListRunsRequest};
use runway_gateway::ApiError;

use super::{Cursor, encode, pager};
use crate::api::Api;
use crate::failure::PageError;
use crate::format;
use crate::layout::{self, Nav};

pub const PAGE: i32 = 25;

/// The filters, as the query string spells them.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct RunFilters {
    pub status: Option<String>,
    pub trigger_type: Option<String>,
    pub has_error: Option<String>,
    pub deployment_id: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl RunFilters {
    /// The list request these filters make (a bad value: a 400 naming it).
    pub fn request(&self, cursor: &Cursor, limit: i32) -> Result<ListRunsRequest, PageError> {
        let bad = |param: &str, message: String| {
            PageError::Api(ApiError::invalid(Some(param.into()), message))
        };
        let status = given(&self.status)
            .map(|s| {
                RunStatus::from_name(s).ok_or_else(|| {
                    bad(
                        "status",
                        format!("status must be {}.", RunStatus::expected()),
                    )
                })
            })
            .transpose()?;
        let trigger_type = given(&self.trigger_type)
            .map(|s| {
                TriggerType::from_name(s).ok_or_else(|| {
                    bad(
                        "trigger_type",
                        format!("trigger_type must be {}.", TriggerType::expected()),
                    )
                })
            })
            .transpose()?;
        let has_error = match given(&self.has_error) {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(bad("has_error", "has_error must be true or false.".into())),
        };
        Ok(ListRunsRequest {
            page: Some(cursor.request(limit)),
            deployment_id: given(&self.deployment_id).map(str::to_string),
            status: status.map(RunStatus::to_proto),
            trigger_type: trigger_type.map(TriggerType::to_proto),
            has_error,
            ..ListRunsRequest::default()
        })
    }

    /// The filters as a query string.
    pub fn query(&self) -> String {
        [
            ("status", &self.status),
            ("trigger_type", &self.trigger_type),
            ("has_error", &self.has_error),
            ("deployment_id", &self.deployment_id),
        ]
        .iter()
        .filter_map(|(k, v)| given(v).map(|v| format!("{k}={}", encode(v))))
        .collect::<Vec<_>>()
        .join("&")
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct RunsQuery {
    #[serde(flatten)]
    filters: RunFilters,
    #[serde(flatten)]
    cursor: Cursor,
}

pub async fn list(api: Api, Query(q): Query<RunsQuery>) -> Result<Markup, PageError> {
    let request = q.filters.request(&q.cursor, PAGE)?;
    let page = api
        .deployments()
        .list_runs(api.request(request))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner();
    let query = q.filters.query();
    // Only the first page follows new runs: an older page stays as it is.
    let live = q
        .cursor
        .page
        .is_none()
        .then(|| format!("/runs/live?{query}"));
    let f = &q.filters;
    let body = html! {
        form.filters method="get" action="/runs" {
            div.field {
                label for="f-status" { "Status" }
                select #f-status name="status" {
                    option value="" { "any" }
                    @for s in RunStatus::ALL { option value=(s.name()) selected[given(&f.status) == Some(s.name())] { (s.name()) } }
                }
            }
            div.field {
                label for="f-trigger" { "Trigger" }
                select #f-trigger name="trigger_type" {
                    option value="" { "any" }
                    @for t in TriggerType::ALL { option value=(t.name()) selected[given(&f.trigger_type) == Some(t.name())] { (t.name()) } }
                }
            }
            div.field {
                label for="f-error" { "Error" }
                select #f-error name="has_error" {
                    option value="" { "any" }
                    option value="true" selected[given(&f.has_error) == Some("true")] { "with an error" }
                    option value="false" selected[given(&f.has_error) == Some("false")] { "without" }
                }
            }
            div.field {
                label for="f-deployment" { "Deployment id" }
                input #f-deployment type="text" name="deployment_id" value=(given(&f.deployment_id).unwrap_or_default());
            }
            button type="submit" { "Filter" }
        }
        div #runs data-live=[live] {
            (runs_table(&page.runs, true))
        }
        (pager("/runs", &query, &q.cursor, page.page_info.as_ref()))
    };
    Ok(layout::page(&api.session, "Runs", Nav::Runs, body))
}

/// A table of runs, newest first; `with_deployment` adds the deployment column.
pub fn runs_table(runs: &[DeploymentRun], with_deployment: bool) -> Markup {
    html! {
        @if runs.is_empty() {
            p.none { "No runs." }
        } @else {
            div.table-wrap {
                table.runs {
                    thead { tr {
                        th scope="col" { "Run" }
                        @if with_deployment { th scope="col" { "Deployment" } }
                        th scope="col" { "Status" } th scope="col" { "Trigger" } th scope="col" { "Triggered" }
                        th scope="col" { "Duration" } th scope="col" { "Error" }
                    } }
                    tbody {
                        @for run in runs {
                            tr id=(format!("run-{}", run.id)) {
                                td { a href=(format!("/runs/{}", run.id)) { code { (run.id) } } }
                                @if with_deployment { td { a href=(format!("/deployments/{}", run.deployment_id)) { code { (run.deployment_id) } } } }
                                td { (format::run_status(run.status)) }
                                td { (format::trigger(run.trigger_context.as_ref().map_or(0, |t| t.r#type))) }
                                td { (format::time(run.triggered_at.as_ref())) }
                                td { (run.duration_ms.map(format::duration_ms).unwrap_or_default()) }
                                td { (run.error.as_ref().map(|e| e.message.as_str()).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    }
}
