//! A form's body as the console's handlers take it: a body that is no form
//! (another content type, a field that does not parse) is answered with a
//! console page, not axum's plain text.

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::failure::PageError;

/// An `application/x-www-form-urlencoded` body, parsed into `T`.
pub struct PageForm<T>(pub T);

impl<T, S> FromRequest<S> for PageForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, PageError> {
        match axum::Form::<T>::from_request(request, state).await {
            Ok(axum::Form(value)) => Ok(PageForm(value)),
            Err(rejection) => Err(PageError::BadForm {
                status: rejection.status(),
                message: rejection.body_text(),
            }),
        }
    }
}
