//! TokenService: an organization's personal access tokens (admin only;
//! any token may read itself).

use std::sync::Arc;

use runway_api::enums::TokenScope;
use runway_api::v1::token_service_server::TokenService;
use runway_api::v1::*;
use runway_store::ids::IdKind;
use runway_store::repo::{environments, tenants};
use tonic::{Request, Response, Status};

use super::Core;
use crate::convert;
use crate::domain::access::{self, Access};
use crate::error::{Reason, ResourceKind, ServiceError, ServiceResult};
use crate::paging;
use crate::validate;

pub struct TokenApi {
    core: Arc<Core>,
}

impl TokenApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// The token's environments, checked: the scope's rule, then each id
    /// names an environment of the organization (archived ones too: the
    /// token may outlive an archive, and it grants nothing new).
    async fn environments(
        &self,
        org_id: &str,
        scope: TokenScope,
        ids: &[String],
    ) -> ServiceResult<Vec<String>> {
        access::check_new_token(scope, ids)?;
        for id in ids.iter().filter(|id| *id != access::ALL_ENVIRONMENTS) {
            validate::known_id(ResourceKind::Environment, "environment_ids", id)?;
            if environments::get(&self.core.store, org_id, id)
                .await?
                .is_none()
            {
                return Err(ServiceError::not_found(
                    ResourceKind::Environment,
                    id.clone(),
                    "environment_ids",
                ));
            }
        }
        Ok(ids.to_vec())
    }
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::not_found(ResourceKind::Token, id.to_string(), "token_id")
}

#[tonic::async_trait]
impl TokenService for TokenApi {
    async fn create_token(
        &self,
        request: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Tokens)
            .await?;
        let req = request.get_ref();
        let name = validate::name("name", &req.name)?;
        let scope = TokenScope::from_proto(req.scope).ok_or_else(|| {
            ServiceError::invalid("scope", format!("scope must be {}", TokenScope::expected()))
        })?;
        let environment_ids = self
            .environments(&who.org_id, scope, &req.environment_ids)
            .await?;
        let now = self.core.now();
        let expires_at = req
            .expires_at
            .as_ref()
            .map(|at| convert::stored_nanos("expires_at", at))
            .transpose()?;
        if expires_at.is_some_and(|at| at <= now) {
            return Err(
                ServiceError::invalid("expires_at", "expires_at must be in the future").into(),
            );
        }
        let new = tenants::NewToken {
            name,
            scope,
            environment_ids,
            expires_at,
        };
        let issued = tenants::create_token(&self.core.store, &who.org_id, &new, now)
            .await
            .map_err(ServiceError::from)?;
        tracing::info!(token_id = %issued.token.id, %scope, by = %who.token_id, "token issued");
        Ok(Response::new(CreateTokenResponse {
            token: Some(convert::token(&issued.token)),
            secret: issued.secret,
        }))
    }

    async fn get_token(
        &self,
        request: Request<GetTokenRequest>,
    ) -> Result<Response<GetTokenResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Tokens)
            .await?;
        let id = &request.get_ref().token_id;
        validate::known_id(ResourceKind::Token, "token_id", id)?;
        let token = tenants::get_token(&self.core.store, &who.org_id, id)
            .await
            .map_err(ServiceError::from)?
            .ok_or_else(|| not_found(id))?;
        Ok(Response::new(GetTokenResponse {
            token: Some(convert::token(&token)),
        }))
    }

    async fn get_current_token(
        &self,
        request: Request<GetCurrentTokenRequest>,
    ) -> Result<Response<GetCurrentTokenResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::OwnToken)
            .await?;
        // Authenticated a moment ago: a row gone since reads as a token
        // that no longer works.
        let token = tenants::get_token(&self.core.store, &who.org_id, &who.token_id)
            .await
            .map_err(ServiceError::from)?
            .ok_or(ServiceError::Unauthenticated)?;
        Ok(Response::new(GetCurrentTokenResponse {
            token: Some(convert::token(&token)),
        }))
    }

    async fn list_tokens(
        &self,
        request: Request<ListTokensRequest>,
    ) -> Result<Response<ListTokensResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Tokens)
            .await?;
        let req = request.get_ref();
        let store = &self.core.store;
        let org = who.org_id.as_str();
        let query = paging::plan(req.page.as_ref(), IdKind::AccessToken)?
            .resolve(|id| async move { Ok(tenants::token_key_of(store, org, &id).await?) })
            .await?;
        let page = tenants::list_tokens(store, org, req.include_revoked, &query)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(ListTokensResponse {
            tokens: page.items.iter().map(convert::token).collect(),
            page_info: Some(paging::info(&page, |t| &t.id)),
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<RevokeTokenRequest>,
    ) -> Result<Response<RevokeTokenResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Tokens)
            .await?;
        let id = &request.get_ref().token_id;
        validate::known_id(ResourceKind::Token, "token_id", id)?;
        let now = self.core.now();
        let token = tenants::modify_token(&self.core.store, &who.org_id, id, |row| {
            if row.revoked_at.is_some() {
                return Err(ServiceError::precondition(
                    Reason::TokenAlreadyRevoked,
                    format!("Token {id} is already revoked"),
                ));
            }
            row.revoked_at = Some(now);
            Ok(())
        })
        .await?
        .ok_or_else(|| not_found(id))?;
        self.core.auth.forget(id);
        tracing::info!(token_id = %id, by = %who.token_id, "token revoked");
        Ok(Response::new(RevokeTokenResponse {
            token: Some(convert::token(&token)),
        }))
    }
}
