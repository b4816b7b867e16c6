//! Schemas of input values whose rules the derive cannot spell: names that
//! must show a character, text without NUL, metadata maps with their key
//! and size limits, lists of typed objects. Each mirrors a rule of
//! `runway_server::validate`, so a schema-valid request is accepted.

use utoipa::openapi::RefOr;
use utoipa::openapi::extensions::{Extensions, ExtensionsBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
};
use utoipa::{PartialSchema, ToSchema};

/// No NUL (no database text column can hold it).
pub const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";
/// No control character (C0 or C1), as in an id.
pub const NO_CONTROL_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// JSON Schema keywords utoipa 5 cannot spell (`contentSchema`, `if`,
/// `then`, `else`) ride in a schema as extensions named with this prefix;
/// `openapi::document` takes the prefix off.
pub const KEYWORD_PREFIX: &str = "x-keyword-";

fn keywords<'a>(pairs: impl IntoIterator<Item = (&'a str, serde_json::Value)>) -> Extensions {
    pairs
        .into_iter()
        .fold(ExtensionsBuilder::new(), |extensions, (keyword, value)| {
            extensions.add(format!("{KEYWORD_PREFIX}{keyword}"), value)
        })
        .build()
}

macro_rules! doc_schema {
    ($(#[$meta:meta])* $name:ident => $schema:expr) => {
        $(#[$meta])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $name {}
    };
}

doc_schema!(
    /// A name: 1–256 characters that show something, no control characters.
    Name => string()
        .min_length(Some(1))
        .max_length(Some(256))
        .pattern(Some(runway_api::names::name_pattern()))
);

doc_schema!(
    /// Free text of at most 65536 characters, without NUL.
    LongText => string().max_length(Some(65_536)).pattern(Some(NO_NUL_PATTERN))
);

doc_schema!(
    /// Free text (at most 65536 characters, without NUL), or `null`.
    NullableLongText => OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(LongText::schema())
);

fn metadata(value: ObjectBuilder, nullable_values: bool) -> ObjectBuilder {
    let value: RefOr<Schema> = if nullable_values {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .item(value)
            .into()
    } else {
        value.into()
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .max_properties(Some(16))
        .property_names(Some(
            string()
                .min_length(Some(1))
                .max_length(Some(64))
                .pattern(Some(NO_NUL_PATTERN)),
        ))
        .additional_properties(Some(AdditionalProperties::RefOr(value)))
}

fn metadata_value() -> ObjectBuilder {
    string().max_length(Some(512)).pattern(Some(NO_NUL_PATTERN))
}

doc_schema!(
    /// Up to 16 keys (1–64 characters) with string values of at most 512
    /// characters.
    UserMetadata => metadata(metadata_value(), false)
);

doc_schema!(
    /// A merge-patch of metadata: a string sets a key, `null` deletes it.
    UserMetadataPatch => metadata(metadata_value(), true)
);

doc_schema!(
    /// Objects that each carry a non-empty string `type`.
    TypedObjects => runway_json::typed_objects()
);

fn deployment_metadata(nullable_values: bool) -> ObjectBuilder {
    let at_most = |keys: usize| serde_json::json!({ "maxProperties": keys });
    metadata(metadata_value(), nullable_values)
        // 16 user keys, beside the reserved one when it is there.
        .max_properties(None)
        .extensions(Some(keywords([
            ("if", serde_json::json!({ "required": ["cas_config"] })),
            ("then", at_most(17)),
            ("else", at_most(16)),
        ])))
        .property(
            "cas_config",
            utoipa::openapi::Ref::from_schema_name("CasConfigInput"),
        )
}

doc_schema!(
    /// Up to 16 user keys (1–64 characters) with string values of at most
    /// 512 characters, and the reserved `cas_config`.
    DeploymentMetadataInput => deployment_metadata(false)
);

doc_schema!(
    /// A merge-patch of metadata: a string sets a user key, `null` deletes
    /// it; `cas_config` changes the limits it names.
    DeploymentMetadataPatch => deployment_metadata(true)
);

doc_schema!(
    /// An event's content: a non-empty string, or a non-empty list of
    /// content blocks, each an object with a non-empty string `type`.
    EventContentInput => OneOfBuilder::new()
        .item(string().min_length(Some(1)))
        .item(
            ArrayBuilder::new()
                .min_items(Some(1))
                .items(
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .property("type", string().min_length(Some(1)))
                        .required("type")
                        .additional_properties(Some(AdditionalProperties::FreeForm(true))),
                ),
        )
);

doc_schema!(
    /// Up to 50 vault ids of 1–256 characters.
    VaultIds => ArrayBuilder::new()
        .max_items(Some(50))
        .items(
            string()
                .min_length(Some(1))
                .max_length(Some(256))
                .pattern(Some(NO_CONTROL_PATTERN)),
        )
);

doc_schema!(
    /// Where events are POSTed: `https` to a public address (plain `http`
    /// and private addresses only when the server allows them), at most
    /// 2048 characters; checked after DNS resolution.
    WebhookUrl => string()
        .format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into())))
        .min_length(Some(1))
        .max_length(Some(2048))
        .pattern(Some("^https?://[^\\u0000-\\u001f\\u007f-\\u009f]*$"))
);

