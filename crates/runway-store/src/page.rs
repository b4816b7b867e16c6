//! Keyset pagination over newest-first lists ordered by `(instant, id)`.
//!
//! A page costs one indexed range scan whatever the list's length, and a
//! row inserted while a client pages never shifts what it sees next.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use crate::StoreResult;

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
        if id.is_empty() {
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

/// Reads one page of `select`, ordered newest first by `(at, id)`.
pub(crate) async fn fetch<E, C>(
    db: &C,
    select: Select<E>,
    at: E::Column,
    id: E::Column,
    query: &PageQuery,
    key_of: impl Fn(&E::Model) -> Key,
) -> StoreResult<Page<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let (select, newest_first) = match &query.cursor {
        Cursor::Start => (select, true),
        Cursor::After(k) => (
            select.filter(
                Condition::any()
                    .add(at.lt(k.at))
                    .add(Condition::all().add(at.eq(k.at)).add(id.lt(k.id.clone()))),
            ),
            true,
        ),
        Cursor::Before(k) => (
            select.filter(
                Condition::any()
                    .add(at.gt(k.at))
                    .add(Condition::all().add(at.eq(k.at)).add(id.gt(k.id.clone()))),
            ),
            false,
        ),
    };
    let order = if newest_first {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut items = select
        .order_by(at, order.clone())
        .order_by(id, order)
        .limit(query.limit + 1)
        .all(db)
        .await?;
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
    Ok(Page {
        items,
        has_more,
        next,
    })
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
