//! Every documented failure over REST: status code and the exact envelope.

use serde_json::json;

use crate::on_every_backend;
use crate::support::{TestApp, assert_envelope};

on_every_backend!(
    bad_credentials_are_401,
    unknown_malformed_and_foreign_ids_are_404,
    state_conflicts_are_409,
    malformed_requests_are_400,
    router_failures_are_enveloped,
);

async fn bad_credentials_are_401(app: &TestApp) {
    let seed = app.seed(1).await;
    let path = format!("/deployments/{}/run", seed.deployment_id);
    for headers in [
        vec![],
        vec![("authorization", "Basic dXNlcjpwYXNz")],
        vec![("authorization", "Bearer")],
        vec![(
            "authorization",
            "Bearer rwy_pat_0000000000000000000000000000000000000000000000000000000000000000",
        )],
    ] {
        let resp = app.call("POST", &path, None, &headers).await;
        assert_envelope(&resp, 401, "authentication_error", None);
        assert_eq!(resp.body["error"]["message"], "Invalid API key or token.");
    }
    let list = app.call("GET", "/deployments", None, &[]).await;
    assert_envelope(&list, 401, "authentication_error", None);
    // Two Authorization headers, even one valid token twice: neither counts.
    let auth = format!("Bearer {}", app.token);
    let twice = [("authorization", auth.as_str()), ("authorization", &auth)];
    let resp = app.call("POST", &path, None, &twice).await;
    assert_envelope(&resp, 401, "authentication_error", None);
    assert_eq!(resp.body["error"]["message"], "Invalid API key or token.");
}

async fn unknown_malformed_and_foreign_ids_are_404(app: &TestApp) {
    let seed = app.seed(1).await;
    let unknown = "dep_019ec556114c78f8b60ee34fcb98bf59";
    for id in [
        unknown,
        "dep_nope",
        "drun_019ec55a68af73028afa5b87931cb2f3",
        "DEP_019EC556114C78F8B60EE34FCB98BF59",
    ] {
        let resp = app.post_empty(&format!("/deployments/{id}/run")).await;
        assert_envelope(&resp, 404, "not_found_error", Some("id"));
        assert_eq!(
            resp.body["error"]["message"],
            format!("Deployment {id} not found")
        );
        let resp = app.get(&format!("/deployments/{id}")).await;
        assert_envelope(&resp, 404, "not_found_error", Some("id"));
    }
    for path in [
        "/deployment_runs/drun_x",
        "/deployment_runs/drun_019ec55a68af73028afa5b87931cb2f3",
    ] {
        assert_envelope(&app.get(path).await, 404, "not_found_error", Some("run_id"));
    }
    assert_envelope(
        &app.get("/agents/agent_1").await,
        404,
        "not_found_error",
        Some("id"),
    );
    assert_envelope(
        &app.get("/environments/env_1").await,
        404,
        "not_found_error",
        Some("id"),
    );

    // Another organization sees nothing of ours, and cannot act on it.
    let other = format!("Bearer {}", app.other_org_token().await);
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    let run_id = run.body["id"].as_str().unwrap();
    for (method, path) in [
        ("GET", format!("/deployments/{}", seed.deployment_id)),
        ("POST", format!("/deployments/{}/run", seed.deployment_id)),
        ("POST", format!("/deployments/{}/pause", seed.deployment_id)),
        ("GET", format!("/deployments/{}/runs", seed.deployment_id)),
        ("GET", format!("/deployment_runs/{run_id}")),
        ("GET", format!("/agents/{}", seed.agent_id)),
        ("GET", format!("/environments/{}", seed.environment_id)),
    ] {
        let resp = app
            .call(method, &path, None, &[("authorization", &other)])
            .await;
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.body);
        assert_envelope(
            &resp,
            404,
            "not_found_error",
            resp.body["error"]["param"].as_str(),
        );
    }
    let theirs = app
        .call(
            "GET",
            "/deployment_runs",
            None,
            &[("authorization", &other)],
        )
        .await;
    assert_eq!(theirs.status, 200);
    assert_eq!(theirs.body["data"], json!([]));
    // Referencing another organization's agent is NOT_FOUND too.
    let foreign = app
        .call(
            "POST",
            "/deployments",
            Some(
                json!({"name": "x", "agent": seed.agent_id, "environment_id": seed.environment_id,
                       "initial_events": [{"type": "user.message", "content": "hi"}]})
                .to_string(),
            ),
            &[("authorization", &other)],
        )
        .await;
    assert_envelope(&foreign, 404, "not_found_error", Some("agent"));
}

