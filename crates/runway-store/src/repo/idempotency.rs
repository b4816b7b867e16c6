//! `Idempotency-Key` records. A key is claimed inside the transaction that
//! creates the resource, so a crash can never leave a key without its
//! resource or a resource created twice for one key.

use std::collections::{BTreeSet, HashMap, HashSet};

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
    let row = claim_row(org_id.to_string(), claim.clone(), resource_id.to_string());
    IdempotencyKey::insert(row)
        .exec_without_returning(txn)
        .await
        .map_err(key_taken)?;
    Ok(())
}

/// The record of `claim` by `org_id`, which created `resource_id`.
fn claim_row(
    org_id: String,
    claim: IdempotencyClaim,
    resource_id: String,
) -> idempotency_key::ActiveModel {
    idempotency_key::ActiveModel {
        org_id: Set(org_id),
        key: Set(claim.key),
        request_hash: Set(claim.request_hash),
        resource_id: Set(resource_id),
        created_at: Set(claim.at),
    }
}

/// An insert that found a live record with the same key: the key is taken.
fn key_taken(err: sea_orm::DbErr) -> StoreError {
    match StoreError::classify(err) {
        StoreError::Duplicate(_) => StoreError::IdempotencyKeyTaken,
        other => other,
    }
}

/// For a batch of creates, in the caller's transaction: which of `claims`
/// (organization and claim) find their key held by a live record (younger
/// than 24 h at the claim's time). Records that have expired no longer
/// reserve their keys and are deleted, so the batch may claim them.
pub(crate) async fn held(
    txn: &impl ConnectionTrait,
    claims: &[(&str, &IdempotencyClaim)],
) -> StoreResult<HashSet<(String, String)>> {
    if claims.is_empty() {
        return Ok(HashSet::new());
    }
    let orgs: BTreeSet<&str> = claims.iter().map(|(org, _)| *org).collect();
    let keys: BTreeSet<&str> = claims.iter().map(|(_, c)| c.key.as_str()).collect();
    let asked: HashMap<(&str, &str), i64> = claims
        .iter()
        .map(|(org, c)| ((*org, c.key.as_str()), c.at))
        .collect();
    // The index holds (org_id, key): a lookup per pair of the two sets, a
    // superset of the claims, narrowed here.
    let found = IdempotencyKey::find()
        .filter(idempotency_key::Column::OrgId.is_in(orgs.iter().copied()))
        .filter(idempotency_key::Column::Key.is_in(keys.iter().copied()))
        .all(txn)
        .await?;
    let mut live = HashSet::new();
    let mut expired = Vec::new();
    for record in found {
        let Some(at) = asked.get(&(record.org_id.as_str(), record.key.as_str())) else {
            continue;
        };
        if record.created_at > at - DAY_NANOS {
            live.insert((record.org_id, record.key));
        } else {
            expired.push((record.org_id, record.key, record.created_at));
        }
    }
    for (org_id, key, created_at) in expired {
        // Exactly the record read: another transaction may have replaced it
        // with a live claim since (PostgreSQL reads each statement afresh),
        // and that one must stay, so this batch's insert finds it.
        IdempotencyKey::delete_many()
            .filter(idempotency_key::Column::OrgId.eq(org_id))
            .filter(idempotency_key::Column::Key.eq(key))
            .filter(idempotency_key::Column::CreatedAt.eq(created_at))
            .exec(txn)
            .await?;
    }
    Ok(live)
}

/// Records the claims of a batch (organization, claim, what it created) in
/// one statement, in the caller's transaction, after [`held`] cleared their
/// keys. [`StoreError::IdempotencyKeyTaken`] when another transaction
/// claimed one of them meanwhile (another replica, on PostgreSQL).
pub(crate) async fn record_many(
    txn: &impl ConnectionTrait,
    records: Vec<(String, IdempotencyClaim, String)>,
) -> StoreResult<()> {
    if records.is_empty() {
        return Ok(());
    }
    let rows = records
        .into_iter()
        .map(|(org_id, claim, resource_id)| claim_row(org_id, claim, resource_id));
    IdempotencyKey::insert_many(rows)
        .exec_without_returning(txn)
        .await
        .map_err(key_taken)?;
    Ok(())
}
