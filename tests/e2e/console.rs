//! The web console over plain HTTP: who may sign in, what the session
//! cookie is, and what a POST must show (the browser tests in
//! tests/console drive the screens themselves).

use runway_api::enums::TokenScope;

use crate::on_every_backend;
use crate::support::TestApp;

on_every_backend!(
    sign_in_takes_a_token_that_can_read_and_sets_a_strict_http_only_cookie,
    every_post_needs_the_session_csrf_token_and_a_same_site_origin,
    the_edit_form_changes_the_configuration_and_user_metadata,
    an_unknown_page_is_a_page_and_an_unknown_api_path_the_envelope,
);

async fn an_unknown_page_is_a_page_and_an_unknown_api_path_the_envelope(app: &TestApp) {
    let base = root(app);
    for (method, path) in [
        ("GET", "/no/such/page"),
        ("GET", "/deployments/dep_1/nothing"),
        ("POST", "/favicon.ico"),
    ] {
        let response = browser()
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8",
            "{method} {path}"
        );
        let page = response.text().await.unwrap();
        assert!(page.contains("There is no such page."), "{page}");
    }
    // The API's own unknown paths keep the envelope, under both base paths.
    for path in [
        "/api/v1/cloud/no/such",
        "/api/v1/cloud",
        "/api/v1/cloud/",
        "/api/v1/cloud/deployments/",
        "/api/elsewhere",
        "/v1/no/such",
        "/api",
        "/api/",
        "/v1",
        "/v1/",
    ] {
        let response = browser()
            .get(format!("{base}{path}"))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.headers().contains_key("x-request-id"), "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "not_found_error", "{path}: {body}");
        assert_eq!(
            body["error"]["message"],
            format!("No route for GET {path}"),
            "{path}"
        );
    }
}

/// A client that shows redirects instead of following them.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn root(app: &TestApp) -> String {
    app.base.trim_end_matches("/api/v1/cloud").to_string()
}

