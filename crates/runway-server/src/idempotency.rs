//! `Idempotency-Key` handling for RPCs that create something.
//!
//! The key is claimed in the same transaction that creates the resource, so
//! a key and its resource exist together or not at all. A second request
//! with the key replays the first one's resource; with a different request
//! it is refused; while the first is still in flight in this process it is
//! told to retry (409). Across replicas the claim's unique index decides:
//! the loser's transaction rolls back and it replays the winner's resource.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prost::Message;
use runway_store::Store;
use runway_store::repo::idempotency::{self, IdempotencyClaim};
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;

use crate::clock::SharedClock;
use crate::error::{Reason, ServiceError, ServiceResult};

/// The metadata key (the REST header `Idempotency-Key`).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
const PARAM: &str = "Idempotency-Key";
const MAX_KEY_LEN: usize = 255;

#[derive(Clone)]
pub struct IdempotencyGate {
    store: Store,
    clock: SharedClock,
    in_flight: Arc<Mutex<HashSet<(String, String)>>>,
}

/// Whether the gate looks the key up before creating.
#[derive(Clone, Copy)]
enum Lookup {
    First,
    OnlyIfTaken,
}

/// Removes an (org, key) pair from the in-flight set when the request ends.
struct InFlight {
    set: Arc<Mutex<HashSet<(String, String)>>>,
    entry: (String, String),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.set.lock().expect("in-flight set").remove(&self.entry);
    }
}

impl IdempotencyGate {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            in_flight: Arc::default(),
        }
    }

    /// Runs `create` at most once per `idempotency-key`: `create` gets the
    /// claim to record with its resource; `replay` turns the id of an
    /// earlier request's resource into this request's answer. The key is
    /// looked up first, so a replay answers the earlier resource even when
    /// creating it again would now be refused.
    pub async fn run<T, C, CF, R, RF>(
        &self,
        org_id: &str,
        metadata: &MetadataMap,
        operation: &str,
        request: &impl Message,
        create: C,
        replay: R,
    ) -> ServiceResult<T>
    where
        C: FnOnce(Option<IdempotencyClaim>) -> CF,
        CF: Future<Output = ServiceResult<T>>,
        R: FnOnce(String) -> RF,
        RF: Future<Output = ServiceResult<T>>,
    {
        self.gate(
            org_id,
            metadata,
            operation,
            request,
            Lookup::First,
            create,
            replay,
        )
        .await
    }

    /// [`IdempotencyGate::run`] for a `create` that checks its claim before
    /// any rule (the trigger batch does): no lookup before it, so a first
    /// request costs no extra read; a held key comes back as taken and is
    /// replayed.
    pub async fn run_claiming_first<T, C, CF, R, RF>(
        &self,
        org_id: &str,
        metadata: &MetadataMap,
        operation: &str,
        request: &impl Message,
        create: C,
        replay: R,
    ) -> ServiceResult<T>
    where
        C: FnOnce(Option<IdempotencyClaim>) -> CF,
        CF: Future<Output = ServiceResult<T>>,
        R: FnOnce(String) -> RF,
        RF: Future<Output = ServiceResult<T>>,
    {
        self.gate(
            org_id,
            metadata,
            operation,
            request,
            Lookup::OnlyIfTaken,
            create,
            replay,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn gate<T, C, CF, R, RF>(
        &self,
        org_id: &str,
        metadata: &MetadataMap,
        operation: &str,
        request: &impl Message,
        lookup: Lookup,
        create: C,
        replay: R,
    ) -> ServiceResult<T>
    where
        C: FnOnce(Option<IdempotencyClaim>) -> CF,
        CF: Future<Output = ServiceResult<T>>,
        R: FnOnce(String) -> RF,
        RF: Future<Output = ServiceResult<T>>,
    {
        let Some(key) = key_from(metadata)? else {
            return create(None).await;
        };
        let now = self.clock.now_nanos();
        let claim = IdempotencyClaim {
            key: key.clone(),
            request_hash: request_hash(operation, request),
            at: now,
        };
        let _in_flight = self.enter(org_id, &key)?;
        let found = match lookup {
            Lookup::First => idempotency::find(&self.store, org_id, &key, now).await?,
            Lookup::OnlyIfTaken => None,
        };
        let earlier = match found {
            Some(record) => record,
            None => match create(Some(claim.clone())).await {
                Err(ServiceError::Aborted {
                    reason: Reason::IdempotencyKeyInFlight,
                    ..
                }) => {
                    // Held: by an earlier request, or by another replica
                    // that committed this key while we ran.
                    idempotency::find(&self.store, org_id, &key, now)
                        .await?
                        .ok_or_else(|| {
                            ServiceError::Internal("idempotency record vanished".into())
                        })?
                }
                other => return other,
            },
        };
        if earlier.request_hash != claim.request_hash {
            return Err(ServiceError::InvalidArgument {
                param: Some(PARAM.into()),
                reason: Reason::IdempotencyKeyReused,
                message: format!(
                    "Idempotency-Key {key:?} was already used with a different request."
                ),
            });
        }
        replay(earlier.resource_id).await
    }

    fn enter(&self, org_id: &str, key: &str) -> ServiceResult<InFlight> {
        let entry = (org_id.to_string(), key.to_string());
        let mut set = self.in_flight.lock().expect("in-flight set");
        if !set.insert(entry.clone()) {
            return Err(ServiceError::Aborted {
                reason: Reason::IdempotencyKeyInFlight,
                message: format!(
                    "A request with Idempotency-Key {key:?} is still in progress; retry after it completes."
                ),
            });
        }
        Ok(InFlight {
            set: self.in_flight.clone(),
            entry,
        })
    }
}

fn key_from(metadata: &MetadataMap) -> ServiceResult<Option<String>> {
    let mut values = metadata.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ServiceError::invalid(
            PARAM,
            "Send one Idempotency-Key header, not several.",
        ));
    }
    let key = value
        .to_str()
        .map_err(|_| ServiceError::invalid(PARAM, "Idempotency-Key must be printable ASCII."))?;
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ServiceError::invalid(
            PARAM,
            format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters without spaces."
            ),
        ));
    }
    Ok(Some(key.to_string()))
}

/// Hash of the operation and the encoded request. Maps are encoded in key
/// order (prost is configured with BTreeMap), so equal requests hash equal.
fn request_hash(operation: &str, request: &impl Message) -> String {
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0]);
    hasher.update(request.encode_to_vec());
    hex::encode(hasher.finalize())
}
