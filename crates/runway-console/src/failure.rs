//! What a page shows when it cannot show what was asked: a sign-in form
//! when the browser is not (or no longer) signed in, the API's error in the
//! API's words otherwise.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use runway_gateway::ApiError;

use crate::layout;

/// Why a page failed.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in; `expired` when the token stopped working meanwhile.
    SignedOut { expired: bool },
    /// The API refused or failed the call.
    Api(ApiError),
    /// A form without this session's CSRF token, or from another site.
    Forbidden(&'static str),
    /// A console path with nothing behind it.
    NotFound,
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
                (status, layout::error_page(status, error.message())).into_response()
            }
            PageError::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                layout::error_page(StatusCode::FORBIDDEN, message),
            )
                .into_response(),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                layout::error_page(StatusCode::NOT_FOUND, "There is no such page."),
            )
                .into_response(),
        }
    }
}