/// A console page `path` as the browser signed in with `cookie` sees it
/// (200).
pub(crate) async fn page(app: &TestApp, cookie: &str, path: &str) -> String {
    let response = browser()
        .get(format!("{}{path}", root(app)))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// Signs `token` in; the session cookie's `name=value`.
pub(crate) async fn sign_in(app: &TestApp, token: &str) -> String {
    let response = browser()
        .post(format!("{}/sign-in", root(app)))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    cookie.split(';').next().unwrap().to_string()
}

async fn sign_in_takes_a_token_that_can_read_and_sets_a_strict_http_only_cookie(app: &TestApp) {
    let base = root(app);
    // Signed out: every page sends the browser to sign in
    // (console_destinations.rs: and back).
    let response = browser()
        .get(format!("{base}/agents"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/sign-in")
    );
    // A runner token cannot read: refused, in the API's words.
    let runner = app.scoped_token(TokenScope::Runner, &["*"]).await;
    let refused = browser()
        .post(format!("{base}/sign-in"))
        .form(&[("token", runner.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("set-cookie").is_none());
    let page = refused.text().await.unwrap();
    let api = app
        .call(
            "GET",
            "/deployments",
            None,
            &[("authorization", &format!("Bearer {runner}"))],
        )
        .await;
    let message = api.body["error"]["message"].as_str().unwrap();
    assert!(
        page.contains(&message.replace('\'', "&#39;")) || page.contains(message),
        "{page}"
    );
    // An admin token signs in: the cookie is a random id, HttpOnly and SameSite=Strict.
    let response = browser()
        .post(format!("{base}/sign-in"))
        .form(&[("token", app.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    let (pair, attributes) = cookie.split_once("; ").unwrap();
    assert_eq!(attributes, "Path=/; HttpOnly; SameSite=Strict");
    let (name, id) = pair.split_once('=').unwrap();
    assert_eq!(name, "runway_session");
    assert_eq!(id.len(), 64);
    assert!(!cookie.contains(&app.token));
    let overview = browser()
        .get(format!("{base}/"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), 200);
    assert_eq!(overview.headers()["cache-control"], "no-store");
    assert!(
        overview.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let html = overview.text().await.unwrap();
    assert!(html.contains("<h1>Overview</h1>"));
    assert!(!html.contains(&app.token), "the token never reaches a page");
    // An id this server never issued is not a session.
    let forged = browser()
        .get(format!("{base}/"))
        .header("cookie", format!("runway_session={}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 303);
}

/// The CSRF token of the forms on `page`.
fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's forms carry the CSRF token")
        .to_string()
}

async fn the_edit_form_changes_the_configuration_and_user_metadata(app: &TestApp) {
    let seed = app.seed(3).await;
    let id = &seed.deployment_id;
    let set = app
        .post(
            &format!("/deployments/{id}"),
            serde_json::json!({"metadata": {"team": "ops", "ticket": "R-1"}}),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    let base = root(app);
    let cookie = sign_in(app, &app.token).await;
    let form_page = page(app, &cookie, &format!("/deployments/{id}")).await;
    // The form shows the user's keys only: the limits have fields of their own.
    assert!(
        form_page.contains(">team=ops\nticket=R-1\n</textarea>"),
        "{form_page}"
    );
    let csrf = csrf_of(&form_page);
    let form = |timezone: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "nightly-report".to_string()),
            ("description", String::new()),
            ("schedule.expression", "30 2 * * *".to_string()),
            ("schedule.timezone", timezone.to_string()),
            ("metadata.cas_config.config.max_concurrent", "3".to_string()),
            ("metadata.cas_config.config.max_retries", "2".to_string()),
            ("metadata.cas_config.config.timeout_ms", "60000".to_string()),
            (
                "metadata.cas_config.config.max_consecutive_failures",
                String::new(),
            ),
            ("metadata", "team = data\nowner=ana\n".to_string()),
        ]
    };
    // A zone the API does not know: its message beside the field, nothing saved.
    let refused = browser()
        .post(format!("{base}/deployments/{id}"))
        .header("cookie", &cookie)
        .form(&form("Mars/Olympus"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let page = refused.text().await.unwrap();
    let field = r#"<input id="f-schedule-timezone" type="text" name="schedule.timezone" value="Mars/Olympus" aria-invalid="true" aria-describedby="f-schedule-timezone-hint f-schedule-timezone-error">"#;
    assert!(page.contains(field), "{page}");
    let api_error = app
        .post(
            &format!("/deployments/{id}"),
            serde_json::json!({"schedule": {"expression": "30 2 * * *", "timezone": "Mars/Olympus"}}),
        )
        .await;
    assert_eq!(api_error.status, 400);
    let message = api_error.body["error"]["message"].as_str().unwrap();
    let shown = format!(
        r#"<p class="field-error" id="f-schedule-timezone-error" role="alert">{}</p>"#,
        message.replace('"', "&quot;")
    );
    assert!(page.contains(&shown), "{shown} in {page}");
    assert_eq!(
        app.get(&format!("/deployments/{id}")).await.body["name"],
        "daily-report"
    );
    // A known zone: saved through the API; the removed key is gone.
    let saved = browser()
        .post(format!("{base}/deployments/{id}"))
        .header("cookie", &cookie)
        .form(&form("Europe/Berlin"))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    assert_eq!(saved.headers()["location"], format!("/deployments/{id}"));
    let d = app.get(&format!("/deployments/{id}")).await.body;
    assert_eq!(d["name"], "nightly-report");
    assert_eq!(d["schedule"]["expression"], "30 2 * * *");
    assert_eq!(d["schedule"]["timezone"], "Europe/Berlin");
    assert_eq!(
        d["metadata"]["cas_config"]["config"],
        serde_json::json!({"max_concurrent": 3, "max_consecutive_failures": null, "max_retries": 2, "timeout_ms": 60000})
    );
    let mut user_keys = d["metadata"].as_object().unwrap().clone();
    user_keys.remove("cas_config");
    assert_eq!(
        serde_json::Value::Object(user_keys),
        serde_json::json!({"owner": "ana", "team": "data"})
    );
}

async fn every_post_needs_the_session_csrf_token_and_a_same_site_origin(app: &TestApp) {
    let seed = app.seed(1).await;
    let base = root(app);
    let cookie = sign_in(app, &app.token).await;
    let csrf = csrf_of(
        &page(
            app,
            &cookie,
            &format!("/deployments/{}", seed.deployment_id),
        )
        .await,
    );
    let pause = format!("{base}/deployments/{}/pause", seed.deployment_id);
    // Without the token, with another session's, or from another site: refused, nothing paused.
    let other = sign_in(app, &app.token).await;
    let other_csrf = csrf_of(&page(app, &other, "/deployments").await);
    assert_ne!(other_csrf, csrf);
    for (form, site) in [
        (vec![], None),
        (vec![("csrf", other_csrf.as_str())], None),
        (vec![("csrf", csrf.as_str())], Some("cross-site")),
    ] {
        let mut request = browser().post(&pause).header("cookie", &cookie).form(&form);
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{form:?} {site:?}");
    }
    // A body that is no form: a console page saying so, not plain text.
    let unformed = browser()
        .post(&pause)
        .header("cookie", &cookie)
        .body("csrf=x")
        .send()
        .await
        .unwrap();
    assert_eq!(unformed.status(), 415);
    assert!(
        unformed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let text = unformed.text().await.unwrap();
    assert!(text.contains("application/x-www-form-urlencoded"), "{text}");
    let origin = browser()
        .post(&pause)
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(origin.status(), 403);
    assert_eq!(
        app.get(&format!("/deployments/{}", seed.deployment_id))
            .await
            .body["status"],
        "active"
    );
    // With it: paused, through the API.
    let paused = browser()
        .post(&pause)
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 303);
    assert_eq!(
        app.get(&format!("/deployments/{}", seed.deployment_id))
            .await
            .body["status"],
        "paused"
    );
    // Signing out ends the session: its cookie opens nothing.
    let out = browser()
        .post(format!("{base}/sign-out"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = browser()
        .get(format!("{base}/deployments"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303);
}
