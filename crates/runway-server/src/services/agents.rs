//! AgentService: agents and their versions.

use std::sync::Arc;

use runway_api::v1::agent_service_server::AgentService;
use runway_api::v1::*;
use runway_store::ids::IdKind;
use runway_store::repo::agents::{self, AgentFields};
use tonic::{Request, Response, Status};

use super::{Core, mask_paths};
use crate::convert;
use crate::domain::access::Access;
use crate::error::{Reason, ResourceKind, ServiceError, ServiceResult};
use crate::paging;
use crate::validate;

pub struct AgentApi {
    core: Arc<Core>,
}

impl AgentApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    async fn load(
        &self,
        org_id: &str,
        id: &str,
    ) -> ServiceResult<runway_store::entity::agent::Model> {
        validate::known_id(ResourceKind::Agent, "agent_id", id)?;
        agents::get(&self.core.store, org_id, id)
            .await?
            .ok_or_else(|| not_found(id))
    }
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::not_found(ResourceKind::Agent, id.to_string(), "agent_id")
}

/// A model name follows the rules of a name.
fn model(param: &str, value: &str) -> ServiceResult<String> {
    validate::name(param, value)
}

fn fields_of_create(req: &CreateAgentRequest) -> ServiceResult<AgentFields> {
    validate::metadata("metadata", &req.metadata)?;
    Ok(AgentFields {
        name: validate::name("name", &req.name)?,
        description: validate::text("description", req.description.as_ref())?,
        model: model("model", &req.model)?,
        system: validate::text("system", req.system.as_ref())?,
        instructions: validate::text("instructions", req.instructions.as_ref())?,
        tools: validate::typed_objects("tools", &req.tools)?,
        metadata: req.metadata.clone(),
    })
}

#[tonic::async_trait]
impl AgentService for AgentApi {
    async fn create_agent(
        &self,
        request: Request<CreateAgentRequest>,
    ) -> Result<Response<CreateAgentResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let req = request.get_ref();
        let fields = fields_of_create(req)?;
        let org = who.org_id.as_str();
        let agent = self
            .core
            .idempotency
            .run(
                org,
                request.metadata(),
                "CreateAgent",
                req,
                |claim| async move {
                    Ok(agents::create(
                        &self.core.store,
                        org,
                        fields,
                        claim.as_ref(),
                        self.core.now(),
                    )
                    .await?)
                },
                |id| async move { self.load(org, &id).await },
            )
            .await?;
        Ok(Response::new(CreateAgentResponse {
            agent: Some(convert::agent(&agent)),
        }))
    }

    async fn get_agent(
        &self,
        request: Request<GetAgentRequest>,
    ) -> Result<Response<GetAgentResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let agent = self.load(&who.org_id, &request.get_ref().agent_id).await?;
        Ok(Response::new(GetAgentResponse {
            agent: Some(convert::agent(&agent)),
        }))
    }

    async fn list_agents(
        &self,
        request: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Read)
            .await?;
        let req = request.get_ref();
        let store = &self.core.store;
        let org = who.org_id.as_str();
        let query = paging::plan(req.page.as_ref(), IdKind::Agent)?
            .resolve(|id| async move { Ok(agents::key_of(store, org, &id).await?) })
            .await?;
        let page = agents::list(store, org, req.include_archived, &query)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(ListAgentsResponse {
            agents: page.items.iter().map(convert::agent).collect(),
            page_info: Some(paging::info(&page, |a| &a.id)),
        }))
    }

    async fn update_agent(
        &self,
        request: Request<UpdateAgentRequest>,
    ) -> Result<Response<UpdateAgentResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let req = request.get_ref();
        validate::known_id(ResourceKind::Agent, "agent_id", &req.agent_id)?;
        let paths = mask_paths(
            req.update_mask.as_ref(),
            &[
                "name",
                "description",
                "model",
                "system",
                "instructions",
                "tools",
            ],
            &["metadata."],
        )?;
        // Validate what the mask names before taking any lock.
        let tools = validate::typed_objects("tools", &req.tools)?;
        for path in &paths {
            match *path {
                "name" => drop(validate::name("name", &req.name)?),
                "model" => drop(model("model", &req.model)?),
                "description" => drop(validate::text("description", req.description.as_ref())?),
                "system" => drop(validate::text("system", req.system.as_ref())?),
                "instructions" => drop(validate::text("instructions", req.instructions.as_ref())?),
                _ => {}
            }
        }
        let agent_id = req.agent_id.clone();
        let updated = agents::update(
            &self.core.store,
            &who.org_id,
            &req.agent_id,
            self.core.now(),
            |row| {
                if row.archived_at.is_some() {
                    return Err(ServiceError::precondition(
                        Reason::AgentArchived,
                        format!("Agent {agent_id} is archived and cannot be updated"),
                    ));
                }
                let mut fields = AgentFields::of(row);
                for path in &paths {
                    match *path {
                        "name" => fields.name = req.name.clone(),
                        "description" => fields.description = req.description.clone(),
                        "model" => fields.model = req.model.clone(),
                        "system" => fields.system = req.system.clone(),
                        "instructions" => fields.instructions = req.instructions.clone(),
                        "tools" => fields.tools = tools.clone(),
                        key_path => {
                            let key = &key_path["metadata.".len()..];
                            match req.metadata.get(key) {
                                Some(value) => {
                                    fields.metadata.insert(key.to_string(), value.clone())
                                }
                                None => fields.metadata.remove(key),
                            };
                        }
                    }
                }
                validate::metadata("metadata", &fields.metadata)?;
                Ok(fields)
            },
        )
        .await?
        .ok_or_else(|| not_found(&req.agent_id))?;
        Ok(Response::new(UpdateAgentResponse {
            agent: Some(convert::agent(&updated)),
        }))
    }

    async fn archive_agent(
        &self,
        request: Request<ArchiveAgentRequest>,
    ) -> Result<Response<ArchiveAgentResponse>, Status> {
        let who = self
            .core
            .auth
            .principal(request.metadata(), Access::Write)
            .await?;
        let id = &request.get_ref().agent_id;
        validate::known_id(ResourceKind::Agent, "agent_id", id)?;
        let archived = agents::archive(&self.core.store, &who.org_id, id, self.core.now(), |row| {
            if row.archived_at.is_some() {
                return Err(ServiceError::precondition(
                    Reason::AgentAlreadyArchived,
                    format!("Agent {id} is already archived"),
                ));
            }
            Ok(())
        })
        .await?
        .ok_or_else(|| not_found(id))?;
        Ok(Response::new(ArchiveAgentResponse {
            agent: Some(convert::agent(&archived)),
        }))
    }
}
