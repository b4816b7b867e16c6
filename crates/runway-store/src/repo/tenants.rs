//! Organizations and the personal access tokens that act for them.

use rand::RngCore;
use runway_api::enums::TokenScope;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait};
use sha2::{Digest, Sha256};

use crate::entity::access_token::{self, Entity as AccessToken};
use crate::entity::organization::{self, Entity as Organization};
use crate::ids::IdKind;
use crate::json_text::JsonText;
use crate::page::{self, Key, Page, PageQuery};
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

/// What a new token may do, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub scope: TokenScope,
    /// A runner token's environments (`*` alone: all); empty otherwise.
    pub environment_ids: Vec<String>,
    pub expires_at: Option<i64>,
}

impl NewToken {
    /// A token that may do everything, forever.
    pub fn admin(name: &str) -> Self {
        Self {
            name: name.to_string(),
            scope: TokenScope::Admin,
            environment_ids: Vec::new(),
            expires_at: None,
        }
    }
}

/// Who a valid token acts for, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub org_id: String,
    pub token_id: String,
    pub scope: TokenScope,
    /// A runner token's environments (`*` alone: all); empty otherwise.
    pub environment_ids: Vec<String>,
    /// When the token stops working (nanoseconds), if ever.
    pub expires_at: Option<i64>,
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
        retention: Set(Default::default()),
        retention_updated_at: Set(None),
    };
    Organization::insert(row)
        .exec_with_returning(store.writer())
        .await
        .map_err(StoreError::classify)
}

/// Issues a new token for `org_id` at `now`.
pub async fn create_token(
    store: &Store,
    org_id: &str,
    new: &NewToken,
    now: i64,
) -> StoreResult<IssuedToken> {
    insert_token(store.writer(), org_id, new, now).await
}

async fn insert_token(
    db: &impl sea_orm::ConnectionTrait,
    org_id: &str,
    new: &NewToken,
    now: i64,
) -> StoreResult<IssuedToken> {
    let secret = new_token_secret();
    let row = access_token::ActiveModel {
        id: Set(IdKind::AccessToken.generate()),
        org_id: Set(org_id.to_string()),
        token_hash: Set(hash_token(&secret)),
        name: Set(new.name.clone()),
        created_at: Set(now),
        revoked_at: Set(None),
        scope: Set(new.scope),
        environment_ids: Set(JsonText(new.environment_ids.clone())),
        expires_at: Set(new.expires_at),
        last_used_at: Set(None),
    };
    let token = AccessToken::insert(row)
        .exec_with_returning(db)
        .await
        .map_err(StoreError::classify)?;
    Ok(IssuedToken { secret, token })
}

/// Who `secret` acts for, or `None` when it is unknown or revoked. Expiry
/// is the caller's to check against its clock (a verdict may be reused).
pub async fn authenticate(store: &Store, secret: &str) -> StoreResult<Option<Principal>> {
    let row = AccessToken::find()
        .filter(access_token::Column::TokenHash.eq(hash_token(secret)))
        .filter(access_token::Column::RevokedAt.is_null())
        .one(store.reader())
        .await?;
    Ok(row.map(|t| Principal {
        org_id: t.org_id,
        token_id: t.id,
        scope: t.scope,
        environment_ids: t.environment_ids.0,
        expires_at: t.expires_at,
    }))
}

/// Records that token `id` was used at `now` (never moving it back).
pub async fn touch_token(store: &Store, id: &str, now: i64) -> StoreResult<()> {
    use access_token::Column as C;
    AccessToken::update_many()
        .col_expr(C::LastUsedAt, Expr::value(now))
        .filter(C::Id.eq(id))
        .filter(
            Condition::any()
                .add(C::LastUsedAt.is_null())
                .add(C::LastUsedAt.lt(now)),
        )
        .exec(store.writer())
        .await?;
    Ok(())
}

/// The token `id` of `org_id`.
pub async fn get_token(
    store: &Store,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<access_token::Model>> {
    Ok(AccessToken::find_by_id(id)
        .filter(access_token::Column::OrgId.eq(org_id))
        .one(store.reader())
        .await?)
}

/// The paging key of token `id`, to resolve `after_id` / `before_id`.
pub async fn token_key_of(store: &Store, org_id: &str, id: &str) -> StoreResult<Option<Key>> {
    Ok(get_token(store, org_id, id).await?.map(|t| Key {
        at: t.created_at,
        id: t.id,
    }))
}

/// One page of `org_id`'s tokens, newest first.
pub async fn list_tokens(
    store: &Store,
    org_id: &str,
    include_revoked: bool,
    query: &PageQuery,
) -> StoreResult<Page<access_token::Model>> {
    let mut select = AccessToken::find().filter(access_token::Column::OrgId.eq(org_id));
    if !include_revoked {
        select = select.filter(access_token::Column::RevokedAt.is_null());
    }
    page::fetch(
        store.reader(),
        select,
        access_token::Column::CreatedAt,
        access_token::Column::Id,
        query,
        |t| Key {
            at: t.created_at,
            id: t.id.clone(),
        },
    )
    .await
}

/// Changes token `id` of `org_id` through `change`, which sees the locked
/// row and may refuse. `Ok(None)` when it does not exist.
pub async fn modify_token<E: From<StoreError>>(
    store: &Store,
    org_id: &str,
    id: &str,
    change: impl FnOnce(&mut access_token::Model) -> Result<(), E>,
) -> Result<Option<access_token::Model>, E> {
    let find = AccessToken::find_by_id(id).filter(access_token::Column::OrgId.eq(org_id));
    super::modify_row(store, find, change).await
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
        retention: Set(Default::default()),
        retention_updated_at: Set(None),
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
    let token = insert_token(&txn, &org.id, &NewToken::admin("admin"), now_nanos()).await?;
    txn.commit().await?;
    Ok(Some((org, token)))
}
