//! A personal access token. Only the SHA-256 of the secret is stored.

use runway_api::enums::TokenScope;
use sea_orm::entity::prelude::*;

use crate::json_text::JsonText;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    /// Lowercase hex SHA-256 of the whole token string.
    #[sea_orm(unique)]
    pub token_hash: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub scope: TokenScope,
    /// A runner token's environments (`*` alone: all of them); empty for
    /// the other scopes.
    #[sea_orm(column_type = "Text")]
    pub environment_ids: JsonText<Vec<String>>,
    pub expires_at: Option<i64>,
    /// Written at most once per token, replica and authentication cache
    /// lifetime, never per request.
    pub last_used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
