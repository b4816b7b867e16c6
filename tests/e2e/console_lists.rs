//! The console's deployments list hides archived deployments, and shows
//! them on request (their pages stay reachable from the list).

use crate::console::{page, sign_in};
use crate::on_every_backend;
use crate::support::TestApp;

on_every_backend!(archived_deployments_are_listed_on_request);

async fn archived_deployments_are_listed_on_request(app: &TestApp) {
    let seed = app.seed(1).await;
    let id = &seed.deployment_id;
    let archived = app.post_empty(&format!("/deployments/{id}/archive")).await;
    assert_eq!(archived.status, 200, "{:?}", archived.body);
    let cookie = sign_in(app, &app.token).await;
    let link = format!("href=\"/deployments/{id}\"");
    let plain = page(app, &cookie, "/deployments").await;
    assert!(!plain.contains(&link), "{plain}");
    assert!(
        plain.contains("href=\"/deployments?archived=1\""),
        "{plain}"
    );
    let with_archived = page(app, &cookie, "/deployments?archived=1").await;
    assert!(with_archived.contains(&link), "{with_archived}");
    assert!(with_archived.contains("Hide archived deployments"));
}
