//! A webhook receiver on a local port that counts, per `webhook-id`, the
//! requests that reached it, in two phases: while `holding`, requests are
//! never answered (the sender is about to die with them in flight); after,
//! each is answered 200 at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;

/// The requests of one event id: how many arrived while holding, and after.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Arrivals {
    pub held: usize,
    pub answered: usize,
}

#[derive(Clone)]
pub struct Receiver {
    holding: Arc<AtomicBool>,
    arrivals: Arc<Mutex<HashMap<String, Arrivals>>>,
    pub url: String,
}

impl Receiver {
    pub async fn start(holding: bool) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            holding: Arc::new(AtomicBool::new(holding)),
            arrivals: Arc::default(),
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
        };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap| {
                let state = state.clone();
                async move {
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let holding = state.holding.load(Ordering::SeqCst);
                    {
                        let mut arrivals = state.arrivals.lock().unwrap();
                        let entry = arrivals.entry(id).or_default();
                        match holding {
                            true => entry.held += 1,
                            false => entry.answered += 1,
                        }
                    }
                    if holding {
                        std::future::pending::<()>().await;
                    }
                    "ok"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    /// From now on every request is answered 200 at once.
    pub fn answer(&self) {
        self.holding.store(false, Ordering::SeqCst);
    }

    pub fn arrivals(&self) -> HashMap<String, Arrivals> {
        self.arrivals.lock().unwrap().clone()
    }
}
