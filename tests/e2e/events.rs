//! A run's transcript as the server records it: the deployment's initial
//! events and `session.status_running` when the run starts, and
//! `session.status_idle` with its stop reason when it ends; listed over
//! REST with the documented paging and filters.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::on_every_backend;
use crate::support::{TestApp, assert_envelope, assert_id, assert_timestamp, keys};

on_every_backend!(
    a_run_opens_and_closes_its_session_transcript,
    events_page_and_filter,
    event_lists_refuse_what_they_cannot_serve,
);

pub(crate) async fn events_of(app: &TestApp, session: &str, query: &str) -> Value {
    let resp = app.get(&format!("/sessions/{session}/events{query}")).await;
    assert_eq!(resp.status, 200, "{query}: {}", resp.body);
    resp.body
}

pub(crate) fn types(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect()
}

async fn a_run_opens_and_closes_its_session_transcript(app: &TestApp) {
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    let session = run.body["session_id"].as_str().unwrap().to_string();
    let turn = run.body["cas_run_extras"]["turn_id"].as_str().unwrap();

    let opened = events_of(app, &session, "").await;
    assert_eq!(
        keys(&opened),
        BTreeSet::from(["data", "first_id", "last_id", "has_more"])
    );
    assert_eq!(types(&opened), ["user.message", "session.status_running"]);
    let first = &opened["data"][0];
    assert_eq!(
        keys(first),
        BTreeSet::from([
            "id",
            "type",
            "session_id",
            "turn_id",
            "schema_version",
            "created_at",
            "processed_at",
            "content"
        ])
    );
    assert_id(&first["id"], "evt_");
    assert_eq!(first["session_id"], session.as_str());
    assert_eq!(first["turn_id"], turn);
    assert_eq!(first["schema_version"], "1.0");
    assert_eq!(first["content"], "Generate today's status report");
    assert_timestamp(&first["created_at"]);
    assert_timestamp(&first["processed_at"]);
    assert_eq!(opened["first_id"], first["id"]);
    assert_eq!(opened["last_id"], opened["data"][1]["id"]);
    assert_eq!(opened["has_more"], false);

    // Ending the run closes the session's turn, saying why.
    let run_id = run.body["id"].as_str().unwrap();
    let canceled = app
        .post_empty(&format!("/deployment_runs/{run_id}/cancel"))
        .await;
    assert_eq!(canceled.status, 200, "{}", canceled.body);
    let closed = events_of(app, &session, "").await;
    assert_eq!(
        types(&closed),
        [
            "user.message",
            "session.status_running",
            "session.status_idle"
        ]
    );
    assert_eq!(
        closed["data"][2]["stop_reason"],
        json!({"type": "interrupted", "error": {"type": "canceled_error", "message": "The run was canceled."}})
    );
    assert_eq!(closed["data"][2]["turn_id"], turn);
}

async fn events_page_and_filter(app: &TestApp) {
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    let session = run.body["session_id"].as_str().unwrap().to_string();
    let run_id = run.body["id"].as_str().unwrap();
    app.post_empty(&format!("/deployment_runs/{run_id}/cancel"))
        .await;
    let all = events_of(app, &session, "").await;
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);

    // Pages of one, forwards by after_id and backwards by order=desc.
    let page = events_of(app, &session, "?limit=1").await;
    assert_eq!(types(&page), ["user.message"]);
    assert_eq!(page["has_more"], true);
    let next = events_of(app, &session, &format!("?limit=1&after_id={}", ids[0])).await;
    assert_eq!(next["first_id"], ids[1]);
    let last = events_of(app, &session, &format!("?after_id={}", ids[1])).await;
    assert_eq!(last["first_id"], ids[2]);
    assert_eq!(last["has_more"], false);
    let newest = events_of(app, &session, "?order=desc").await;
    assert_eq!(
        types(&newest),
        [
            "session.status_idle",
            "session.status_running",
            "user.message"
        ]
    );
    let before = events_of(app, &session, &format!("?before_id={}&order=desc", ids[2])).await;
    assert_eq!(types(&before), ["session.status_running", "user.message"]);

    // Type filters: types[] repeats, type adds one.
    let status = events_of(
        app,
        &session,
        "?types[]=session.status_running&types[]=session.status_idle",
    )
    .await;
    assert_eq!(
        types(&status),
        ["session.status_running", "session.status_idle"]
    );
    let one = events_of(app, &session, "?type=user.message").await;
    assert_eq!(types(&one), ["user.message"]);
    let encoded = events_of(app, &session, "?types%5B%5D=session.status_idle").await;
    assert_eq!(types(&encoded), ["session.status_idle"]);

    // Time filters are inclusive.
    let at = all["data"][0]["created_at"].as_str().unwrap();
    let since = events_of(app, &session, &format!("?created_at[gte]={at}")).await;
    assert_eq!(since["data"].as_array().unwrap().len(), 3);
    let until = events_of(app, &session, "?created_at[lte]=2000-01-01T00:00:00Z").await;
    assert_eq!(until["data"], json!([]));
    assert_eq!(until["first_id"], Value::Null);
}

async fn event_lists_refuse_what_they_cannot_serve(app: &TestApp) {
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    let session = run.body["session_id"].as_str().unwrap().to_string();
    let path = format!("/sessions/{session}/events");
    for (query, param) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?order=sideways", "order"),
        ("?type=agent.dance", "type"),
        ("?types[]=agent.dance", "types[]"),
        ("?created_at[gte]=yesterday", "created_at[gte]"),
        ("?after_id=evt_00000000000000000000000000000000", "after_id"),
        ("?page=abc", "page"),
    ] {
        let resp = app.get(&format!("{path}{query}")).await;
        assert_envelope(&resp, 400, "invalid_request_error", Some(param));
    }
    // Another organization's session, an unknown one and a malformed id: 404.
    let other = app.other_org_token().await;
    let auth = format!("Bearer {other}");
    let foreign = app
        .call("GET", &path, None, &[("authorization", &auth)])
        .await;
    assert_envelope(&foreign, 404, "not_found_error", Some("id"));
    for id in ["sess_00000000000000000000000000000000", "nope"] {
        let resp = app.get(&format!("/sessions/{id}/events")).await;
        assert_envelope(&resp, 404, "not_found_error", Some("id"));
    }
}
