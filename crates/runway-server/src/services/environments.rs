//! EnvironmentService: the pools of runners that execute runs.

use std::sync::Arc;

use runway_api::v1::environment_service_server::EnvironmentService;
use runway_api::v1::*;
use runway_store::ids::IdKind;
use runway_store::repo::environments;
use tonic::{Request, Response, Status};

use super::{Core, mask_paths};
use crate::convert;
use crate::domain::access::Access;
use crate::error::{Reason, ResourceKind, ServiceError, ServiceResult};
use crate::paging;
use crate::validate;

pub struct EnvironmentApi {
    core: Arc<Core>,
}

impl EnvironmentApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    async fn load(
        &self,
        org_id: &str,
        id: &str,
    ) -> ServiceResult<runway_store::entity::environment::Model> {
        validate::known_id(ResourceKind::Environment, "environment_id", id)?;
        environments::get(&self.core.store, org_id, id)
            .await?
            .ok_or_else(|| not_found(id))
    }
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::not_found(ResourceKind::Environment, id.to_string(), "environment_id")
}

#[tonic::async_trait]
impl EnvironmentService for EnvironmentApi {
    async fn create_environment(
        &self,
        request: Request<CreateEnvironmentRequest>,
    ) -> Result<Response<CreateEnvironmentResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let req = request.get_ref();
        let name = validate::name("name", &req.name)?;
        let description = validate::text("description", req.description.as_ref())?;
        let org = who.org_id.as_str();
        let env = self
            .core
            .idempotency
            .run(
                org,
                request.metadata(),
                "CreateEnvironment",
                req,
                |claim| async move {
                    Ok(environments::create(
                        &self.core.store,
                        org,
                        name,
                        description,
                        claim.as_ref(),
                        self.core.now(),
                    )
                    .await?)
                },
                |id| async move { self.load(org, &id).await },
            )
            .await?;
        Ok(Response::new(CreateEnvironmentResponse {
            environment: Some(convert::environment(&env)),
        }))
    }

    async fn get_environment(
        &self,
        request: Request<GetEnvironmentRequest>,
    ) -> Result<Response<GetEnvironmentResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let env = self
            .load(&who.org_id, &request.get_ref().environment_id)
            .await?;
        Ok(Response::new(GetEnvironmentResponse {
            environment: Some(convert::environment(&env)),
        }))
    }

    async fn list_environments(
        &self,
        request: Request<ListEnvironmentsRequest>,
    ) -> Result<Response<ListEnvironmentsResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let req = request.get_ref();
        let store = &self.core.store;
        let org = who.org_id.as_str();
        let query = paging::plan(req.page.as_ref(), IdKind::Environment)?
            .resolve(|id| async move { Ok(environments::key_of(store, org, &id).await?) })
            .await?;
        let page = environments::list(store, org, req.include_archived, &query)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(ListEnvironmentsResponse {
            environments: page.items.iter().map(convert::environment).collect(),
            page_info: Some(paging::info(&page, |e| &e.id)),
        }))
    }

    async fn update_environment(
        &self,
        request: Request<UpdateEnvironmentRequest>,
    ) -> Result<Response<UpdateEnvironmentResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let req = request.get_ref();
        validate::known_id(
            ResourceKind::Environment,
            "environment_id",
            &req.environment_id,
        )?;
        let paths = mask_paths(req.update_mask.as_ref(), &["name", "description"], &[])?;
        let name = if paths.contains(&"name") {
            Some(validate::name("name", &req.name)?)
        } else {
            None
        };
        let description = validate::text("description", req.description.as_ref())?;
        let id = &req.environment_id;
        let now = self.core.now();
        let env = environments::modify(&self.core.store, &who.org_id, id, now, |row| {
            if row.archived_at.is_some() {
                return Err(ServiceError::precondition(
                    Reason::EnvironmentArchived,
                    format!("Environment {id} is archived and cannot be updated"),
                ));
            }
            if let Some(name) = name {
                row.name = name;
            }
            if paths.contains(&"description") {
                row.description = description;
            }
            Ok(())
        })
        .await?
        .ok_or_else(|| not_found(id))?;
        Ok(Response::new(UpdateEnvironmentResponse {
            environment: Some(convert::environment(&env)),
        }))
    }

    async fn archive_environment(
        &self,
        request: Request<ArchiveEnvironmentRequest>,
    ) -> Result<Response<ArchiveEnvironmentResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let id = &request.get_ref().environment_id;
        validate::known_id(ResourceKind::Environment, "environment_id", id)?;
        let now = self.core.now();
        let env = environments::modify(&self.core.store, &who.org_id, id, now, |row| {
            if row.archived_at.is_some() {
                return Err(ServiceError::precondition(
                    Reason::EnvironmentAlreadyArchived,
                    format!("Environment {id} is already archived"),
                ));
            }
            row.archived_at = Some(now);
            Ok(())
        })
        .await?
        .ok_or_else(|| not_found(id))?;
        Ok(Response::new(ArchiveEnvironmentResponse {
            environment: Some(convert::environment(&env)),
        }))
    }
}
