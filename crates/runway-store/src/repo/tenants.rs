//! Organizations and the personal access tokens that act for them.

use rand::RngCore;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait};
use sha2::{Digest, Sha256};

use crate::entity::access_token::{self, Entity as AccessToken};
use crate::entity::organization::{self, Entity as Organization};
use crate::ids::IdKind;
use crate::time::now_nanos;
use crate::{Store, StoreError, StoreResult};

/// Every token starts with this, so secret scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "rwy_pat_";

/// The stored form of a token: lowercase hex SHA-256 of the whole string.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// A token as it is handed out: the secret (shown once) and its row.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub secret: String,
    pub token: access_token::Model,
}

/// Who a valid token acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub org_id: String,
    pub token_id: String,
}

/// The organization named `name`.
pub async fn find_organization(
    store: &Store,
    name: &str,
) -> StoreResult<Option<organization::Model>> {
    Ok(Organization::find()
        .filter(organization::Column::Name.eq(name))
        .one(store.reader())
        .await?)
}

/// Creates an organization; [`StoreError::Duplicate`] when the name is taken.
pub async fn create_organization(store: &Store, name: &str) -> StoreResult<organization::Model> {
    let row = organization::ActiveModel {
        id: Set(IdKind::Organization.generate()),
        name: Set(name.to_string()),
        created_at: Set(now_nanos()),
    };
    Organization::insert(row)
        .exec_with_returning(store.writer())
        .await
        .map_err(StoreError::classify)
}

/// Issues a new token for `org_id`.
pub async fn create_token(store: &Store, org_id: &str, name: &str) -> StoreResult<IssuedToken> {
    insert_token(store.writer(), org_id, name).await
}

async fn insert_token(
    db: &impl sea_orm::ConnectionTrait,
    org_id: &str,
    name: &str,
) -> StoreResult<IssuedToken> {
    let secret = new_token_secret();
    let row = access_token::ActiveModel {
        id: Set(IdKind::AccessToken.generate()),
        org_id: Set(org_id.to_string()),
        token_hash: Set(hash_token(&secret)),
        name: Set(name.to_string()),
        created_at: Set(now_nanos()),
        revoked_at: Set(None),
    };
    let token = AccessToken::insert(row)
        .exec_with_returning(db)
        .await
        .map_err(StoreError::classify)?;
    Ok(IssuedToken { secret, token })
}

/// Who `secret` acts for, or `None` when it is unknown or revoked.
pub async fn authenticate(store: &Store, secret: &str) -> StoreResult<Option<Principal>> {
    let row = AccessToken::find()
        .filter(access_token::Column::TokenHash.eq(hash_token(secret)))
        .filter(access_token::Column::RevokedAt.is_null())
        .one(store.reader())
        .await?;
    Ok(row.map(|t| Principal {
        org_id: t.org_id,
        token_id: t.id,
    }))
}

/// On an empty database: creates the organization `org_name` and an admin
/// token for it, in one transaction, and returns them. `None` when any
/// organization exists already (or another process just bootstrapped).
pub async fn bootstrap(
    store: &Store,
    org_name: &str,
) -> StoreResult<Option<(organization::Model, IssuedToken)>> {
    let txn = store.writer().begin().await?;
    if Organization::find().count(&txn).await? > 0 {
        return Ok(None);
    }
    let org = organization::ActiveModel {
        id: Set(IdKind::Organization.generate()),
        name: Set(org_name.to_string()),
        created_at: Set(now_nanos()),
    };
    let org = match Organization::insert(org).exec_with_returning(&txn).await {
        Ok(org) => org,
        Err(e) => {
            return match StoreError::classify(e) {
                StoreError::Duplicate(_) => Ok(None),
                other => Err(other),
            };
        }
    };
    let token = insert_token(&txn, &org.id, "admin").await?;
    txn.commit().await?;
    Ok(Some((org, token)))
}
