//! Keyset pagination over newest-first lists ordered by `(instant, id)`.
//!
//! A page costs one indexed range scan whatever the list's length, and a
//! row inserted while a client pages never shifts what it sees next.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Query as SeaQuery, SelectStatement, UnionType,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, IdenStatic, Order, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select,
};

use crate::sqlite_reads::SqliteRow;
use crate::{Store, StoreResult};

/// A position in a list: the row's sort instant and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub at: i64,
    pub id: String,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The newest rows.
    Start,
    /// The rows right after (older than) this key.
    After(Key),
    /// The rows right before (newer than) this key.
    Before(Key),
}

impl Cursor {
    /// The opaque token a client passes back as `page`.
    pub fn encode(&self) -> String {
        let raw = match self {
            Cursor::Start => "s".to_string(),
            Cursor::After(k) => format!("a|{}|{}", k.at, k.id),
            Cursor::Before(k) => format!("b|{}|{}", k.at, k.id),
        };
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads a token made by [`Cursor::encode`]; `None` when it is not one.
    pub fn decode(token: &str) -> Option<Cursor> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
        if raw == "s" {
            return Some(Cursor::Start);
        }
        let mut parts = raw.splitn(3, '|');
        let dir = parts.next()?;
        let at = parts.next()?.parse().ok()?;
        let id = parts.next()?.to_string();
        // No id holds NUL (PostgreSQL text cannot): a cursor with one was
        // not issued here.
        if id.is_empty() || id.contains('\0') {
            return None;
        }
        let key = Key { at, id };
        match dir {
            "a" => Some(Cursor::After(key)),
            "b" => Some(Cursor::Before(key)),
            _ => None,
        }
    }
}

/// What page to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    pub limit: u64,
    pub cursor: Cursor,
}

/// One page, newest first.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// More rows follow in the direction of the request.
    pub has_more: bool,
    /// Where the next page in the same direction starts, when `has_more`.
    pub next: Option<Cursor>,
}

/// True when `cursor` reads the newest rows first (rows are read toward
/// the cursor's direction).
fn newest_first(cursor: &Cursor) -> bool {
    !matches!(cursor, Cursor::Before(_))
}

/// A window of instants a list is limited to: `from` inclusive, `until`
/// exclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub from: Option<i64>,
    pub until: Option<i64>,
}

/// `select` narrowed to the rows past the cursor, in reading order, at most
/// one more than a page. The cursor is one row-value comparison, `(at, id)
/// < (…, …)`, so an index on `(…, at, id)` seeks to it instead of walking
/// the rows before it.
pub fn page_select<E: EntityTrait>(
    select: Select<E>,
    at: E::Column,
    id: E::Column,
    query: &PageQuery,
) -> Select<E> {
    page_select_within(select, at, id, query, Window::default())
}

/// Like [`page_select`], limited to `window`. The window and the cursor
/// make at most one bound on each side, each one row-value comparison on
/// `(at, id)` (an id is never empty, so `at < t` is `(at, id) < (t, '')`
/// and `at >= t` is `(at, id) >= (t, '')`): a planner sees one range on
/// the index's `(at, id)` after its equality columns, never two ranges to
/// weigh against each other.
pub fn page_select_within<E: EntityTrait>(
    select: Select<E>,
    at: E::Column,
    id: E::Column,
    query: &PageQuery,
    window: Window,
) -> Select<E> {
    let position = || Expr::tuple([Expr::col(at), Expr::col(id)]);
    let key = |at: i64, id: &str| Expr::tuple([Expr::val(at), Expr::val(id.to_string())]);
    // Below (exclusive): the tighter of the cursor and `until`.
    let below = match (&query.cursor, window.until) {
        (Cursor::After(k), Some(until)) if (k.at, k.id.as_str()) < (until, "") => {
            Some((k.at, k.id.clone()))
        }
        (Cursor::After(k), None) => Some((k.at, k.id.clone())),
        (_, Some(until)) => Some((until, String::new())),
        (_, None) => None,
    };
    // Above: the cursor (exclusive) when it is past `from`, else `from`
    // (inclusive).
    let above = match (&query.cursor, window.from) {
        (Cursor::Before(k), Some(from)) if (k.at, k.id.as_str()) < (from, "") => {
            Some((from, String::new(), true))
        }
        (Cursor::Before(k), _) => Some((k.at, k.id.clone(), false)),
        (_, Some(from)) => Some((from, String::new(), true)),
        (_, None) => None,
    };
    let mut select = select;
    if let Some((at, id)) = below {
        select = select.filter(position().lt(key(at, &id)));
    }
    if let Some((at, id, inclusive)) = above {
        select = select.filter(if inclusive {
            position().gte(key(at, &id))
        } else {
            position().gt(key(at, &id))
        });
    }
    let order = if newest_first(&query.cursor) {
        Order::Desc
    } else {
        Order::Asc
    };
    select
        .order_by(at, order.clone())
        .order_by(id, order)
        .limit(query.limit + 1)
}

