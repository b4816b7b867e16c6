//! `Idempotency-Key` records. A key is claimed inside the transaction that
//! creates the resource, so a crash can never leave a key without its
//! resource or a resource created twice for one key.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entity::idempotency_key::{self, Entity as IdempotencyKey};
use crate::time::DAY_NANOS;
use crate::{Store, StoreError, StoreResult};

/// A key to claim with a create: the client's key and a hash of what was
/// asked (operation and request), to tell a replay from a misuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub key: String,
    pub request_hash: String,
    /// When the key is claimed, by the service's clock.
    pub at: i64,
}

/// The record of `key` in `org_id` that is live (younger than 24 h) at `now`.
pub async fn find(
    store: &Store,
    org_id: &str,
    key: &str,
    now: i64,
) -> StoreResult<Option<idempotency_key::Model>> {
    Ok(IdempotencyKey::find()
        .filter(idempotency_key::Column::OrgId.eq(org_id))
        .filter(idempotency_key::Column::Key.eq(key))
        .filter(idempotency_key::Column::CreatedAt.gt(now - DAY_NANOS))
        .one(store.reader())
        .await?)
}

/// Records that `claim` created `resource_id`, in the caller's transaction.
/// [`StoreError::IdempotencyKeyTaken`] when a live record exists already.
pub(crate) async fn record(
    txn: &impl ConnectionTrait,
    org_id: &str,
    claim: &IdempotencyClaim,
    resource_id: &str,
) -> StoreResult<()> {
    let now = claim.at;
    // An expired record no longer reserves its key.
    IdempotencyKey::delete_many()
        .filter(idempotency_key::Column::OrgId.eq(org_id))
        .filter(idempotency_key::Column::Key.eq(&claim.key))
        .filter(idempotency_key::Column::CreatedAt.lte(now - DAY_NANOS))
        .exec(txn)
        .await?;
    let row = idempotency_key::ActiveModel {
        org_id: Set(org_id.to_string()),
        key: Set(claim.key.clone()),
        request_hash: Set(claim.request_hash.clone()),
        resource_id: Set(resource_id.to_string()),
        created_at: Set(now),
    };
    IdempotencyKey::insert(row)
        .exec_without_returning(txn)
        .await
        .map_err(|e| match StoreError::classify(e) {
            StoreError::Duplicate(_) => StoreError::IdempotencyKeyTaken,
            other => other,
        })?;
    Ok(())
}
