//! WatchRuns: the first page of a run list, pushed when it changes, over
//! gRPC and as REST Server-Sent Events (parsed by eventsource-stream), on
//! this server and across replicas.

use std::time::Duration;

use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use runway_api::enums::{RunStatus, TokenScope};
use runway_api::v1::{WatchRunsRequest, WatchRunsResponse};
use serde_json::Value;

use crate::on_every_backend;
use crate::support::{TestApp, assert_envelope};

on_every_backend!(
    a_watch_sends_the_page_then_each_change,
    a_rest_watch_streams_pages_as_server_sent_events,
    a_watch_refuses_a_bad_filter_and_ends_with_its_token,
);

const WAIT: Duration = Duration::from_secs(10);

async fn next_page(
    stream: &mut tonic::Streaming<WatchRunsResponse>,
) -> Result<WatchRunsResponse, tonic::Status> {
    tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("a page in time")
        .map(|page| page.expect("the stream stays open"))
}

/// Pages until one satisfies `wanted`.
async fn page_where(
    stream: &mut tonic::Streaming<WatchRunsResponse>,
    wanted: impl Fn(&WatchRunsResponse) -> bool,
) -> WatchRunsResponse {
    loop {
        let page = next_page(stream).await.expect("a page");
        if wanted(&page) {
            return page;
        }
    }
}

async fn a_watch_sends_the_page_then_each_change(app: &TestApp) {
    let seed = app.seed(5).await;
    let mut stream = app
        .grpc()
        .await
        .watch_runs(app.authed(WatchRunsRequest {
            limit: Some(3),
            ..WatchRunsRequest::default()
        }))
        .await
        .expect("WatchRuns opens")
        .into_inner();
    assert!(next_page(&mut stream).await.unwrap().runs.is_empty());
    let first = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    assert_eq!(first.status, 200);
    let id = first.body["id"].as_str().unwrap().to_string();
    let page = page_where(&mut stream, |p| !p.runs.is_empty()).await;
    assert_eq!(page.runs.len(), 1);
    assert_eq!(page.runs[0].id, id);
    assert_eq!(page.runs[0].status, RunStatus::Running.to_proto());
    // Its end is a change too.
    let canceled = app
        .post_empty(&format!("/deployment_runs/{id}/cancel"))
        .await;
    assert_eq!(canceled.status, 200);
    page_where(&mut stream, |p| {
        p.runs[0].status == RunStatus::Failed.to_proto()
    })
    .await;
    // The page holds `limit` runs, newest first.
    for _ in 0..4 {
        let r = app
            .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
            .await;
        assert_eq!(r.status, 200);
    }
    let page = page_where(&mut stream, |p| p.runs.iter().all(|r| r.id != id)).await;
    assert_eq!(page.runs.len(), 3);
    assert!(page.runs.windows(2).all(|w| w[0].id > w[1].id));
}

async fn open_sse(app: &TestApp, query: &str) -> impl Stream<Item = Event> + Unpin {
    let response = app
        .http
        .get(format!("{}/deployment_runs/watch{query}", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    Box::pin(
        response
            .bytes_stream()
            .eventsource()
            .map(|event| event.expect("a well-formed SSE message")),
    )
}

/// The next `runs` message's list.
async fn next_runs(stream: &mut (impl Stream<Item = Event> + Unpin)) -> Vec<Value> {
    loop {
        let event = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("a message in time")
            .expect("the stream stays open");
        if event.event == "runs" {
            let body: Value = serde_json::from_str(&event.data).unwrap();
            return body["data"].as_array().unwrap().clone();
        }
        assert_eq!(event.event, "heartbeat");
    }
}

async fn a_rest_watch_streams_pages_as_server_sent_events(app: &TestApp) {
    let seed = app.seed(5).await;
    let mut stream = open_sse(app, "?status=running&limit=10").await;
    assert_eq!(next_runs(&mut stream).await, Vec::<Value>::new());
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    // The page shows the run exactly as the REST API renders it.
    let runs = next_runs(&mut stream).await;
    assert_eq!(runs, vec![run.body.clone()]);
}

/// Revokes the one `read` token not yet revoked.
async fn revoke_the_read_token(app: &TestApp) {
    let tokens = app.get("/tokens?limit=100").await;
    let id = tokens.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["scope"] == "read" && t["revoked_at"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.post_empty(&format!("/tokens/{id}/revoke")).await.status,
        200
    );
}

async fn a_watch_refuses_a_bad_filter_and_ends_with_its_token(app: &TestApp) {
    let bad = app.get("/deployment_runs/watch?limit=101").await;
    assert_envelope(&bad, 400, "invalid_request_error", Some("limit"));
    let bad = app.get("/deployment_runs/watch?trigger_type=cron").await;
    assert_envelope(&bad, 400, "invalid_request_error", Some("trigger_type"));
    let unknown = app.get("/deployment_runs/watch?sort=asc").await;
    assert_envelope(&unknown, 400, "invalid_request_error", Some("sort"));
    // A revoked token ends an open watch.
    let secret = app.scoped_token(TokenScope::Read, &[]).await;
    let mut request = tonic::Request::new(WatchRunsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {secret}").parse().unwrap());
    let mut stream = app
        .grpc()
        .await
        .watch_runs(request)
        .await
        .unwrap()
        .into_inner();
    next_page(&mut stream).await.unwrap();
    revoke_the_read_token(app).await;
    let ended = next_page(&mut stream).await.expect_err("the watch ends");
    assert_eq!(ended.code(), tonic::Code::Unauthenticated);

    // Over REST the watch says so, in the envelope, and its body ends.
    let secret = app.scoped_token(TokenScope::Read, &[]).await;
    let response = app
        .http
        .get(format!("{}/deployment_runs/watch", app.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = Box::pin(response.bytes_stream().eventsource());
    let first = tokio::time::timeout(WAIT, events.next()).await.unwrap();
    assert_eq!(first.unwrap().unwrap().event, "runs");
    revoke_the_read_token(app).await;
    crate::streams::ends_with_an_authentication_error(&mut events, &["heartbeat", "runs"]).await;
}

/// A run triggered on one replica reaches a watch open on another
/// (PostgreSQL: the change is announced by NOTIFY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_one_replica_sees_runs_triggered_on_another() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    let seed = app.seed(5).await;
    let replica = app.replica().await;
    let mut stream = runway_api::v1::deployment_service_client::DeploymentServiceClient::connect(
        format!("http://{}", replica.grpc_addr),
    )
    .await
    .unwrap()
    .watch_runs(app.authed(WatchRunsRequest::default()))
    .await
    .unwrap()
    .into_inner();
    assert!(next_page(&mut stream).await.unwrap().runs.is_empty());
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    let page = page_where(&mut stream, |p| !p.runs.is_empty()).await;
    assert_eq!(page.runs[0].id, run.body["id"].as_str().unwrap());
    replica.shutdown().await.unwrap();
    app.shutdown().await;
}
