//! End-to-end tests: the real `runway serve` on port 0, over real HTTP and
//! gRPC, on SQLite and on PostgreSQL. One test binary for the whole area.

mod appends;
mod concurrency;
mod console;
mod console_destinations;
mod console_lists;
mod console_read_only;
mod events;
mod execution;
mod grpc_defaults;
mod grpc_errors;
mod idempotency;
mod metadata_keys;
mod numbers;
mod operations;
mod rate_limits;
mod receiver;
mod resources;
mod rest_errors;
mod retention;
mod schedules;
mod scopes;
mod seed_flow;
mod streams;
mod strict_input;
mod support;
mod token_reach;
mod tokens;
mod turns;
mod watch_runs;
mod webhook_shares;
mod webhooks;
mod webhooks_rest;
