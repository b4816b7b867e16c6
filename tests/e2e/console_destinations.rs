//! A page asked for without a sign-in (a shared link, a sign-in that
//! ended) is where the sign-in goes after: `next=`, local pages only.

use crate::console::{browser, root};
use crate::on_every_backend;
use crate::support::TestApp;

on_every_backend!(a_sign_in_returns_to_the_page_that_asked_for_it);

async fn a_sign_in_returns_to_the_page_that_asked_for_it(app: &TestApp) {
    let base = root(app);
    // Every page sends a signed-out browser to sign in, naming the page
    // to come back to (a live stream's reconnect is not a page to return to).
    for (path, to) in [
        ("/", "/sign-in"),
        ("/deployments", "/sign-in?next=%2Fdeployments"),
        (
            "/runs?status=failed",
            "/sign-in?next=%2Fruns%3Fstatus%3Dfailed",
        ),
        ("/agents", "/sign-in?next=%2Fagents"),
    ] {
        let response = browser().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], to, "{path}");
    }
    let stream = browser()
        .get(format!("{base}/runs/live"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["location"], "/sign-in");
    // The sign-in form carries a local destination, and goes there; any
    // other destination is the overview.
    let form = browser()
        .get(format!("{base}/sign-in?next=%2Fruns%3Fstatus%3Dfailed"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains(r#"<input type="hidden" name="next" value="/runs?status=failed">"#),
        "{form}"
    );
    for (next, to) in [
        ("/runs?status=failed", "/runs?status=failed"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
    ] {
        let response = browser()
            .post(format!("{base}/sign-in"))
            .form(&[("token", app.token.as_str()), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{next}");
        assert_eq!(response.headers()["location"], to, "{next}");
    }
}
