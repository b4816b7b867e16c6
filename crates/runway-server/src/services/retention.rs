//! RetentionService: the organization's retention policy (read: any
//! token that reads; change: admin).

use std::sync::Arc;

use runway_api::v1::retention_service_server::RetentionService;
use runway_api::v1::*;
use runway_store::repo::retention;
use tonic::{Request, Response, Status};

use super::{Core, mask_paths};
use crate::convert;
use crate::domain::access::Access;
use crate::domain::retention::check;
use crate::error::{ServiceError, ServiceResult};

pub struct RetentionApi {
    core: Arc<Core>,
}

impl RetentionApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    async fn policy(&self, org_id: &str) -> ServiceResult<RetentionPolicy> {
        let (rules, updated_at) = retention::policy(&self.core.store, org_id)
            .await?
            .ok_or_else(|| ServiceError::Internal("the token's organization is gone".into()))?;
        Ok(convert::retention_policy(&rules, updated_at))
    }
}

#[tonic::async_trait]
impl RetentionService for RetentionApi {
    async fn get_retention_policy(
        &self,
        request: Request<GetRetentionPolicyRequest>,
    ) -> Result<Response<GetRetentionPolicyResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        Ok(Response::new(GetRetentionPolicyResponse {
            policy: Some(self.policy(&who.org_id).await?),
        }))
    }

    async fn update_retention_policy(
        &self,
        request: Request<UpdateRetentionPolicyRequest>,
    ) -> Result<Response<UpdateRetentionPolicyResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Retention)
            .await?;
        let req = request.get_ref();
        let paths = mask_paths(
            req.update_mask.as_ref(),
            &["keep_days", "keep_failed_days", "max_runs"],
            &[],
        )?;
        if paths.is_empty() {
            return Ok(Response::new(UpdateRetentionPolicyResponse {
                policy: Some(self.policy(&who.org_id).await?),
            }));
        }
        let given = convert::retention_rules_from(&req.rules.unwrap_or_default());
        let now = self.core.now();
        let (rules, updated_at) = retention::update_policy(
            &self.core.store,
            &who.org_id,
            now,
            |rules| -> ServiceResult<()> {
                for path in &paths {
                    match *path {
                        "keep_days" => rules.keep_days = given.keep_days,
                        "keep_failed_days" => rules.keep_failed_days = given.keep_failed_days,
                        _ => rules.max_runs = given.max_runs,
                    }
                }
                *rules = check("", *rules)?;
                Ok(())
            },
        )
        .await?
        .ok_or_else(|| ServiceError::Internal("the token's organization is gone".into()))?;
        if updated_at == Some(now) {
            tracing::info!(org_id = %who.org_id, ?rules, "retention policy changed");
        }
        Ok(Response::new(UpdateRetentionPolicyResponse {
            policy: Some(convert::retention_policy(&rules, updated_at)),
        }))
    }
}
