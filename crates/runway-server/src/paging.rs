//! `PageRequest` → store query, and store page → `PageInfo`.

use runway_api::v1::{PageInfo, PageRequest};
use runway_store::page::{Cursor, Key, Page, PageQuery};

use crate::error::{ServiceError, ServiceResult};

pub const DEFAULT_LIMIT: i32 = 20;
pub const MAX_LIMIT: i32 = 1000;

/// A validated page request whose `after_id` / `before_id`, if any, still
/// has to be resolved to a key.
pub enum PageRequestPlan {
    Ready(PageQuery),
    AfterId(u64, String),
    BeforeId(u64, String),
}

/// Validates `page`: a limit of 1–1000 and at most one cursor.
pub fn plan(page: Option<&PageRequest>) -> ServiceResult<PageRequestPlan> {
    let default = PageRequest::default();
    let page = page.unwrap_or(&default);
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ServiceError::invalid(
            "page.limit",
            format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
        ));
    }
    let limit = limit as u64;
    let cursors = [&page.page, &page.after_id, &page.before_id]
        .iter()
        .filter(|c| c.is_some())
        .count();
    if cursors > 1 {
        return Err(ServiceError::invalid_request(
            "At most one of page, after_id and before_id may be given.",
        ));
    }
    if let Some(token) = &page.page {
        let cursor = Cursor::decode(token).ok_or_else(|| {
            ServiceError::invalid("page.page", "page is not a cursor this API issued")
        })?;
        return Ok(PageRequestPlan::Ready(PageQuery { limit, cursor }));
    }
    if let Some(id) = &page.after_id {
        return Ok(PageRequestPlan::AfterId(limit, id.clone()));
    }
    if let Some(id) = &page.before_id {
        return Ok(PageRequestPlan::BeforeId(limit, id.clone()));
    }
    Ok(PageRequestPlan::Ready(PageQuery {
        limit,
        cursor: Cursor::Start,
    }))
}

impl PageRequestPlan {
    /// Resolves an id cursor with `key_of` (the id's list position), which
    /// answers `None` for an id not in the list's scope.
    pub async fn resolve<F, Fut>(self, key_of: F) -> ServiceResult<PageQuery>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = ServiceResult<Option<Key>>>,
    {
        let (limit, id, after, param) = match self {
            PageRequestPlan::Ready(q) => return Ok(q),
            PageRequestPlan::AfterId(limit, id) => (limit, id, true, "page.after_id"),
            PageRequestPlan::BeforeId(limit, id) => (limit, id, false, "page.before_id"),
        };
        let key = key_of(id.clone()).await?.ok_or_else(|| {
            ServiceError::invalid(param, format!("{id} is not an item of this list"))
        })?;
        Ok(PageQuery {
            limit,
            cursor: if after {
                Cursor::After(key)
            } else {
                Cursor::Before(key)
            },
        })
    }
}

/// The `PageInfo` of a page whose items have the ids `ids`.
pub fn info<T>(page: &Page<T>, id: impl Fn(&T) -> &str) -> PageInfo {
    PageInfo {
        first_id: page.items.first().map(|t| id(t).to_string()),
        last_id: page.items.last().map(|t| id(t).to_string()),
        has_more: page.has_more,
        next_page: page.next.as_ref().map(Cursor::encode),
    }
}
