//! A console signed in with a `read` token shows what there is and no
//! control that would change it (the API would refuse each, 403).

use runway_api::enums::TokenScope;

use crate::console::{page, sign_in};
use crate::on_every_backend;
use crate::support::TestApp;

on_every_backend!(a_read_token_sees_no_control_that_changes_anything);

async fn a_read_token_sees_no_control_that_changes_anything(app: &TestApp) {
    let seed = app.seed(1).await;
    let id = &seed.deployment_id;
    let run = app.post_empty(&format!("/deployments/{id}/run")).await;
    assert_eq!(run.status, 200, "{:?}", run.body);
    let run_id = run.body["id"].as_str().unwrap().to_string();
    let writes = [
        "New deployment",
        ">Run</button>",
        ">Pause</button>",
        ">Save</button>",
        "Archive…",
        ">Cancel run</button>",
    ];

    // An admin sees them (the run is running: a runner-less test server
    // leaves it so, and it may be canceled).
    let admin = sign_in(app, &app.token).await;
    let everything = [
        page(app, &admin, "/deployments").await,
        page(app, &admin, &format!("/deployments/{id}")).await,
        page(app, &admin, &format!("/runs/{run_id}")).await,
    ]
    .concat();
    for control in writes {
        assert!(everything.contains(control), "admin: {control}");
    }
    assert!(!everything.contains("Read-only token"));

    let reader = app.scoped_token(TokenScope::Read, &[]).await;
    let cookie = sign_in(app, &reader).await;
    let list = page(app, &cookie, "/deployments").await;
    let deployment = page(app, &cookie, &format!("/deployments/{id}")).await;
    let run_page = page(app, &cookie, &format!("/runs/{run_id}")).await;
    for (path, html) in [
        ("/deployments", &list),
        ("/deployments/{id}", &deployment),
        ("/runs/{run_id}", &run_page),
    ] {
        assert!(html.contains("Read-only token"), "{path}");
        for control in writes {
            assert!(!html.contains(control), "{path} shows {control}");
        }
    }
    // The configuration is still shown, its fields disabled.
    assert!(
        deployment.contains(r#"<fieldset class="plain" disabled>"#),
        "{deployment}"
    );
    let name = app.get(&format!("/deployments/{id}")).await.body["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        deployment.contains(&format!("value=\"{name}\"")),
        "{deployment}"
    );
    // The pages of forms (a shared link, a `next=`) say why there is none.
    let new = page(app, &cookie, "/deployments/new").await;
    assert!(new.contains("it may not create deployments"), "{new}");
    assert!(!new.contains("<form class=\"card\""), "{new}");
    let archive = page(app, &cookie, &format!("/deployments/{id}/archive")).await;
    assert!(
        archive.contains("it may not archive deployments"),
        "{archive}"
    );
    assert!(!archive.contains("Archive for good"), "{archive}");
    let runs = page(app, &cookie, "/runs").await;
    for control in writes {
        assert!(!runs.contains(control), "/runs shows {control}");
    }
}
