//! Compiles `proto/` into Rust with protox (a pure-Rust protobuf compiler, so no
//! system `protoc` is needed) and tonic-prost-build.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "proto/runway/v1/common.proto",
    "proto/runway/v1/retention.proto",
    "proto/runway/v1/agent.proto",
    "proto/runway/v1/environment.proto",
    "proto/runway/v1/deployment.proto",
    "proto/runway/v1/deployment_run.proto",
    "proto/runway/v1/deployment_service.proto",
    "proto/runway/v1/runner.proto",
    "proto/runway/v1/session.proto",
    "proto/runway/v1/webhook.proto",
    "proto/runway/v1/token.proto",
    "proto/runway/v1/session_event.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"])?;

    // The descriptor set is shipped for gRPC reflection and for tools that
    // need the schema at run time.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("runway_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        // BTreeMap keeps map fields in key order, so an encoded request is
        // byte-for-byte deterministic: idempotency keys compare request hashes.
        .btree_map(".")
        .compile_fds(fds)?;
    Ok(())
}
