//! The REST contract's objects (docs/API.md): proto messages rendered as
//! the documented JSON, as typed structs, so the OpenAPI document is
//! generated from the very types that are served. The gateway serves them;
//! the reference runner hands them to agents.
//!
//! Fields are declared in alphabetical order, as the documented examples
//! print them. Nullable fields are `Option`, always present (`required`)
//! and `null` when empty; "present when …" fields are skipped when absent.

use chrono::{DateTime, SecondsFormat};
use prost_types::Timestamp;
use runway_api::json_value;
use runway_api::v1;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

mod catalog;
mod deployments;
mod events;
mod retention;
mod runs;
mod tag;
mod tokens;
mod webhooks;

pub use catalog::*;
pub use deployments::*;
pub use events::*;
pub use retention::*;
pub use runs::*;
pub use tag::*;
pub use tokens::*;
pub use webhooks::*;

/// RFC 3339, UTC, `Z`, nanoseconds: `2026-06-14T08:58:17.133340942Z`.
pub fn timestamp(ts: &Timestamp) -> String {
    DateTime::from_timestamp(ts.seconds, ts.nanos.clamp(0, 999_999_999) as u32)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_default()
}

fn ts(t: Option<&Timestamp>) -> Option<String> {
    t.map(timestamp)
}

fn ts_or_empty(t: Option<&Timestamp>) -> String {
    ts(t).unwrap_or_default()
}

fn objects(items: &[prost_types::Struct]) -> Vec<Map<String, Value>> {
    items.iter().map(json_value::struct_to_object).collect()
}

/// The member a proto enum number stands for. The server never sends
/// `…_UNSPECIFIED`; should a newer server send a member this build does not
/// know, the set's first member stands in rather than failing the answer.
fn member<T: Copy>(number: i32, from_proto: fn(i32) -> Option<T>, all: &[T]) -> T {
    from_proto(number).unwrap_or(all[0])
}

/// `{"id","type":"agent","version"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AgentRef)]
pub struct AgentRefJson {
    #[schema(
        pattern = "^agent_[0-9a-f]{32}$",
        example = "agent_019ebb21ef8e7df6a559052c94875160"
    )]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: AgentTag,
    #[schema(minimum = 1)]
    pub version: i32,
}

fn agent_ref(a: Option<v1::AgentRef>) -> AgentRefJson {
    let a = a.unwrap_or_default();
    AgentRefJson {
        id: a.id,
        kind: AgentTag,
        version: a.version,
    }
}

/// A page of a list, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct List<T: ToSchema> {
    pub data: Vec<T>,
    /// The id of the page's first item; null when the page is empty.
    pub first_id: Option<String>,
    pub has_more: bool,
    /// The id of the page's last item; null when the page is empty.
    pub last_id: Option<String>,
    /// Pass as `page` to read the next page; null without more.
    pub next_page: Option<String>,
}

/// The schema of `tools` and `resources`, in and out: objects that each
/// carry a non-empty string `type`, their other fields free
/// (`{"type": "object"}` alone made a generated client's items
/// `Record<string, never>`).
pub fn typed_objects() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "type",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1)),
                )
                .required("type")
                .additional_properties(Some(AdditionalProperties::FreeForm(true))),
        )
        .build()
}

// By hand: utoipa's derive would spell the item type out inside every list
// (a generated client then has a second class per object); this refers to it.
impl<T: ToSchema> utoipa::PartialSchema for List<T> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
        let nullable_string = |description: &str| {
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some(description))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("A page of a list, newest first."))
            .property(
                "data",
                ArrayBuilder::new().items(utoipa::openapi::Ref::from_schema_name(T::name())),
            )
            .property(
                "first_id",
                nullable_string("The id of the page's first item; null when the page is empty."),
            )
            .property("has_more", ObjectBuilder::new().schema_type(Type::Boolean))
            .property(
                "last_id",
                nullable_string("The id of the page's last item; null when the page is empty."),
            )
            .property(
                "next_page",
                nullable_string("Pass as `page` to read the next page; null without more."),
            )
            .required("data")
            .required("first_id")
            .required("has_more")
            .required("last_id")
            .required("next_page")
            .into()
    }
}

impl<T: ToSchema> ToSchema for List<T> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("{}List", T::name()).into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}

pub fn list<T: ToSchema>(data: Vec<T>, info: Option<&v1::PageInfo>) -> List<T> {
    let info = info.cloned().unwrap_or_default();
    List {
        data,
        first_id: info.first_id,
        has_more: info.has_more,
        last_id: info.last_id,
        next_page: info.next_page,
    }
}

/// A timestamp: RFC 3339, UTC, `Z`, up to 9 fractional digits.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(value_type = String, format = DateTime)]
pub struct Timestamp3339(pub String);

/// A page of deployments.
pub type DeploymentList = List<DeploymentJson>;
/// A page of runs.
pub type RunList = List<RunJson>;
/// A page of agents.
pub type AgentList = List<AgentJson>;
/// A page of environments.
pub type EnvironmentList = List<EnvironmentJson>;
/// A page of tokens.
pub type TokenList = List<TokenJson>;
/// A page of webhook endpoints.
pub type WebhookEndpointList = List<WebhookEndpointJson>;
/// A page of webhook deliveries.
pub type WebhookDeliveryList = List<WebhookDeliveryJson>;
