//! Two service instances on one database, as a city runs replicas: a
//! session made on one works on the other, the login lockout is shared,
//! optimistic concurrency holds across them, and the audit chain verifies
//! after both wrote at once. (PostgreSQL in CI; on SQLite the two instances
//! share one file, which shows the same.)

use crate::common;

use casedesk::accounts::model::Role;
use common::{problem, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn two_replicas_share_sessions_lockouts_versions_and_one_audit_chain() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;

    // a session made on A works on B, and ends for both when signed out on B
    let coordinator = a.account(&[Role::ExchangeCoordinator]).await;
    let me: Value = b
        .get("/staff/me", &coordinator.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], coordinator.email.as_str());
    let extra = a.sign_in(&coordinator).await;
    let out = b
        .request(Method::DELETE, "/sessions/current", Some(&extra))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    problem(a.get("/staff/me", &extra).await, 401).await;

    // failures on both count together: the fifth locks the account on both
    let analyst = a.account(&[Role::Analyst]).await;
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        let resp = app
            .login_response(&analyst.email, "not the password at all", None)
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    for app in [&a, &b] {
        let resp = app.login_response(&analyst.email, PASSWORD, None).await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    // parallel guesses through both replicas at once: five are checked, the rest refused
    let target = a.account(&[Role::Auditor]).await;
    let guesses = (0..40).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let email = target.email.clone();
        async move {
            app.login_response(&email, &format!("parallel guess {i}"), None)
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked, 5, "{statuses:?}");

    // optimistic concurrency: both replicas change version 1 at once; one wins
    let t = coordinator.token.as_str();
    let inst: Value = a
        .post("/institutions", Some(t), json!({"name": "ROC Replica", "kind": "mbo_college", "country": "NL", "city": "Utrecht", "sisterCity": false}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/institutions/{}", inst["id"].as_str().unwrap());
    let change = |app: &TestApp, city: &str| {
        app.request(Method::PATCH, &path, Some(t))
            .header("if-match", "\"1\"")
            .json(&json!({"city": city}))
            .send()
    };
    let (ra, rb) = tokio::join!(change(&a, "Amersfoort"), change(&b, "Zwolle"));
    let mut statuses = [ra.unwrap().status(), rb.unwrap().status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let now: Value = b.get(&path, t).await.json().await.unwrap();
    assert_eq!(now["version"], 2);

    // both write at once; the chain still verifies, with every event in it
    let before = a.audit_rows().await.len();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let app_url = if i % 2 == 0 {
            a.api("/institutions")
        } else {
            b.api("/institutions")
        };
        let client = a.client.clone();
        let token = t.to_owned();
        tasks.push(tokio::spawn(async move {
            client
                .post(app_url)
                .bearer_auth(token)
                .json(&json!({"name": format!("Institution {i}"), "kind": "employer", "country": "DE", "city": "Berlin", "sisterCity": false}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::CREATED);
    }
    let rows = a.audit_rows().await;
    let created = rows[before..]
        .iter()
        .filter(|e| e.action == "institution.created")
        .count();
    assert_eq!(created, 40);
    let seqs: Vec<i64> = rows.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=rows.len() as i64).collect::<Vec<_>>());
    let auditor = b.account(&[Role::Auditor]).await;
    for app in [&a, &b] {
        let v: Value = app
            .get("/audit-events/verification", &auditor.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["ok"], true, "{v}");
        assert!(v["checked"].as_u64().unwrap() as usize >= rows.len(), "{v}");
    }
    // and the outbox numbered the same writes gap-free, in commit order
    let events: Vec<i64> = {
        use sea_orm::{EntityTrait, QueryOrder};
        casedesk::entities::outbox_events::Entity::find()
            .order_by_asc(casedesk::entities::outbox_events::Column::Seq)
            .all(&a.state.db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(events, (1..=42).collect::<Vec<i64>>());
}
