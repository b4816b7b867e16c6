//! Per-token rate limits: a flooding token gets 429 with `Retry-After`
//! (RESOURCE_EXHAUSTED with `RetryInfo` over gRPC) while another token's
//! requests keep succeeding. The limiter lives in memory, so one backend.

use std::num::NonZeroU32;
use std::time::Duration;

use runway_api::v1::ListDeploymentsRequest;
use runway_server::rate_limit::RateLimit;
use runway_store::testing::TestDatabase;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{TestApp, assert_envelope};

/// Small enough to reach in a test (a request back every 500 ms), with a
/// burst that a flood exhausts.
const PER_SECOND: u32 = 2;
const BURST: u32 = 30;

async fn limited_app() -> TestApp {
    let execution = runway_server::ExecutionConfig {
        rate_limit: Some(RateLimit {
            per_second: NonZeroU32::new(PER_SECOND).unwrap(),
            burst: NonZeroU32::new(BURST).unwrap(),
        }),
        ..Default::default()
    };
    TestApp::start_with_execution(TestDatabase::sqlite().await, execution).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_token_gets_429_while_another_keeps_going() {
    let app = limited_app().await;
    let other = app.other_org_token().await;
    let other_auth = format!("Bearer {other}");

    // 150 requests at once from one token: at most the burst plus what
    // refills while they run get through.
    let flood = futures::future::join_all((0..150).map(|_| app.get("/deployments"))).await;
    let refused: Vec<_> = flood.iter().filter(|r| r.status == 429).collect();
    let passed = flood.iter().filter(|r| r.status == 200).count();
    assert_eq!(passed + refused.len(), 150, "only 200s and 429s");
    assert!(passed >= BURST as usize, "the burst passes: {passed}");
    assert!(
        refused.len() >= 100,
        "the flood is cut: {} refused",
        refused.len()
    );
    let first = refused[0];
    assert_envelope(first, 429, "rate_limit_error", None);
    let retry_after: u64 = first.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert_eq!(
        retry_after, 1,
        "a 2/s bucket lets one in within half a second"
    );
    assert!(
        first.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Too many requests for this token"),
        "{}",
        first.body
    );

    // At once, over gRPC, the same token is refused with RetryInfo and ErrorInfo.
    let mut grpc = app.grpc().await;
    let status = grpc
        .list_deployments(app.authed(ListDeploymentsRequest::default()))
        .await
        .expect_err("the bucket is empty");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "RATE_LIMITED");
    assert_eq!(details.error_info().unwrap().domain, "runway");
    let delay = details
        .retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo carries the wait");
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_millis(500),
        "{delay:?}"
    );

    // The other organization's token is untouched, right now.
    for _ in 0..10 {
        let resp = app
            .call(
                "GET",
                "/deployments",
                None,
                &[("authorization", &other_auth)],
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
    }

    // Waiting as told lets the token in again.
    tokio::time::sleep(delay).await;
    let resp = app.get("/deployments").await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    app.shutdown().await;
}
