//! Bearer-token authentication with a short-lived cache, so a token costs
//! one lookup per TTL and not one query per request; then the token's rate
//! limit.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use runway_store::Store;
use runway_store::repo::tenants::{self, Principal};
use tonic::metadata::MetadataMap;

use crate::error::{ServiceError, ServiceResult};
use crate::rate_limit::{RateLimit, TokenLimiter};

/// How long a verdict on a token is reused. A revoked token stops working
/// after at most this long.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);

/// Resolves the `authorization` metadata of a request to a [`Principal`].
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    // Keyed by the token's hash so no secret stays in memory longer than
    // the request that carried it.
    cache: Cache<String, Option<Principal>>,
    limiter: Arc<TokenLimiter>,
}

impl Authenticator {
    /// `limit`: each token's request rate, or `None` for no limit.
    pub fn new(store: Store, limit: Option<RateLimit>) -> Self {
        Self {
            store,
            limiter: Arc::new(TokenLimiter::new(limit)),
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TOKEN_CACHE_TTL)
                .build(),
        }
    }

    /// Who the request acts for; UNAUTHENTICATED when the header is missing,
    /// not `Bearer <token>`, or names no live token; RESOURCE_EXHAUSTED when
    /// the token is over its rate limit (every authenticated call counts).
    pub async fn principal(&self, metadata: &MetadataMap) -> ServiceResult<Principal> {
        let token = bearer_token(metadata).ok_or(ServiceError::Unauthenticated)?;
        let hash = tenants::hash_token(token);
        let verdict = match self.cache.get(&hash) {
            Some(verdict) => verdict,
            None => {
                let verdict = tenants::authenticate(&self.store, token).await?;
                self.cache.insert(hash, verdict.clone());
                verdict
            }
        };
        let principal = verdict.ok_or(ServiceError::Unauthenticated)?;
        self.limiter.admit(&principal.token_id)?;
        Ok(principal)
    }
}

fn bearer_token(metadata: &MetadataMap) -> Option<&str> {
    let value = metadata.get("authorization")?.to_str().ok()?;
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
    }
}
