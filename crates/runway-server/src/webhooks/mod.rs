//! Webhooks: the URL rules, the signing, the rendering of event bodies and
//! the delivery worker. Endpoints are managed by
//! [`crate::services::WebhookApi`]; events are written by the store in the
//! transactions that cause them.

pub mod address;
mod attempt;
pub mod render;
mod shares;
pub mod signing;
mod slots;
pub mod worker;

use std::time::Duration;

pub use worker::DeliveryWorker;

use crate::domain::deliveries::{ATTEMPT_TIMEOUT, DISABLE_AFTER, RETRY_DELAYS};

/// How a server sends webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Allow plain `http` and private, loopback and link-local targets.
    pub allow_private: bool,
    /// The waits after each failed attempt; attempts = this + 1.
    pub retry_delays: Vec<Duration>,
    /// An endpoint failing this long with no success is disabled.
    pub disable_after: Duration,
    /// How long an attempt may take.
    pub attempt_timeout: Duration,
    /// How long a claimed delivery stays with its worker before another may
    /// take it (longer than an attempt, so a live worker is never raced).
    pub claim_lease: Duration,
    /// How often a worker looks for due deliveries nobody woke it for
    /// (retries coming due, other replicas' events).
    pub poll_interval: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            retry_delays: RETRY_DELAYS.to_vec(),
            disable_after: DISABLE_AFTER,
            attempt_timeout: ATTEMPT_TIMEOUT,
            claim_lease: ATTEMPT_TIMEOUT * 4,
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl WebhookConfig {
    /// The URL rules these settings give.
    pub fn url_policy(&self) -> address::UrlPolicy {
        address::UrlPolicy {
            allow_private: self.allow_private,
        }
    }
}
