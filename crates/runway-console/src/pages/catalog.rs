//! The organization's agents and environments.

use axum::extract::Query;
use maud::{Markup, html};
use runway_api::enums::EnvironmentStatus;
use runway_api::v1::{ListAgentsRequest, ListEnvironmentsRequest};

use super::{Cursor, pager};
use crate::api::Api;
use crate::failure::PageError;
use crate::format;
use crate::layout::{self, Nav};

const PAGE: i32 = 50;

pub async fn agents(api: Api, Query(cursor): Query<Cursor>) -> Result<Markup, PageError> {
    let page = api
        .agents()
        .list_agents(api.request(ListAgentsRequest {
            page: Some(cursor.request(PAGE)),
            ..ListAgentsRequest::default()
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner();
    let body = html! {
        @if page.agents.is_empty() { p.none { "No agents yet. Create one with " code { "POST /api/v1/cloud/agents" } "." } }
        @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Model" } th scope="col" { "Version" } th scope="col" { "Updated" } } }
                tbody {
                    @for a in &page.agents {
                        tr {
                            td { (a.name) br; small.id { (a.id) } @if let Some(d) = &a.description { br; small { (d) } } }
                            td { code { (a.model) } }
                            td { (a.version) }
                            td { (format::time(a.updated_at.as_ref())) }
                        }
                    }
                }
            } }
        }
        (pager("/agents", "", &cursor, page.page_info.as_ref()))
    };
    Ok(layout::page(&api.session, "Agents", Nav::Agents, body))
}

pub async fn environments(api: Api, Query(cursor): Query<Cursor>) -> Result<Markup, PageError> {
    let page = api
        .environments()
        .list_environments(api.request(ListEnvironmentsRequest {
            page: Some(cursor.request(PAGE)),
            ..ListEnvironmentsRequest::default()
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner();
    let body = html! {
        @if page.environments.is_empty() { p.none { "No environments yet." } }
        @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Status" } th scope="col" { "Created" } } }
                tbody {
                    @for e in &page.environments {
                        @let status = EnvironmentStatus::from_proto(e.status).map_or("unknown", EnvironmentStatus::name);
                        tr {
                            td { (e.name) br; small.id { (e.id) } @if let Some(d) = &e.description { br; small { (d) } } }
                            td { span class=(format!("badge s-{status}")) { (status) } }
                            td { (format::time(e.created_at.as_ref())) }
                        }
                    }
                }
            } }
        }
        (pager("/environments", "", &cursor, page.page_info.as_ref()))
    };
    Ok(layout::page(
        &api.session,
        "Environments",
        Nav::Environments,
        body,
    ))
}
