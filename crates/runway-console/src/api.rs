//! The signed-in user's way to the API: the gRPC clients, each call
//! carrying the user's token. A handler that takes an [`Api`] only runs for
//! a signed-in browser; any other is sent to sign in.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use runway_api::services::{
    DynAgentService, DynDeploymentService, DynEnvironmentService, DynSessionService,
};
use runway_gateway::ApiError;
use tonic::metadata::MetadataValue;

use crate::Console;
use crate::failure::PageError;
use crate::session::{self, Session};

/// A signed-in browser's API access.
pub struct Api {
    console: Console,
    pub session: Arc<Session>,
}

impl FromRequestParts<Console> for Api {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, PageError> {
        // A session cookie this process does not know: a sign-in that ended
        // (its token stopped working, or the server restarted); sign-out
        // clears the cookie.
        let id = session::session_id(&parts.headers, console.secure());
        let session = id
            .as_deref()
            .and_then(|id| console.sessions().find(id))
            .ok_or(PageError::SignedOut {
                expired: id.is_some(),
            })?;
        Ok(Api {
            console: console.clone(),
            session,
        })
    }
}

impl Api {
    /// A request carrying `message` and the user's token.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        authorized(&self.session.token, message)
    }

    /// How often a live page sends its keep-alive.
    pub fn heartbeat(&self) -> std::time::Duration {
        self.console.heartbeat()
    }

    /// Resolves when the console stops (a live page ends then).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.console.closed()
    }

    /// What a failed call means for the page: a 401 (the token expired or
    /// was revoked) ends the sign-in; anything else is the API's error.
    pub fn fail(&self, status: tonic::Status) -> PageError {
        let error = ApiError::from(status);
        if error.status() == axum::http::StatusCode::UNAUTHORIZED {
            self.console.sessions().close(&self.session.id);
            return PageError::SignedOut { expired: true };
        }
        PageError::Api(error)
    }

    pub fn deployments(&self) -> &DynDeploymentService {
        &*self.console.services().deployments
    }

    pub fn agents(&self) -> &DynAgentService {
        &*self.console.services().agents
    }

    pub fn environments(&self) -> &DynEnvironmentService {
        &*self.console.services().environments
    }

    pub fn sessions(&self) -> &DynSessionService {
        &*self.console.services().sessions
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, given: &str) -> Result<(), PageError> {
        use subtle::ConstantTimeEq;
        if bool::from(given.as_bytes().ct_eq(self.session.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "This form has expired or did not come from this console; reload the page and try again.",
            ))
        }
    }
}

/// A request carrying `message` and `token` as a bearer token.
pub fn authorized<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = MetadataValue::try_from(format!("Bearer {token}")) {
        request.metadata_mut().insert("authorization", value);
    }
    request
}