/// The page `rows` make: read by [`page_select`], in its order.
fn finish<M>(mut items: Vec<M>, query: &PageQuery, key_of: impl Fn(&M) -> Key) -> Page<M> {
    let newest_first = newest_first(&query.cursor);
    let has_more = items.len() as u64 > query.limit;
    items.truncate(query.limit as usize);
    if !newest_first {
        // Read oldest-first to take the rows nearest the cursor; show newest first.
        items.reverse();
    }
    let next = if !has_more {
        None
    } else if newest_first {
        items.last().map(|m| Cursor::After(key_of(m)))
    } else {
        items.first().map(|m| Cursor::Before(key_of(m)))
    };
    Page {
        items,
        has_more,
        next,
    }
}

/// Where a page's rows are read from: a connection (through sea-orm), or
/// the store, whose SQLite reads of the hottest models skip sqlx's threads
/// ([`Store::read_all`]).
pub(crate) trait RowSource<E: EntityTrait> {
    async fn rows(&self, select: Select<E>) -> StoreResult<Vec<E::Model>>;
}

impl<E: EntityTrait> RowSource<E> for DatabaseConnection {
    async fn rows(&self, select: Select<E>) -> StoreResult<Vec<E::Model>> {
        Ok(select.all(self).await?)
    }
}

impl<E: EntityTrait> RowSource<E> for Store
where
    E::Model: SqliteRow,
{
    async fn rows(&self, select: Select<E>) -> StoreResult<Vec<E::Model>> {
        self.read_all(select).await
    }
}

/// Reads one page of `select`, ordered newest first by `(at, id)`.
pub(crate) async fn fetch<E: EntityTrait>(
    source: &impl RowSource<E>,
    select: Select<E>,
    at: E::Column,
    id: E::Column,
    query: &PageQuery,
    key_of: impl Fn(&E::Model) -> Key,
) -> StoreResult<Page<E::Model>> {
    let rows = source.rows(page_select(select, at, id, query)).await?;
    Ok(finish(rows, query, key_of))
}

/// Reads one page of the union of `parts` (selects of disjoint rows, each
/// already narrowed by [`page_select`]): each part reads at most a page
/// plus one, from its own index range. A filter that is a union of index
/// ranges (a set of statuses, say) costs a few short range scans, not a
/// scan of history. Several parts are read as one statement: the union of
/// their `(at, id)` keys (index-only), merged and cut to a page by the
/// database, and the page's rows by id; only the rows shown are decoded.
pub(crate) async fn fetch_merged<E: EntityTrait>(
    source: &impl RowSource<E>,
    parts: Vec<Select<E>>,
    at: E::Column,
    id: E::Column,
    query: &PageQuery,
    key_of: impl Fn(&E::Model) -> Key,
) -> StoreResult<Page<E::Model>> {
    let rows = match merged_select(parts, at, id, query) {
        Some(select) => source.rows(select).await?,
        None => Vec::new(),
    };
    Ok(finish(rows, query, key_of))
}

/// The one statement [`fetch_merged`] runs for `parts`: the part itself
/// when there is one; otherwise the rows whose ids the union of the parts'
/// `(at, id)` keys (index-only, merged and cut to a page by the database)
/// names, in reading order. `None` for no part (an empty page).
pub fn merged_select<E: EntityTrait>(
    parts: Vec<Select<E>>,
    at: E::Column,
    id: E::Column,
    query: &PageQuery,
) -> Option<Select<E>> {
    if parts.len() <= 1 {
        return parts.into_iter().next();
    }
    let order = if newest_first(&query.cursor) {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut keys: Option<SelectStatement> = None;
    for (n, part) in parts.into_iter().enumerate() {
        let part = part.select_only().column(at).column(id).into_query();
        let wrapped = SeaQuery::select()
            .column(Asterisk)
            .from_subquery(part, Alias::new(format!("p{n}")))
            .to_owned();
        match &mut keys {
            None => keys = Some(wrapped),
            Some(union) => {
                union.union(UnionType::All, wrapped);
            }
        }
    }
    let mut keys = keys.expect("two parts or more");
    keys.order_by(Alias::new(at.as_str()), order.clone())
        .order_by(Alias::new(id.as_str()), order.clone())
        .limit(query.limit + 1);
    // The page's rows in the same statement as their keys: one snapshot,
    // so a row is shown as the filter found it.
    let ids = SeaQuery::select()
        .column(Alias::new(id.as_str()))
        .from_subquery(keys, Alias::new("page"))
        .to_owned();
    Some(
        E::find()
            .filter(id.in_subquery(ids))
            .order_by(at, order.clone())
            .order_by(id, order),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let key = Key {
            at: 1_781_427_497_133_340_942,
            id: "drun_019ec55a68af73028afa5b87931cb2f3".into(),
        };
        for c in [
            Cursor::Start,
            Cursor::After(key.clone()),
            Cursor::Before(key),
        ] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        for bad in [
            "",
            "!!",
            "eA",
            &URL_SAFE_NO_PAD.encode("a|x|y"),
            &URL_SAFE_NO_PAD.encode("a|1|"),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