async fn state_conflicts_are_409(app: &TestApp) {
    let seed = app.seed(1).await;
    let dep = format!("/deployments/{}", seed.deployment_id);

    let unpause_active = app.post_empty(&format!("{dep}/unpause")).await;
    assert_envelope(&unpause_active, 409, "conflict_error", None);

    let paused = app.post_empty(&format!("{dep}/pause")).await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(paused.body["status"], "paused");
    assert_eq!(paused.body["paused_reason"], json!({"type": "manual"}));
    assert_envelope(
        &app.post_empty(&format!("{dep}/pause")).await,
        409,
        "conflict_error",
        None,
    );
    let run = app.post_empty(&format!("{dep}/run")).await;
    assert_envelope(&run, 409, "conflict_error", None);
    assert_eq!(
        run.body["error"]["message"],
        format!("Deployment {} is paused", seed.deployment_id)
    );

    let resumed = app.post(&format!("{dep}/unpause"), json!({})).await;
    assert_eq!(resumed.status, 200);
    assert_eq!(resumed.body["status"], "active");
    assert_eq!(resumed.body["paused_reason"], serde_json::Value::Null);

    let archived = app.post_empty(&format!("{dep}/archive")).await;
    assert_eq!(archived.status, 200, "{}", archived.body);
    assert!(archived.body["archived_at"].is_string());
    assert!(
        archived.body["name"]
            .as_str()
            .unwrap()
            .starts_with("daily-report_archived_")
    );
    for action in ["run", "archive", "pause", "unpause"] {
        let resp = app.post_empty(&format!("{dep}/{action}")).await;
        assert_envelope(&resp, 409, "conflict_error", None);
    }
    assert_envelope(
        &app.post(&dep, json!({"name": "renamed"})).await,
        409,
        "conflict_error",
        None,
    );
    // Archived deployments leave the default list, and come back on request.
    let list = app.get("/deployments").await;
    assert_eq!(list.body["data"], json!([]));
    let all = app.get("/deployments?include_archived=true").await;
    assert_eq!(all.body["data"][0]["id"], seed.deployment_id);
}

