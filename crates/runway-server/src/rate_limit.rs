//! Per-token request limits: each token has its own bucket, so one noisy
//! client is slowed down and nobody else is.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{ServiceError, ServiceResult};

/// How many requests a token may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests a second.
    pub per_second: NonZeroU32,
    /// Requests a token may make at once after a quiet spell.
    pub burst: NonZeroU32,
}

impl Default for RateLimit {
    /// Generous: well above what one client of the benchmarks sends
    /// (≈ 7,000 triggers a second from 32 connections sharing a token).
    fn default() -> Self {
        RateLimit {
            per_second: NonZeroU32::new(20_000).unwrap(),
            burst: NonZeroU32::new(20_000).unwrap(),
        }
    }
}

/// Past this many tracked tokens, those idle long enough to have a full
/// bucket again are forgotten (they would be allowed their burst anyway).
const FORGET_IDLE_PAST: usize = 10_000;

/// The buckets of every token seen, or none when limits are off.
pub struct TokenLimiter {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl TokenLimiter {
    /// `None`: no limits.
    pub fn new(limit: Option<RateLimit>) -> Self {
        TokenLimiter {
            limiter: limit
                .map(|l| RateLimiter::keyed(Quota::per_second(l.per_second).allow_burst(l.burst))),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of `token_id`; RESOURCE_EXHAUSTED with the wait
    /// before the next one would be allowed when its bucket is empty.
    pub fn admit(&self, token_id: &str) -> ServiceResult<()> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > FORGET_IDLE_PAST {
            limiter.retain_recent();
        }
        limiter
            .check_key(&token_id.to_string())
            .map_err(|not_until| ServiceError::RateLimited {
                retry_after: not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_millis(1)),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_second: u32, burst: u32) -> Option<RateLimit> {
        Some(RateLimit {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        })
    }

    #[test]
    fn a_token_gets_its_burst_then_waits_and_others_are_untouched() {
        let limiter = TokenLimiter::new(limit(1, 3));
        for _ in 0..3 {
            limiter.admit("tok_a").unwrap();
        }
        match limiter.admit("tok_a") {
            Err(ServiceError::RateLimited { retry_after }) => {
                assert!(
                    retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1),
                    "{retry_after:?}"
                )
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        limiter.admit("tok_b").unwrap();
    }

    #[test]
    fn no_limit_admits_everything() {
        let limiter = TokenLimiter::new(None);
        for _ in 0..100_000 {
            limiter.admit("tok_a").unwrap();
        }
    }
}
