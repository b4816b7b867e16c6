//! runway's contract: the Rust code generated from `proto/runway/v1`, the
//! encoded descriptor set, and the error vocabulary that the server and the
//! gateway share (gRPC code ↔ HTTP status ↔ envelope `error.type`).

pub mod connections;
pub mod enums;
pub mod error_code;
pub mod json_value;
pub mod names;
pub mod services;
pub mod transport;

/// Generated messages, clients and servers of package `runway.v1`.
pub mod v1 {
    #![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]
    tonic::include_proto!("runway.v1");
}

/// Generated `google.api` messages (HTTP annotations), needed by `v1`.
pub mod google {
    pub mod api {
        #![allow(clippy::doc_lazy_continuation, clippy::doc_overindented_list_items)]
        tonic::include_proto!("google.api");
    }
}

/// The encoded `FileDescriptorSet` of every proto file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("runway_descriptor");

/// The fields of a session event the service stamps (id, place, times):
/// never taken from a runner or a user, and never shadowed by an event's
/// type-specific fields.
pub const STAMPED_EVENT_FIELDS: [&str; 7] = [
    "id",
    "type",
    "session_id",
    "turn_id",
    "schema_version",
    "created_at",
    "processed_at",
];

/// The `google.rpc.ErrorInfo.domain` of every runway error.
pub const ERROR_DOMAIN: &str = "runway";

/// The time zone of a schedule that names none (REST: absent or empty;
/// gRPC: unset).
pub const DEFAULT_TIMEZONE: &str = "UTC";
