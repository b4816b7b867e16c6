//! A `runway gateway` child process.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::BIN;

/// A `runway gateway` in front of a server's gRPC port, on a fresh port.
pub struct Gateway {
    pub child: Child,
    /// `http://…` or `https://…`, without the API's base path.
    pub url: String,
}

impl Gateway {
    /// Starts `runway gateway --grpc GRPC` with `flags` and waits for the
    /// line that says where it listens.
    pub async fn start(grpc: &str, flags: &[&str]) -> Gateway {
        let mut child = Command::new(BIN)
            .args(["gateway", "--grpc", grpc, "--http-addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn runway gateway");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.strip_prefix("runway: REST on ") {
                    return rest.split("/api/v1/cloud").next().unwrap().to_string();
                }
            }
            panic!("the gateway exited before listening");
        })
        .await
        .expect("the gateway listens");
        Gateway { child, url }
    }
}
