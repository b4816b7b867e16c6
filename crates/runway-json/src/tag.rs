//! The constant `type` of each object (`"type": "deployment"`): one unit
//! type per object, so the OpenAPI document says exactly which value each
//! object carries and a generated client can tell objects apart.

use serde::{Serialize, Serializer};

macro_rules! object_tag {
    ($(#[$meta:meta])* $name:ident = $value:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl $name {
            /// The value the tag always carries.
            pub const VALUE: &'static str = $value;
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($value)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$value]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

object_tag!(
    /// `"deployment"`.
    DeploymentTag = "deployment"
);
object_tag!(
    /// `"deployment_run"`.
    DeploymentRunTag = "deployment_run"
);
object_tag!(
    /// `"agent"`.
    AgentTag = "agent"
);
object_tag!(
    /// `"environment"`.
    EnvironmentTag = "environment"
);
object_tag!(
    /// `"session"`.
    SessionTag = "session"
);
object_tag!(
    /// `"token"`.
    TokenTag = "token"
);
object_tag!(
    /// `"error"`.
    ErrorTag = "error"
);
object_tag!(
    /// `"webhook_endpoint"`.
    WebhookEndpointTag = "webhook_endpoint"
);
object_tag!(
    /// `"webhook_endpoint_deleted"`.
    WebhookEndpointDeletedTag = "webhook_endpoint_deleted"
);
object_tag!(
    /// `"webhook_delivery"`.
    WebhookDeliveryTag = "webhook_delivery"
);
object_tag!(
    /// `"retention_policy"`.
    RetentionPolicyTag = "retention_policy"
);
