//! Tenants, tokens and agents: the bootstrap token, agent versions, and
//! pages that visit every row once.

use runway_store::page::{Cursor, PageQuery};
use runway_store::repo::{agents, environments, tenants};
use runway_store::{Store, StoreError};

use super::{agent_fields, now, org};

pub async fn bootstrap_issues_one_token_that_authenticates(store: &Store) {
    let (org, token) = tenants::bootstrap(store, "default")
        .await
        .unwrap()
        .expect("first bootstrap");
    assert!(token.secret.starts_with(tenants::TOKEN_PREFIX));
    assert_ne!(
        token.token.token_hash, token.secret,
        "only the hash is stored"
    );
    assert_eq!(token.token.token_hash, tenants::hash_token(&token.secret));
    assert!(
        tenants::bootstrap(store, "default")
            .await
            .unwrap()
            .is_none(),
        "second bootstrap"
    );
    let who = tenants::authenticate(store, &token.secret)
        .await
        .unwrap()
        .expect("valid token");
    assert_eq!(who.org_id, org.id);
    assert_eq!(
        tenants::authenticate(store, "rwy_pat_nope").await.unwrap(),
        None
    );
}

pub async fn agent_updates_create_versions(store: &Store) {
    let org_id = org(store).await;
    let agent = agents::create(store, &org_id, agent_fields("v1"), None, now())
        .await
        .unwrap();
    let updated =
        agents::update::<StoreError>(store, &org_id, &agent.id, now(), |_| Ok(agent_fields("v2")))
            .await
            .unwrap()
            .expect("exists");
    assert_eq!(updated.version, 2);
    assert_eq!(updated.name, "v2");
    // The same fields again: no new version.
    let same =
        agents::update::<StoreError>(store, &org_id, &agent.id, now(), |_| Ok(agent_fields("v2")))
            .await
            .unwrap()
            .expect("exists");
    assert_eq!(same, updated, "nothing changed, not even updated_at");
    assert!(
        agents::get_version(store, &org_id, &agent.id, 3)
            .await
            .unwrap()
            .is_none()
    );
    let v1 = agents::get_version(store, &org_id, &agent.id, 1)
        .await
        .unwrap()
        .unwrap();
    let v2 = agents::get_version(store, &org_id, &agent.id, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            v1.snapshot.fields.name.as_str(),
            v2.snapshot.fields.name.as_str()
        ),
        ("v1", "v2")
    );
    // Each version says when the agent was created and when it was made.
    assert_eq!(v1.agent_created_at, agent.created_at);
    assert_eq!(v1.created_at, agent.created_at);
    assert_eq!(v2.agent_created_at, agent.created_at);
    assert_eq!(v2.created_at, updated.updated_at);
    let other = org(store).await;
    assert!(
        agents::get(store, &other, &agent.id)
            .await
            .unwrap()
            .is_none(),
        "tenant isolation"
    );
    assert!(
        agents::get_version(store, &other, &agent.id, 1)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn pages_visit_every_row_exactly_once(store: &Store) {
    let org_id = org(store).await;
    let mut made = Vec::new();
    for i in 0..45 {
        made.push(
            environments::create(store, &org_id, format!("e{i}"), None, None, now())
                .await
                .unwrap()
                .id,
        );
    }
    made.reverse(); // newest first
    let mut seen = Vec::new();
    let mut cursor = Cursor::Start;
    let mut pages = 0;
    loop {
        let page = environments::list(
            store,
            &org_id,
            false,
            &PageQuery {
                limit: 20,
                cursor: cursor.clone(),
            },
        )
        .await
        .unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|e| e.id.clone()));
        match page.next {
            Some(next) => {
                assert!(page.has_more);
                cursor = next;
            }
            None => {
                assert!(!page.has_more);
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, made);

    // Backwards from the oldest row: the 20 rows right before it, newest first.
    let oldest = environments::key_of(store, &org_id, &made[44])
        .await
        .unwrap()
        .unwrap();
    let page = environments::list(
        store,
        &org_id,
        false,
        &PageQuery {
            limit: 20,
            cursor: Cursor::Before(oldest),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        page.items.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        made[24..44].to_vec()
    );
    assert!(page.has_more);
}
