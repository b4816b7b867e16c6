//! Sessions: read-only here; they are created and ended with their run.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::entity::session::{self, Entity as Session};
use crate::{Store, StoreResult};

/// The session `id` of `org_id`.
pub async fn get(store: &Store, org_id: &str, id: &str) -> StoreResult<Option<session::Model>> {
    Ok(Session::find_by_id(id)
        .filter(session::Column::OrgId.eq(org_id))
        .one(store.reader())
        .await?)
}
