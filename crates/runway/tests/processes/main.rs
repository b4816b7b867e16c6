//! Run execution with real processes: `runway serve` and `runway runner`
//! as child processes of the test, agents as their children, `kill -9`
//! where the issue says so. One test binary for the area.

mod cli;
mod cli_updates;
mod connections;
mod embedded_runner;
mod execution;
mod harness;
mod hygiene;
mod operator;
mod receiver;
mod refusals;
mod replicas;
mod resilience;
mod stops;
mod tls;
mod transcript;
mod webhooks;
