//! Why a page cannot show what was asked: the console's one error type.
//! `layout` renders it (the way to sign in when the browser is not, or no
//! longer, signed in; the API's error in the API's words otherwise).

use runway_gateway::ApiError;

/// Why a page failed.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in; `expired` when a sign-in ended meanwhile (its token
    /// stopped working, or the server restarted).
    SignedOut { expired: bool },
    /// The API refused or failed the call.
    Api(ApiError),
    /// A form without this session's CSRF token, or from another site.
    Forbidden(&'static str),
    /// A console path with nothing behind it.
    NotFound,
    /// A POST whose body is no form of this page (`form::PageForm`).
    BadForm {
        status: axum::http::StatusCode,
        message: String,
    },
}