async fn malformed_requests_are_400(app: &TestApp) {
    let seed = app.seed(1).await;
    let auth = format!("Bearer {}", app.token);
    let post = |path: String, body: &'static str| {
        let auth = auth.clone();
        async move {
            app.call(
                "POST",
                &path,
                Some(body.to_string()),
                &[("authorization", &auth)],
            )
            .await
        }
    };
    assert_envelope(
        &post("/deployments".into(), r#"{"name": "x""#).await,
        400,
        "invalid_request_error",
        None,
    );
    assert_envelope(
        &post("/deployments".into(), "not json").await,
        400,
        "invalid_request_error",
        None,
    );
    assert_envelope(
        &post("/deployments".into(), r#"{"name": 5}"#).await,
        400,
        "invalid_request_error",
        Some("name"),
    );
    assert_envelope(
        &post("/deployments".into(), r#"{"nmae": "x"}"#).await,
        400,
        "invalid_request_error",
        Some("nmae"),
    );
    assert_envelope(
        &post(
            "/deployments".into(),
            r#"{"metadata": {"cas_config": {"config": {"max_concurrent": "3"}}}}"#,
        )
        .await,
        400,
        "invalid_request_error",
        Some("metadata.cas_config.config.max_concurrent"),
    );
    assert_envelope(
        &post(format!("/deployments/{}/run", seed.deployment_id), "[1]").await,
        400,
        "invalid_request_error",
        None,
    );
    assert_envelope(
        &app.post_empty("/deployments").await,
        400,
        "invalid_request_error",
        None,
    );

    let valid = json!({"name": "d", "agent": seed.agent_id, "environment_id": seed.environment_id,
                       "initial_events": [{"type": "user.message", "content": "hi"}]});
    let with = |patch: serde_json::Value| {
        let mut body = valid.clone();
        body.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        body
    };
    for (patch, param) in [
        (json!({"name": ""}), "name"),
        (json!({"initial_events": []}), "initial_events"),
        (
            json!({"initial_events": [{"type": "user.shout", "content": "hi"}]}),
            "initial_events[0].type",
        ),
        (
            json!({"initial_events": [{"type": "user.message", "content": ""}]}),
            "initial_events[0].content",
        ),
        (
            json!({"metadata": {"cas_config": {"config": {"max_concurrent": 0}}}}),
            "metadata.cas_config.config.max_concurrent",
        ),
        (
            json!({"metadata": {"cas_config": {"config": {"max_retries": 11}}}}),
            "metadata.cas_config.config.max_retries",
        ),
        (
            json!({"metadata": {"cas_config": {"config": {"timeout_ms": 999}}}}),
            "metadata.cas_config.config.timeout_ms",
        ),
        (
            json!({"schedule": {"type": "cron", "expression": "0 9 * *", "timezone": "UTC"}}),
            "schedule.expression",
        ),
        (
            json!({"schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "Mars/Base"}}),
            "schedule.timezone",
        ),
        (json!({"resources": [{"no_type": 1}]}), "resources[0].type"),
        (json!({"metadata": {"team": 1}}), "metadata.team"),
    ] {
        let resp = app.post("/deployments", with(patch.clone())).await;
        assert_envelope(&resp, 400, "invalid_request_error", Some(param));
    }
    assert_eq!(
        app.post("/deployments", valid).await.status,
        200,
        "the valid body is valid"
    );

    for (query, param) in [
        ("limit=0", Some("limit")),
        ("limit=1001", Some("limit")),
        ("limit=abc", Some("limit")),
        ("page=garbage", Some("page")),
        ("status=bogus", Some("status")),
        ("has_error=maybe", Some("has_error")),
        ("stauts=running", Some("stauts")),
        (
            "after_id=drun_019ec55a68af73028afa5b87931cb2f3&before_id=drun_019ec55a68af73028afa5b87931cb2f3",
            None,
        ),
        ("page=x&after_id=y", None),
    ] {
        let resp = app.get(&format!("/deployment_runs?{query}")).await;
        assert_envelope(&resp, 400, "invalid_request_error", param);
    }

    // A cursor is a position in the list that issued it: another list
    // refuses it rather than reading from a meaningless place.
    app.seed(1).await;
    let deployments = app.get("/deployments?limit=1").await;
    assert_eq!(deployments.status, 200, "{}", deployments.body);
    let cursor = deployments.body["next_page"]
        .as_str()
        .expect("more deployments");
    let elsewhere = app.get(&format!("/deployment_runs?page={cursor}")).await;
    assert_envelope(&elsewhere, 400, "invalid_request_error", Some("page"));
    assert_eq!(
        elsewhere.body["error"]["message"],
        "page is a cursor of another list"
    );
    let here = app
        .get(&format!("/deployments?limit=1&page={cursor}"))
        .await;
    assert_eq!(here.status, 200, "{}", here.body);
    let first_two = app.get("/deployments?limit=2").await;
    assert_eq!(here.body["data"][0]["id"], first_two.body["data"][1]["id"]);
}

async fn router_failures_are_enveloped(app: &TestApp) {
    let seed = app.seed(1).await;
    let auth = format!("Bearer {}", app.token);

    let wrong_method = app
        .call(
            "DELETE",
            &format!("/deployments/{}", seed.deployment_id),
            None,
            &[("authorization", &auth)],
        )
        .await;
    assert_envelope(&wrong_method, 405, "invalid_request_error", None);
    assert_eq!(wrong_method.headers.get("allow").unwrap(), "GET,HEAD,POST");
    let wrong_method = app
        .call(
            "GET",
            &format!("/deployments/{}/run", seed.deployment_id),
            None,
            &[],
        )
        .await;
    assert_envelope(&wrong_method, 405, "invalid_request_error", None);
    assert_eq!(wrong_method.headers.get("allow").unwrap(), "POST");

    assert_envelope(
        &app.get("/nothing/here").await,
        404,
        "not_found_error",
        None,
    );
    assert_envelope(
        &app.call("GET", &format!("{}/../elsewhere", app.base), None, &[])
            .await,
        404,
        "not_found_error",
        None,
    );

    // x-request-id: echoed when given, generated otherwise, in header and body.
    let echoed = app
        .call(
            "GET",
            "/deployments/dep_x",
            None,
            &[("authorization", &auth), ("x-request-id", "trace-abc-123")],
        )
        .await;
    assert_envelope(&echoed, 404, "not_found_error", Some("id"));
    assert_eq!(echoed.headers.get("x-request-id").unwrap(), "trace-abc-123");
    assert_eq!(echoed.body["request_id"], "trace-abc-123");
    let ok = app.get("/deployments").await;
    assert!(
        ok.headers
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("req_")
    );

    // A body over 32 MiB is refused with 400.
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(32 * 1024 * 1024 + 1));
    let resp = app
        .call(
            "POST",
            "/deployments",
            Some(huge),
            &[("authorization", &auth)],
        )
        .await;
    assert_envelope(&resp, 400, "invalid_request_error", None);
}
