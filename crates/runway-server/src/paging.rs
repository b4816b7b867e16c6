//! `PageRequest` → store query, and store page → `PageInfo`.

use runway_api::v1::{PageInfo, PageRequest};
use runway_store::ids::IdKind;
use runway_store::page::{Cursor, Key, Page, PageQuery};

use crate::error::{ServiceError, ServiceResult};
use crate::validate;

pub const DEFAULT_LIMIT: i32 = 20;
pub const MAX_LIMIT: i32 = 1000;

/// A validated page request whose `after_id` / `before_id`, if any, still
/// has to be resolved to a key.
pub enum PageRequestPlan {
    Ready(PageQuery),
    AfterId(u64, String),
    BeforeId(u64, String),
}

/// Validates `page`, a page of a list of `items`: a limit of 1–1000, at
/// most one cursor, and a `page` token issued by a list of the same items
/// (another list's position means nothing here).
pub fn plan(page: Option<&PageRequest>, items: IdKind) -> ServiceResult<PageRequestPlan> {
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
        if let Cursor::After(key) | Cursor::Before(key) = &cursor
            && !items.is_valid(&key.id)
        {
            return Err(ServiceError::invalid(
                "page.page",
                "page is a cursor of another list",
            ));
        }
        return Ok(PageRequestPlan::Ready(PageQuery { limit, cursor }));
    }
    if let Some(id) = &page.after_id {
        validate::no_nul_named("page.after_id", "after_id", id)?;
        return Ok(PageRequestPlan::AfterId(limit, id.clone()));
    }
    if let Some(id) = &page.before_id {
        validate::no_nul_named("page.before_id", "before_id", id)?;
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

/// The most a page of session events holds, encoded: 1,000 events of up
/// to 256 KiB each would not fit one message (64 MiB), nor a sane answer.
pub const MAX_PAGE_BYTES: usize = 32 * 1024 * 1024;

/// The longest prefix of `items` whose encoding fits in `budget` bytes
/// (never less than one item), and whether any item was left out: the
/// page then ends early, with more to read after its last item.
pub fn within_bytes<T: prost::Message>(mut items: Vec<T>, budget: usize) -> (Vec<T>, bool) {
    let mut total = 0;
    let fits = items
        .iter()
        .position(|item| {
            let len = item.encoded_len();
            // Each item of a repeated field: a tag byte and its length.
            total += 1 + prost::length_delimiter_len(len) + len;
            total > budget
        })
        .map_or(items.len(), |first_over| first_over.max(1));
    let cut = fits < items.len();
    items.truncate(fits);
    (items, cut)
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

#[cfg(test)]
mod byte_budget_tests {
    use super::within_bytes;

    fn items(sizes: &[usize]) -> Vec<String> {
        sizes.iter().map(|n| "x".repeat(*n)).collect()
    }

    #[test]
    fn a_page_within_its_budget_is_whole() {
        // A 100-byte string (prost encodes it as field 1: 102 bytes) takes
        // 104 bytes of a page with its tag and length.
        let (kept, cut) = within_bytes(items(&[100, 100, 100]), 312);
        assert_eq!((kept.len(), cut), (3, false));
    }

    #[test]
    fn a_page_over_its_budget_ends_before_the_item_that_crosses_it() {
        let (kept, cut) = within_bytes(items(&[100, 100, 100]), 311);
        assert_eq!((kept.len(), cut), (2, true));
        let (kept, cut) = within_bytes(items(&[100, 100, 100]), 207);
        assert_eq!((kept.len(), cut), (1, true));
    }

    #[test]
    fn one_item_larger_than_the_budget_still_makes_a_page() {
        let (kept, cut) = within_bytes(items(&[1000, 10]), 100);
        assert_eq!((kept, cut), (items(&[1000]), true));
    }
}
