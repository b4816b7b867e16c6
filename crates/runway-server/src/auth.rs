//! Bearer-token authentication with a short-lived cache, so a token costs
//! one lookup per TTL and not one query per request; then the token's
//! expiry, its rate limit and its scope.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use runway_store::Store;
use runway_store::repo::tenants::{self, Principal};
use tonic::metadata::MetadataMap;

use crate::clock::SharedClock;
use crate::domain::access::{self, Access};
use crate::error::{ServiceError, ServiceResult};
use crate::rate_limit::{RateLimit, TokenLimiter};

/// How long a verdict on a token is reused. A revoked token stops working
/// after at most this long on every replica (at once on the one that
/// revoked it); `last_used_at` is written once per token and period.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);

/// How often a long-lived call (an event stream) asks whether its token
/// still works; with the cached answer's lifetime, it ends within
/// [`TOKEN_CACHE_TTL`] of a revocation on any replica.
pub const STREAM_RECHECK: Duration = Duration::from_secs(1);

/// Resolves the `authorization` metadata of a request to a [`Principal`].
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    clock: SharedClock,
    // Keyed by the token's hash so no secret stays in memory longer than
    // the request that carried it.
    cache: Cache<String, Option<Principal>>,
    /// Tokens this replica revoked within the cache's lifetime: refused even
    /// when a verdict read just before the revocation is cached after it.
    revoked: Cache<String, ()>,
    /// Whether a token (by id) still works, for streams opened with it.
    live: Cache<String, bool>,
    limiter: Arc<TokenLimiter>,
}

impl Authenticator {
    /// `limit`: each token's request rate, or `None` for no limit.
    /// `clock` decides expiry.
    pub fn new(store: Store, clock: SharedClock, limit: Option<RateLimit>) -> Self {
        Self {
            store,
            clock,
            limiter: Arc::new(TokenLimiter::new(limit)),
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TOKEN_CACHE_TTL)
                .build(),
            revoked: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TOKEN_CACHE_TTL)
                .build(),
            live: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TOKEN_CACHE_TTL - STREAM_RECHECK)
                .build(),
        }
    }

    /// Who the request acts for, when its token may do `access`:
    /// UNAUTHENTICATED when the header is missing, not `Bearer <token>`, or
    /// names no live token (unknown, revoked, expired); RESOURCE_EXHAUSTED
    /// when the token is over its rate limit (every authenticated call
    /// counts); PERMISSION_DENIED when its scope does not allow `access`.
    pub async fn principal(
        &self,
        metadata: &MetadataMap,
        access: Access,
    ) -> ServiceResult<Principal> {
        let token = bearer_token(metadata).ok_or(ServiceError::Unauthenticated)?;
        let hash = tenants::hash_token(token);
        let verdict = match self.cache.get(&hash) {
            Some(verdict) => verdict,
            None => {
                let verdict = tenants::authenticate(&self.store, token).await?;
                self.cache.insert(hash, verdict.clone());
                if let Some(who) = &verdict {
                    self.note_use(&who.token_id);
                }
                verdict
            }
        };
        let principal = verdict.ok_or(ServiceError::Unauthenticated)?;
        if self.expired(&principal) || self.revoked.contains_key(&principal.token_id) {
            return Err(ServiceError::Unauthenticated);
        }
        self.limiter.admit(&principal.token_id)?;
        access::require(principal.scope, access)?;
        Ok(principal)
    }

    fn expired(&self, principal: &Principal) -> bool {
        principal
            .expires_at
            .is_some_and(|at| at <= self.clock.now_nanos())
    }

    /// Whether the token `principal` was read from still works: not expired
    /// (exactly), not revoked (within [`TOKEN_CACHE_TTL`]). Long-lived
    /// calls (event streams) ask this as they go, so a revocation ends them
    /// too. One read per token and period.
    pub async fn still_valid(&self, principal: &Principal) -> bool {
        if self.expired(principal) || self.revoked.contains_key(&principal.token_id) {
            return false;
        }
        if let Some(live) = self.live.get(&principal.token_id) {
            return live;
        }
        match tenants::get_token(&self.store, &principal.org_id, &principal.token_id).await {
            Ok(row) => {
                let live = row.is_some_and(|t| t.revoked_at.is_none());
                self.live.insert(principal.token_id.clone(), live);
                live
            }
            // The database is unreachable: the stream keeps what it has
            // (its next read fails on its own) and asks again next time.
            Err(err) => {
                tracing::warn!(%err, "token not re-checked");
                true
            }
        }
    }

    /// Forgets the verdict on token `token_id`, so this replica refuses it
    /// at once after a revocation (others within [`TOKEN_CACHE_TTL`]).
    pub fn forget(&self, token_id: &str) {
        self.revoked.insert(token_id.to_string(), ());
        self.live.insert(token_id.to_string(), false);
        let stale: Vec<_> = self
            .cache
            .iter()
            .filter(|(_, verdict)| verdict.as_ref().is_some_and(|p| p.token_id == token_id))
            .map(|(hash, _)| hash)
            .collect();
        for hash in stale {
            self.cache.invalidate(hash.as_str());
        }
    }

    /// Records the token's use in the background: once per verdict, so a
    /// token costs one write per [`TOKEN_CACHE_TTL`], never one per request.
    fn note_use(&self, token_id: &str) {
        let (store, id, now) = (
            self.store.clone(),
            token_id.to_string(),
            self.clock.now_nanos(),
        );
        tokio::spawn(async move {
            if let Err(err) = tenants::touch_token(&store, &id, now).await {
                tracing::warn!(token_id = %id, %err, "last_used_at not recorded");
            }
        });
    }
}

/// The bearer token of the one `authorization` value; none when there are
/// two (which one would count is not for a proxy and a server to disagree on).
fn bearer_token(metadata: &MetadataMap) -> Option<&str> {
    let mut values = metadata.get_all("authorization").iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn only_bearer_tokens_are_read() {
        assert_eq!(bearer_token(&meta("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&meta("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&meta("Basic abc")), None);
        assert_eq!(bearer_token(&meta("Bearer ")), None);
        assert_eq!(bearer_token(&meta("abc")), None);
        assert_eq!(bearer_token(&MetadataMap::new()), None);
        let mut twice = meta("Bearer abc");
        twice.append("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&twice), None, "two values: neither counts");
    }
}
