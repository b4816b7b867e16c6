//! A local webhook receiver for the end-to-end tests: an axum server on a
//! free port that remembers every request and answers 500 a set number of
//! times before it answers 200 — or, while told to hold, answers nothing
//! until let go.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::sync::{Notify, watch};

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
    /// While true, requests get no answer.
    holding: Arc<watch::Sender<bool>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
    pub url: String,
}

impl Receiver {
    pub async fn start(failures: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            got: Arc::default(),
            changed: Arc::default(),
            failures: Arc::new(Mutex::new(failures)),
            holding: Arc::new(watch::Sender::new(false)),
            in_flight: Arc::default(),
            most_in_flight: Arc::default(),
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
        };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let in_flight = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    state.most_in_flight.fetch_max(in_flight, Ordering::SeqCst);
                    state.changed.notify_waiters();
                    let _ = state.holding.subscribe().wait_for(|held| !held).await;
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
                    state.in_flight.fetch_sub(1, Ordering::SeqCst);
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

    /// Holds every request, unanswered, from now on (`true`), or answers
    /// them all, those held included (`false`).
    pub fn hold(&self, hold: bool) {
        self.holding.send_replace(hold);
    }

    /// The requests that have come and not been answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests that were ever unanswered at once.
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }

    /// Waits (up to 20 s) until `n` requests are unanswered at once.
    pub async fn until_in_flight(&self, n: usize) {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if self.in_flight() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .unwrap_or_else(|_| panic!("{} requests unanswered, not {n}", self.in_flight()))
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
