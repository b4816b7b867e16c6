//! WebhookService: endpoints, their secrets, test events and deliveries.

use std::sync::Arc;

use runway_api::enums::{WebhookDeliveryStatus, WebhookDisabledReason};
use runway_api::v1::webhook_service_server::WebhookService;
use runway_api::v1::*;
use runway_store::entity::webhook_endpoint;
use runway_store::ids::IdKind;
use runway_store::json_text::JsonText;
use runway_store::repo::webhooks::{self, deliveries};
use tonic::{Request, Response, Status};

use super::webhook_fields::{self, event_types, same_types};
use super::{Core, mask_paths};
use crate::convert;
use crate::domain::access::Access;
use crate::error::{Reason, ResourceKind, ServiceError, ServiceResult};
use crate::paging;
use crate::validate;
use crate::webhooks::signing;

/// How long the secret before a rotation keeps signing.
const ROTATION_OVERLAP_NANOS: i64 = 24 * 3600 * 1_000_000_000;

pub struct WebhookApi {
    core: Arc<Core>,
}

impl WebhookApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    async fn load(&self, org_id: &str, id: &str) -> ServiceResult<webhook_endpoint::Model> {
        validate::known_id(ResourceKind::WebhookEndpoint, "endpoint_id", id)?;
        webhooks::get_endpoint(&self.core.store, org_id, id)
            .await?
            .ok_or_else(|| not_found(id))
    }
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::not_found(ResourceKind::WebhookEndpoint, id.to_string(), "endpoint_id")
}

