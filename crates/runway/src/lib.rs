//! The `runway` binary's parts, as a library so tests start exactly what
//! users run.

pub mod app;
pub mod cli;
pub mod client;
pub mod logging;
pub mod tls;
