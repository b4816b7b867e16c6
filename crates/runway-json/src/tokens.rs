//! Personal access tokens as the API shows them (the secret only once).

use runway_api::enums::TokenScope;
use runway_api::v1;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{TokenTag, member, ts, ts_or_empty};

/// A personal access token. Its secret is in the answer of create only.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Token)]
pub struct TokenJson {
    #[schema(format = DateTime)]
    pub created_at: String,
    /// A runner token's environments (`["*"]`: every environment of the
    /// organization); empty for the other scopes.
    #[schema(value_type = Vec<String>)]
    pub environment_ids: Vec<String>,
    /// When it stops working; `null`: never.
    #[schema(required = true, format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(pattern = "^tok_[0-9a-f]{32}$")]
    pub id: String,
    /// When it was last used, to within 10 seconds; `null`: never.
    #[schema(required = true, format = DateTime)]
    pub last_used_at: Option<String>,
    pub name: String,
    /// When it was revoked; `null` while it is not.
    #[schema(required = true, format = DateTime)]
    pub revoked_at: Option<String>,
    pub scope: TokenScope,
    /// The secret to send as `Authorization: Bearer …`: only in the answer
    /// of create (only its SHA-256 is stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^rwy_pat_[0-9a-f]{64}$")]
    pub secret: Option<String>,
    #[serde(rename = "type")]
    pub kind: TokenTag,
}

/// A token without its secret.
pub fn token(t: &v1::AccessToken) -> TokenJson {
    TokenJson {
        created_at: ts_or_empty(t.created_at.as_ref()),
        environment_ids: t.environment_ids.clone(),
        expires_at: ts(t.expires_at.as_ref()),
        id: t.id.clone(),
        last_used_at: ts(t.last_used_at.as_ref()),
        name: t.name.clone(),
        revoked_at: ts(t.revoked_at.as_ref()),
        scope: member(t.scope, TokenScope::from_proto, TokenScope::ALL),
        secret: None,
        kind: TokenTag,
    }
}

/// A token just issued, with its secret.
pub fn issued_token(t: &v1::AccessToken, secret: &str) -> TokenJson {
    TokenJson {
        secret: Some(secret.to_string()),
        ..token(t)
    }
}
