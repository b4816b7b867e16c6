//! Sign-in with a token, and sign-out. The token is checked by reading
//! through the API with it (a token that cannot read cannot use the
//! console), then held server-side; the browser gets a random session id.

use crate::form::PageForm;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use runway_api::enums::TokenScope;
use runway_api::v1::{GetCurrentTokenRequest, ListDeploymentsRequest, PageRequest};
use runway_gateway::ApiError;

use super::FormErrors;
use crate::api::{Api, authorized};
use crate::failure::PageError;
use crate::{Console, destination, layout, session};

#[derive(Debug, Default, serde::Deserialize)]
pub struct SignInQuery {
    expired: Option<String>,
    /// The page to go to once signed in (`destination`).
    next: Option<String>,
}

pub async fn form(Query(q): Query<SignInQuery>) -> Markup {
    let errors = FormErrors::default();
    let notice = q
        .expired
        .is_some()
        .then_some(
            "Your sign-in ended: its token expired or was revoked, or the server restarted. Sign in again.",
        );
    render(notice, &errors, q.next.as_deref())
}

fn render(notice: Option<&str>, errors: &FormErrors, next: Option<&str>) -> Markup {
    let next = next.and_then(destination::safe);
    layout::bare(
        "Sign in",
        html! {
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            @if let Some(message) = errors.general(&["token"]) { p.error role="alert" { (message) } }
            form.card method="post" action="/sign-in" {
                @if let Some(next) = next { input type="hidden" name="next" value=(next); }
                p { "Sign in with an API token of your organization (" code { "admin" } ", " code { "write" } " or " code { "read" } " scope). "
                    "The console acts with that token's rights; the token stays on the server." }
                div.field {
                    label for="f-token" { "API token" }
                    input #f-token type="password" name="token" autocomplete="off" required
                        aria-invalid=[errors.on("token").map(|_| "true")]
                        aria-describedby=[errors.on("token").map(|_| "f-token-error")];
                    @if let Some(message) = errors.on("token") {
                        p.field-error #f-token-error role="alert" { (message) }
                    }
                }
                button.primary type="submit" { "Sign in" }
            }
        },
    )
}

#[derive(Debug, serde::Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

pub async fn submit(
    State(console): State<Console>,
    PageForm(form): PageForm<SignInForm>,
) -> Response {
    let token = form.token.trim().to_string();
    if token.is_empty() {
        let errors = FormErrors::field("token", "Enter an API token.");
        return (
            StatusCode::BAD_REQUEST,
            render(None, &errors, Some(&form.next)),
        )
            .into_response();
    }
    let probe = ListDeploymentsRequest {
        page: Some(PageRequest {
            limit: Some(1),
            ..PageRequest::default()
        }),
        ..ListDeploymentsRequest::default()
    };
    // A token that may read (the console's least), then its scope: only a
    // token known to change things sees the controls that do. A gRPC server
    // older than this console (a standalone gateway upgraded first) cannot
    // tell the scope: every control is shown then, as before, and the API
    // still refuses what the token may not do.
    let services = console.services();
    let answer = async {
        services
            .deployments
            .list_deployments(authorized(&token, probe))
            .await?;
        let current = services
            .tokens
            .get_current_token(authorized(&token, GetCurrentTokenRequest {}))
            .await;
        match current {
            Ok(answer) => {
                let scope = answer.into_inner().token.map(|t| t.scope);
                let may_change = scope
                    .and_then(TokenScope::from_proto)
                    .is_some_and(|s| matches!(s, TokenScope::Write | TokenScope::Admin));
                Ok(!may_change)
            }
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                tracing::warn!(
                    "the gRPC server cannot tell a token's scope (it is older than this console): \
                     the console shows every control"
                );
                Ok(false)
            }
            Err(status) => Err(status),
        }
    }
    .await;
    let read_only = match answer {
        Ok(read_only) => read_only,
        Err(status) => {
            let error = ApiError::from(status);
            let errors = FormErrors::field("token", error.message());
            return (error.status(), render(None, &errors, Some(&form.next))).into_response();
        }
    };
    let session = console.sessions().open(token, read_only);
    let to = destination::safe(&form.next).unwrap_or("/");
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(console.secure(), &session),
    );
    response
}

#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn sign_out(
    State(console): State<Console>,
    api: Api,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    api.check_csrf(&form.csrf)?;
    console.sessions().close(&api.session.id);
    let mut response = Redirect::to("/sign-in").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(console.secure()));
    Ok(response)
}
