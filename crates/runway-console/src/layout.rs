//! The page shell: head, navigation, sign-out, and the error page a
//! [`PageError`] shows.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};

use crate::assets;
use crate::failure::PageError;
use crate::session::Session;

/// The navigation entries; the current one is marked for screen readers too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Deployments,
    Runs,
    Agents,
    Environments,
}

const ENTRIES: [(Nav, &str, &str); 5] = [
    (Nav::Overview, "/", "Overview"),
    (Nav::Deployments, "/deployments", "Deployments"),
    (Nav::Runs, "/runs", "Runs"),
    (Nav::Agents, "/agents", "Agents"),
    (Nav::Environments, "/environments", "Environments"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · runway" }
            link rel="stylesheet" href=(assets::url("console.css"));
            script src=(assets::url("console.js")) defer {}
        }
    }
}

/// A signed-in page: navigation, sign-out, and `body` under an `h1` of
/// `title`.
pub fn page(session: &Session, title: &str, current: Nav, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "runway" }
                    nav aria-label="Main" {
                        ul {
                            @for (nav, href, label) in ENTRIES {
                                li {
                                    @if nav == current {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    @if session.read_only {
                        span.read-only title="Signed in with a read token: the console shows, it does not change." { "Read-only token" }
                    }
                    form.sign-out method="post" action="/sign-out" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button type="submit" { "Sign out" }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page outside the signed-in shell (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/" { "runway" } }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An error in the API's words, with a way back.
pub fn error_page(status: StatusCode, message: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Error");
    bare(
        title,
        html! {
            p.error role="alert" { (message) }
            // The page a form was sent from is one step back in the browser.
            nav aria-label="Console" {
                p { a href="/" { "Overview" } " · " a href="/deployments" { "Deployments" } " · " a href="/runs" { "Runs" } }
            }
        },
    )
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignedOut { expired } => {
                let to = if expired {
                    "/sign-in?expired=1"
                } else {
                    "/sign-in"
                };
                Redirect::to(to).into_response()
            }
            PageError::Api(error) => {
                let status = error.status();
                (status, error_page(status, error.message())).into_response()
            }
            PageError::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                error_page(StatusCode::FORBIDDEN, message),
            )
                .into_response(),
            PageError::BadForm { status, message } => {
                (status, error_page(status, &message)).into_response()
            }
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                error_page(StatusCode::NOT_FOUND, "There is no such page."),
            )
                .into_response(),
        }
    }
}
