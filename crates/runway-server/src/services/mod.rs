//! The gRPC services. Each handler authenticates, validates, applies the
//! domain rules and answers with proto messages; storage is runway-store's.

mod agents;
mod deployments;
mod environments;
mod runs;

use std::sync::Arc;

use runway_store::Store;

pub use agents::AgentApi;
pub use deployments::DeploymentApi;
pub use environments::EnvironmentApi;
pub use runs::concurrency_gate;

use crate::auth::Authenticator;
use crate::clock::SharedClock;
use crate::idempotency::IdempotencyGate;

/// What every service shares.
pub struct Core {
    pub store: Store,
    pub auth: Authenticator,
    pub idempotency: IdempotencyGate,
    pub clock: SharedClock,
}

impl Core {
    pub fn new(store: Store, clock: SharedClock) -> Arc<Core> {
        Arc::new(Core {
            auth: Authenticator::new(store.clone()),
            idempotency: IdempotencyGate::new(store.clone()),
            store,
            clock,
        })
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> i64 {
        self.clock.now_nanos()
    }
}

/// The paths of an update mask, checked against the fields a request may
/// change. `prefixes` accept any path under them (e.g. `metadata.`).
fn mask_paths<'a>(
    mask: Option<&'a prost_types::FieldMask>,
    fields: &[&str],
    prefixes: &[&str],
) -> crate::error::ServiceResult<Vec<&'a str>> {
    let paths: Vec<&str> = mask
        .map(|m| m.paths.iter().map(String::as_str).collect())
        .unwrap_or_default();
    for path in &paths {
        let known = fields.contains(path)
            || prefixes
                .iter()
                .any(|p| path.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
        if !known {
            return Err(crate::error::ServiceError::invalid(
                "update_mask",
                format!("{path:?} is not a field that can be updated"),
            ));
        }
    }
    Ok(paths)
}
