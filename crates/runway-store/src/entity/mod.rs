//! One sea-orm entity per table. Instants are `i64` Unix nanoseconds (see
//! [`crate::time`]); JSON documents are stored as text.

pub mod access_token;
pub mod agent;
pub mod agent_version;
pub mod deployment;
pub mod deployment_run;
pub mod environment;
pub mod idempotency_key;
pub mod organization;
pub mod session;
pub mod session_event;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