/// The event types an endpoint may subscribe to one by one: every type a
/// webhook tells but `*` and `webhook.test` (sent on request only).
fn subscribable() -> Vec<&'static str> {
    use runway_api::enums::WebhookEventType;
    WebhookEventType::ALL
        .iter()
        .filter(|t| !matches!(t, WebhookEventType::All | WebhookEventType::WebhookTest))
        .map(|t| t.name())
        .collect()
}

doc_schema!(
    /// `["*"]` for every type, or 1–10 distinct event types.
    WebhookEventTypes => OneOfBuilder::new()
        .item(
            ArrayBuilder::new()
                .min_items(Some(1))
                .max_items(Some(1))
                .items(string().enum_values(Some([
                    runway_api::enums::WebhookEventType::All.name(),
                ]))),
        )
        .item(
            ArrayBuilder::new()
                .min_items(Some(1))
                .max_items(Some(10))
                .unique_items(true)
                .items(string().enum_values(Some(subscribable()))),
        )
);

doc_schema!(
    /// A runner token's environments: 1–100 distinct environment ids, or
    /// `*` alone for every environment of the organization (present and
    /// future). Other scopes name none.
    TokenEnvironments => ArrayBuilder::new()
        .items(string().pattern(Some("^(env_[0-9a-f]{32}|\\*)$")))
        .max_items(Some(100))
        .unique_items(true)
);

/// One kind of message of a Server-Sent Events stream: the `event` names it
/// goes by, and what its `data` holds — JSON text, described for a reader
/// by `content` (JSON Schema's `contentSchema`).
struct MessageKind {
    events: Vec<String>,
    data: &'static str,
    content: serde_json::Value,
}

fn component(name: &str) -> serde_json::Value {
    serde_json::json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The messages every stream may send beside its own: `heartbeat` (`{}`)
/// and the `error` that ends a stream (the error envelope).
fn heartbeat_and_error() -> [MessageKind; 2] {
    [
        MessageKind {
            events: vec![crate::sse::HEARTBEAT.into()],
            data: "`{}`, about every 15 s (`runway serve --sse-heartbeat-ms`).",
            content: serde_json::json!({ "type": "object", "maxProperties": 0 }),
        },
        MessageKind {
            events: vec![crate::sse::ERROR.into()],
            data: "The error envelope: the last message of a stream that failed once begun (its token revoked or expired, the database unreachable), or that the server ended as it stopped (503 `overloaded_error`: reconnect).",
            content: component("ErrorEnvelope"),
        },
    ]
}

/// One message of a Server-Sent Events stream as a client parses it (the
/// HTML standard's fields): one of `kinds`, by its `event` name, with its
/// `data`; `id` where the stream resumes by it.
fn stream_message(kinds: impl IntoIterator<Item = MessageKind>, with_id: bool) -> OneOfBuilder {
    kinds.into_iter().fold(OneOfBuilder::new(), |one_of, kind| {
        let mut message = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "event",
                string()
                    .enum_values(Some(kind.events))
                    .description(Some("The message's type.")),
            )
            .property(
                "data",
                string()
                    .content_media_type("application/json")
                    .description(Some(kind.data))
                    .extensions(Some(keywords([("contentSchema", kind.content)]))),
            )
            .required("event")
            .required("data");
        if with_id {
            message = message.property(
                "id",
                string().description(Some(
                    "The event's id (`evt_…`): send it back as `Last-Event-ID` to resume after it.",
                )),
            );
        }
        one_of.item(message)
    })
}

doc_schema!(
    /// A message of `GET /deployment_runs/watch`.
    RunsStreamMessage => stream_message(
        [MessageKind {
            events: vec!["runs".into()],
            data: "The first page of the filtered list, `{\"data\":[…runs, newest first…]}`: at once, then again whenever it changes (at most four times a second).",
            content: serde_json::json!({
                "type": "object",
                "properties": {
                    "data": { "type": "array", "items": component("DeploymentRun") }
                },
                "required": ["data"]
            }),
        }]
        .into_iter()
        .chain(heartbeat_and_error()),
        false,
    )
);

doc_schema!(
    /// A message of `GET /sessions/{id}/events/stream`.
    SessionStreamMessage => stream_message(
        [MessageKind {
            events: runway_api::enums::EventType::ALL
                .iter()
                .map(|t| t.name().to_string())
                .collect(),
            data: "The event as `GET /sessions/{id}/events` lists it.",
            content: component("SessionEvent"),
        }]
        .into_iter()
        .chain(heartbeat_and_error()),
        true,
    )
);
