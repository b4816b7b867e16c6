//! The `runway` binary's parts, as a library so tests start exactly what
//! users run.

pub mod app;
pub mod cli;
pub mod client;
mod data_dir;
pub mod logging;
pub mod tls;
