//! A local webhook receiver for the end-to-end tests: an axum server on a
//! free port that remembers every request and answers 500 a set number of
//! times before it answers 200.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::sync::Notify;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Value,
    pub raw: String,
    pub answered: u16,
}

/// A local HTTP receiver that answers 500 to its first `failures` requests,
/// then 200, and remembers every request.
#[derive(Clone)]
pub struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    changed: Arc<Notify>,
    failures: Arc<Mutex<usize>>,
    pub url: String,
}

impl Receiver {
    pub async fn start(failures: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            got: Arc::default(),
            changed: Arc::default(),
            failures: Arc::new(Mutex::new(failures)),
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
        };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let answered = {
                        let mut left = state.failures.lock().unwrap();
                        if *left > 0 {
                            *left -= 1;
                            500
                        } else {
                            200
                        }
                    };
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default()
                    };
                    state.got.lock().unwrap().push(Received {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body: serde_json::from_str(&body).unwrap(),
                        raw: body,
                        answered,
                    });
                    state.changed.notify_waiters();
                    (
                        StatusCode::from_u16(answered).unwrap(),
                        "ok from the receiver",
                    )
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    /// Waits (up to 20 s) until `done` holds for what was received.
    pub async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                {
                    let got = self.got.lock().unwrap();
                    if done(&got) {
                        return got.clone();
                    }
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "timed out waiting for {what}: {:#?}",
                    self.got.lock().unwrap()
                )
            })
    }
}