#[tonic::async_trait]
impl WebhookService for WebhookApi {
    async fn create_webhook_endpoint(
        &self,
        request: Request<CreateWebhookEndpointRequest>,
    ) -> Result<Response<CreateWebhookEndpointResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let req = request.get_ref();
        let url = webhook_fields::url(&self.core.execution.webhooks.url_policy(), &req.url).await?;
        let event_types = event_types(&req.event_types)?;
        let description = validate::text("description", req.description.as_ref())?;
        let enabled = req.enabled.unwrap_or(true);
        let org = who.org_id.as_str();
        let now = self.core.now();
        let row = webhook_endpoint::Model {
            id: IdKind::WebhookEndpoint.generate(),
            org_id: org.to_string(),
            url,
            description,
            event_types: JsonText(event_types),
            enabled,
            disabled_reason: (!enabled).then_some(WebhookDisabledReason::Manual),
            failing_since: None,
            last_failed_at: None,
            secret: signing::new_secret(),
            previous_secret: None,
            previous_secret_expires_at: None,
            created_at: now,
            updated_at: now,
        };
        let created = row.id.clone();
        let saved = self
            .core
            .idempotency
            .run(
                org,
                request.metadata(),
                "CreateWebhookEndpoint",
                req,
                |claim| async move {
                    Ok(webhooks::create_endpoint(&self.core.store, row, claim.as_ref()).await?)
                },
                |id| async move { self.load(org, &id).await },
            )
            .await?;
        // A replayed create shows the secret again (the same client asked,
        // and may not have had the first answer), but only the one the
        // first answer showed: once rotated, the secret is never shown.
        let replayed = saved.id != created;
        if replayed && saved.previous_secret_expires_at.is_some() {
            return Err(ServiceError::precondition(
                Reason::WebhookSecretRotated,
                format!(
                    "Webhook endpoint {} was created with this Idempotency-Key, and its signing \
                     secret was rotated since: the creation is not replayed (a secret is shown once)",
                    saved.id
                ),
            )
            .into());
        }
        Ok(Response::new(CreateWebhookEndpointResponse {
            endpoint: Some(convert::webhook_endpoint(
                &saved,
                Some(&saved.secret),
                self.core.now(),
            )),
        }))
    }

    async fn get_webhook_endpoint(
        &self,
        request: Request<GetWebhookEndpointRequest>,
    ) -> Result<Response<GetWebhookEndpointResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let endpoint = self
            .load(&who.org_id, &request.get_ref().endpoint_id)
            .await?;
        Ok(Response::new(GetWebhookEndpointResponse {
            endpoint: Some(convert::webhook_endpoint(&endpoint, None, self.core.now())),
        }))
    }

    async fn list_webhook_endpoints(
        &self,
        request: Request<ListWebhookEndpointsRequest>,
    ) -> Result<Response<ListWebhookEndpointsResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let store = &self.core.store;
        let org = who.org_id.as_str();
        let query = paging::plan(request.get_ref().page.as_ref(), IdKind::WebhookEndpoint)?
            .resolve(|id| async move { Ok(webhooks::endpoint_key(store, org, &id).await?) })
            .await?;
        let page = webhooks::list_endpoints(store, org, &query)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(ListWebhookEndpointsResponse {
            endpoints: page
                .items
                .iter()
                .map(|e| convert::webhook_endpoint(e, None, self.core.now()))
                .collect(),
            page_info: Some(paging::info(&page, |e| &e.id)),
        }))
    }

    async fn update_webhook_endpoint(
        &self,
        request: Request<UpdateWebhookEndpointRequest>,
    ) -> Result<Response<UpdateWebhookEndpointResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let req = request.get_ref();
        let id = &req.endpoint_id;
        validate::known_id(ResourceKind::WebhookEndpoint, "endpoint_id", id)?;
        let paths = mask_paths(
            req.update_mask.as_ref(),
            &["url", "event_types", "description", "enabled"],
            &[],
        )?;
        let has = |p: &str| paths.contains(&p);
        let url = match has("url") {
            true => Some(
                webhook_fields::url(&self.core.execution.webhooks.url_policy(), &req.url).await?,
            ),
            false => None,
        };
        let types = has("event_types")
            .then(|| event_types(&req.event_types))
            .transpose()?;
        let description = validate::text("description", req.description.as_ref())?;
        let now = self.core.now();
        let endpoint = webhooks::modify_endpoint(&self.core.store, &who.org_id, id, now, |row| {
            if let Some(url) = url {
                row.url = url;
            }
            // A subscription is a set: the same types in another order keep
            // the row (and its `updated_at`) as it is.
            if let Some(types) = types
                && !same_types(&types, &row.event_types)
            {
                row.event_types = JsonText(types);
            }
            if has("description") {
                row.description = description;
            }
            if has("enabled") && req.enabled != row.enabled {
                row.enabled = req.enabled;
                // Enabled again, it starts afresh: its parked deliveries resume.
                row.disabled_reason = (!req.enabled).then_some(WebhookDisabledReason::Manual);
                row.failing_since = None;
            }
            Ok::<_, ServiceError>(())
        })
        .await?
        .ok_or_else(|| not_found(id))?;
        if endpoint.enabled {
            self.core.store.webhooks().wake();
        }
        Ok(Response::new(UpdateWebhookEndpointResponse {
            endpoint: Some(convert::webhook_endpoint(&endpoint, None, now)),
        }))
    }

    async fn delete_webhook_endpoint(
        &self,
        request: Request<DeleteWebhookEndpointRequest>,
    ) -> Result<Response<DeleteWebhookEndpointResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let id = &request.get_ref().endpoint_id;
        validate::known_id(ResourceKind::WebhookEndpoint, "endpoint_id", id)?;
        if !webhooks::delete_endpoint(&self.core.store, &who.org_id, id)
            .await
            .map_err(ServiceError::from)?
        {
            return Err(not_found(id).into());
        }
        Ok(Response::new(DeleteWebhookEndpointResponse {
            endpoint_id: id.clone(),
        }))
    }

    async fn rotate_webhook_endpoint_secret(
        &self,
        request: Request<RotateWebhookEndpointSecretRequest>,
    ) -> Result<Response<RotateWebhookEndpointSecretResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let id = &request.get_ref().endpoint_id;
        validate::known_id(ResourceKind::WebhookEndpoint, "endpoint_id", id)?;
        let now = self.core.now();
        let secret = signing::new_secret();
        let endpoint = webhooks::modify_endpoint(&self.core.store, &who.org_id, id, now, |row| {
            let old = std::mem::replace(&mut row.secret, secret.clone());
            row.previous_secret = Some(old);
            row.previous_secret_expires_at = Some(now + ROTATION_OVERLAP_NANOS);
            Ok::<_, ServiceError>(())
        })
        .await?
        .ok_or_else(|| not_found(id))?;
        Ok(Response::new(RotateWebhookEndpointSecretResponse {
            endpoint: Some(convert::webhook_endpoint(
                &endpoint,
                Some(&secret),
                self.core.now(),
            )),
        }))
    }

    async fn test_webhook_endpoint(
        &self,
        request: Request<TestWebhookEndpointRequest>,
    ) -> Result<Response<TestWebhookEndpointResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let id = &request.get_ref().endpoint_id;
        validate::known_id(ResourceKind::WebhookEndpoint, "endpoint_id", id)?;
        let tested = webhooks::test_endpoint(&self.core.store, &who.org_id, id, self.core.now())
            .await
            .map_err(ServiceError::from)?;
        let delivery = match tested {
            webhooks::TestEvent::NotFound => return Err(not_found(id).into()),
            webhooks::TestEvent::Disabled(_) => {
                return Err(ServiceError::precondition(
                    Reason::WebhookEndpointDisabled,
                    format!("Webhook endpoint {id} is disabled; enable it to test it"),
                )
                .into());
            }
            webhooks::TestEvent::Queued(delivery) => delivery,
        };
        Ok(Response::new(TestWebhookEndpointResponse {
            delivery: Some(convert::webhook_delivery(&delivery, &[])),
        }))
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<ListWebhookDeliveriesRequest>,
    ) -> Result<Response<ListWebhookDeliveriesResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let req = request.get_ref();
        let org = who.org_id.as_str();
        let endpoint = self.load(org, &req.endpoint_id).await?;
        let status = req
            .status
            .map(|n| {
                WebhookDeliveryStatus::from_proto(n).ok_or_else(|| {
                    ServiceError::invalid(
                        "status",
                        format!("status must be {}", WebhookDeliveryStatus::expected()),
                    )
                })
            })
            .transpose()?;
        let store = &self.core.store;
        let endpoint_id = endpoint.id.as_str();
        let query = paging::plan(req.page.as_ref(), IdKind::WebhookDelivery)?
            .resolve(|id| async move {
                Ok(deliveries::delivery_key(store, org, endpoint_id, &id).await?)
            })
            .await?;
        let page = deliveries::list_deliveries(store, org, endpoint_id, status, &query)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(ListWebhookDeliveriesResponse {
            deliveries: page
                .items
                .iter()
                .map(|d| convert::webhook_delivery(&d.delivery, &d.attempts))
                .collect(),
            page_info: Some(paging::info(&page, |d| &d.delivery.id)),
        }))
    }

    async fn redeliver_webhook_delivery(
        &self,
        request: Request<RedeliverWebhookDeliveryRequest>,
    ) -> Result<Response<RedeliverWebhookDeliveryResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let id = &request.get_ref().delivery_id;
        validate::known_id(ResourceKind::WebhookDelivery, "delivery_id", id)?;
        let redelivered = deliveries::redeliver(&self.core.store, &who.org_id, id, self.core.now())
            .await
            .map_err(ServiceError::from)?;
        let delivery = match redelivered {
            deliveries::Redelivery::NotFound => {
                return Err(ServiceError::not_found(
                    ResourceKind::WebhookDelivery,
                    id.clone(),
                    "delivery_id",
                )
                .into());
            }
            deliveries::Redelivery::Pending(_) => {
                return Err(ServiceError::precondition(
                    Reason::WebhookDeliveryPending,
                    format!("Webhook delivery {id} is still being attempted"),
                )
                .into());
            }
            deliveries::Redelivery::Queued(delivery) => delivery,
        };
        Ok(Response::new(RedeliverWebhookDeliveryResponse {
            delivery: Some(convert::webhook_delivery(&delivery, &[])),
        }))
    }
}
