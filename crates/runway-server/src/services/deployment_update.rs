//! An update of a deployment: every field its mask names, checked before
//! the row is locked, then applied to the locked row.

use runway_api::enums::TokenScope;
use runway_api::v1::UpdateDeploymentRequest;
use runway_store::entity::deployment::{self, InitialEvent as StoredEvent};
use runway_store::entity::organization::RetentionRules;
use runway_store::json_text::JsonText;
use serde_json::{Map, Value};

use super::deployment_fields::{
    initial_events, max_concurrent, max_consecutive_failures, max_retries, own_retention, schedule,
    session_strategy, timeout_ms, vault_ids,
};
use crate::domain::access::{self, Access};
use crate::error::{ServiceError, ServiceResult};
use crate::schedule::CronSchedule;
use crate::validate;

/// The checked changes of one update; `None` leaves a field as it is.
pub(super) struct DeploymentUpdate<'a> {
    paths: Vec<&'a str>,
    metadata: &'a std::collections::BTreeMap<String, String>,
    name: Option<String>,
    description: Option<Option<String>>,
    /// Resolved by the caller (it needs the database).
    pub(super) agent: Option<(String, i32)>,
    pub(super) environment_id: Option<String>,
    events: Option<Vec<StoredEvent>>,
    schedule: Option<Option<(String, String, CronSchedule)>>,
    resources: Option<Vec<Map<String, Value>>>,
    vault_ids: Option<Vec<String>>,
    max_concurrent: Option<i32>,
    max_retries: Option<i32>,
    timeout_ms: Option<i64>,
    failure_limit: Option<Option<i32>>,
    retention: Option<Option<RetentionRules>>,
    /// Why this token may not change the retention rules it sent: refused
    /// only when they would change (a client writing back what it read
    /// sends them as they are).
    retention_refusal: Option<ServiceError>,
}

impl<'a> DeploymentUpdate<'a> {
    /// Checks every field `paths` names but the agent and the environment,
    /// in the order a create checks them (new retention rules need a token
    /// of `scope` that may set them).
    pub(super) fn checked(
        req: &'a UpdateDeploymentRequest,
        paths: Vec<&'a str>,
        scope: TokenScope,
    ) -> ServiceResult<DeploymentUpdate<'a>> {
        let has = |p: &str| paths.contains(&p);
        let config = req.config.unwrap_or_default();
        let missing = |p: &str| ServiceError::invalid(p, format!("{p} must be given when updated"));
        let given = |p: &'static str, v: Option<i32>| v.ok_or_else(|| missing(p));
        let name = has("name")
            .then(|| validate::name("name", &req.name))
            .transpose()?;
        let description = validate::text("description", req.description.as_ref())?;
        let events = has("initial_events")
            .then(|| initial_events(&req.initial_events))
            .transpose()?;
        let schedule = has("schedule")
            .then(|| schedule(req.schedule.as_ref()))
            .transpose()?;
        let resources = has("resources")
            .then(|| validate::typed_objects("resources", &req.resources))
            .transpose()?;
        let vault_ids = has("vault_ids")
            .then(|| vault_ids(&req.vault_ids))
            .transpose()?;
        let max_concurrent = has("config.max_concurrent")
            .then(|| max_concurrent(given("config.max_concurrent", config.max_concurrent)?))
            .transpose()?;
        let max_retries = has("config.max_retries")
            .then(|| max_retries(given("config.max_retries", config.max_retries)?))
            .transpose()?;
        let timeout_ms = has("config.timeout_ms")
            .then(|| {
                let v = config.timeout_ms;
                timeout_ms(v.ok_or_else(|| missing("config.timeout_ms"))?)
            })
            .transpose()?;
        let failure_limit = has("config.max_consecutive_failures")
            .then(|| max_consecutive_failures(config.max_consecutive_failures))
            .transpose()?;
        if has("session_strategy") {
            session_strategy(req.session_strategy)?;
        }
        let retention_refusal = if has("retention") {
            access::require(scope, Access::Retention).err()
        } else {
            None
        };
        // The refusal first, as before any rule is read, when both apply.
        let retention = match has("retention")
            .then(|| own_retention(req.retention.as_ref()))
            .transpose()
        {
            Ok(rules) => rules,
            Err(invalid) => return Err(retention_refusal.unwrap_or(invalid)),
        };
        Ok(DeploymentUpdate {
            description: has("description").then_some(description),
            paths,
            metadata: &req.metadata,
            name,
            agent: None,
            environment_id: None,
            events,
            schedule,
            resources,
            vault_ids,
            max_concurrent,
            max_retries,
            timeout_ms,
            failure_limit,
            retention,
            retention_refusal,
        })
    }

    /// Whether the update's mask names `path`.
    pub(super) fn names(&self, path: &str) -> bool {
        self.paths.contains(&path)
    }

    /// Applies the changes to the locked `row`; refuses metadata that would
    /// break its limits once merged.
    pub(super) fn apply(self, row: &mut deployment::Model, now: i64) -> ServiceResult<()> {
        if let Some(name) = self.name {
            row.name = name;
        }
        if let Some(description) = self.description {
            row.description = description;
        }
        if let Some((agent_id, version)) = self.agent {
            row.agent_id = agent_id;
            row.agent_version = version;
        }
        if let Some(env) = self.environment_id {
            row.environment_id = env;
        }
        if let Some(events) = self.events {
            row.initial_events = JsonText(events);
        }
        if let Some(schedule) = self.schedule {
            row.next_fire_at = match &schedule {
                Some((_, _, s)) if crate::domain::is_live(row) => s.next_after(now),
                _ => None,
            };
            row.schedule_expression = schedule.as_ref().map(|(e, _, _)| e.clone());
            row.schedule_timezone = schedule.map(|(_, z, _)| z);
        }
        if let Some(resources) = self.resources {
            row.resources = JsonText(resources);
        }
        if let Some(vault_ids) = self.vault_ids {
            row.vault_ids = JsonText(vault_ids);
        }
        let metadata = &mut row.metadata.0;
        for path in &self.paths {
            if let Some(key) = path.strip_prefix("metadata.") {
                match self.metadata.get(key) {
                    Some(value) => metadata.insert(key.to_string(), value.clone()),
                    None => metadata.remove(key),
                };
            }
        }
        validate::deployment_metadata("metadata", metadata)?;
        if let Some(v) = self.max_concurrent {
            row.max_concurrent = v;
        }
        if let Some(v) = self.max_retries {
            row.max_retries = v;
        }
        if let Some(v) = self.timeout_ms {
            row.timeout_ms = v;
        }
        if let Some(v) = self.failure_limit {
            row.max_consecutive_failures = v;
        }
        if let Some(rules) = self.retention.map(|r| r.map(JsonText))
            && rules != row.retention
        {
            if let Some(refusal) = self.retention_refusal {
                return Err(refusal);
            }
            row.retention = rules;
        }
        Ok(())
    }
}
