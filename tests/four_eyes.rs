//! Nobody grants themselves access: an administrator could make itself a
//! shelter coordinator and read everything. Now a Shelter City role is a
//! pending change until a second person approves it, and "a second person"
//! is not the requester, the account itself, nor an account whose
//! credentials either of them issued (directly or through accounts they made).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use casedesk::accounts::model::Role;
use common::{problem, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// An account made through the API by `by`, then used as its holder would:
/// password changed, second factor enrolled. Returns its id and token.
async fn made_by(app: &TestApp, by: &str, roles: &[&str]) -> (String, String) {
    let email = format!("{}@casedesk.test", uuid::Uuid::now_v7().simple());
    let resp = app
        .post(
            "/staff",
            Some(by),
            json!({"email": email, "displayName": "Made", "roles": roles}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    let id = created["staff"]["id"].as_str().unwrap().to_owned();
    // the creator is shown no credential; the invitation went to the staff member
    assert_eq!(created["invitation"]["delivery"], "sent");
    app.enrol(&email, common::PASSWORD).await;
    let token = app.login(&email, common::PASSWORD).await;
    let enrolment: Value = app
        .post("/staff/me/totp", Some(&token), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = common::base32_decode(enrolment["secret"].as_str().unwrap());
    let code = app.totp_code(&secret);
    let resp = app
        .post(
            "/staff/me/totp/confirmation",
            Some(&token),
            json!({"code": code}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    (id, token)
}

async fn pending_grant(app: &TestApp, token: &str, staff: &str) -> String {
    let page: Value = app
        .get("/role-grants?status=pending", token)
        .await
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["staffId"] == staff)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn roles_of(app: &TestApp, admin: &str, staff: &str) -> Value {
    app.get(&format!("/staff/{staff}"), admin)
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_administrator_cannot_give_itself_a_shelter_role() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let me = roles_of(&app, &admin.token, &admin.id.to_string()).await;
    let etag = format!("\"{}\"", me["version"]);
    for role in ["shelter_coordinator", "shelter_caseworker"] {
        let resp = app
            .request(
                Method::PATCH,
                &format!("/staff/{}", admin.id),
                Some(&admin.token),
            )
            .header("if-match", &etag)
            .json(&json!({"roles": ["admin", role]}))
            .send()
            .await
            .unwrap();
        let body = problem(resp, 403).await;
        assert_eq!(body["type"], "urn:casedesk:problem:self-grant");
    }
    let me = roles_of(&app, &admin.token, &admin.id.to_string()).await;
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["pendingRoles"], json!([]));
    // and nothing of Shelter City opens to it
    problem(app.get("/defenders", &admin.token).await, 404).await;
}

#[tokio::test]
async fn a_shelter_role_waits_for_a_second_person_who_is_not_a_puppet() {
    let app = TestApp::spawn().await;
    let a = app.account(&[Role::Admin]).await;
    // A asks for a caseworker account
    let (worker, worker_token) = made_by(&app, &a.token, &["shelter_caseworker", "analyst"]).await;
    let account = roles_of(&app, &a.token, &worker).await;
    assert_eq!(account["roles"], json!(["analyst"]));
    assert_eq!(account["pendingRoles"], json!(["shelter_caseworker"]));
    problem(app.get("/stays", &worker_token).await, 404).await;
    let grant = pending_grant(&app, &a.token, &worker).await;
    let approve = |token: String| {
        let path = format!("/role-grants/{grant}/approval");
        let app = &app;
        async move { app.post(&path, Some(&token), json!({})).await }
    };

    // not A itself, not the account, not A's puppets (B made by A, D made by B)
    let (_, b) = made_by(&app, &a.token, &["admin"]).await;
    let (_, d) = made_by(&app, &b, &["admin"]).await;
    for token in [a.token.clone(), worker_token.clone(), b.clone(), d.clone()] {
        let resp = approve(token).await;
        let status = resp.status();
        assert!(
            matches!(status, StatusCode::FORBIDDEN),
            "refused as not a second person: {status}"
        );
    }
    // a password reset by A makes an independent admin one of A's as well
    let c = app.account(&[Role::Admin]).await;
    let resp = app
        .post(
            &format!("/staff/{}/password-resets", c.id),
            Some(&a.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    app.enrol(&c.email, "another long passphrase 9").await;
    app.clock.advance(chrono::TimeDelta::seconds(30));
    let code = app.totp_code(c.totp_secret.as_ref().unwrap());
    let resp = app
        .login_response(&c.email, "another long passphrase 9", Some(&code))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let c_token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = problem(approve(c_token).await, 403).await;
    assert_eq!(body["type"], "urn:casedesk:problem:four-eyes");
    assert_eq!(
        roles_of(&app, &a.token, &worker).await["pendingRoles"],
        json!(["shelter_caseworker"])
    );
    let independent = app.account(&[Role::Admin]).await;

    // a shelter coordinator of its own standing approves: in effect at once
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let resp = approve(coordinator.token.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let decided: Value = resp.json().await.unwrap();
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decidedBy"], coordinator.id.to_string());
    let account = roles_of(&app, &a.token, &worker).await;
    assert_eq!(account["roles"], json!(["shelter_caseworker", "analyst"]));
    assert_eq!(account["pendingRoles"], json!([]));
    assert_eq!(
        app.get("/stays", &worker_token).await.status(),
        StatusCode::OK
    );
    // decided once
    problem(approve(independent.token.clone()).await, 409).await;
    let rows = app.audit_rows().await;
    for action in ["staff.role_requested", "staff.role_granted"] {
        assert!(rows
            .iter()
            .any(|e| e.action == action && e.resource_id.as_deref() == Some(worker.as_str())));
    }
}

#[tokio::test]
async fn a_grant_can_be_rejected_or_withdrawn_and_removals_apply_at_once() {
    let app = TestApp::spawn().await;
    let a = app.account(&[Role::Admin]).await;
    let other = app.account(&[Role::Admin]).await;
    let (worker, _) = made_by(&app, &a.token, &["shelter_coordinator"]).await;
    let grant = pending_grant(&app, &a.token, &worker).await;
    let resp = app
        .post(
            &format!("/role-grants/{grant}/rejection"),
            Some(&other.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let account = roles_of(&app, &a.token, &worker).await;
    assert_eq!(account["roles"], json!([]));
    assert_eq!(account["pendingRoles"], json!([]));
    // asked again and withdrawn by leaving it out
    let etag = format!("\"{}\"", account["version"]);
    let resp = app
        .request(Method::PATCH, &format!("/staff/{worker}"), Some(&a.token))
        .header("if-match", &etag)
        .json(&json!({"roles": ["shelter_caseworker"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let after: Value = resp.json().await.unwrap();
    assert_eq!(after["pendingRoles"], json!(["shelter_caseworker"]));
    let resp = app
        .request(Method::PATCH, &format!("/staff/{worker}"), Some(&a.token))
        .header("if-match", format!("\"{}\"", after["version"]))
        .json(&json!({"roles": ["analyst"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let after: Value = resp.json().await.unwrap();
    assert_eq!(after["roles"], json!(["analyst"]));
    assert_eq!(after["pendingRoles"], json!([]));
    // a coordinator's role is removed at once, without a second person
    let held = app.account(&[Role::ShelterCaseworker]).await;
    let account = roles_of(&app, &a.token, &held.id.to_string()).await;
    let resp = app
        .request(
            Method::PATCH,
            &format!("/staff/{}", held.id),
            Some(&a.token),
        )
        .header("if-match", format!("\"{}\"", account["version"]))
        .json(&json!({"roles": ["analyst"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    problem(app.get("/stays", &held.token).await, 404).await;
}

/// Issue 32.1: admin A makes admin B; B asks `shelter_coordinator` for A; an
/// honest coordinator approved it and A read every defender. Asking through
/// an account one made is asking for oneself.
#[tokio::test]
async fn a_puppet_cannot_ask_a_role_for_its_maker() {
    let app = TestApp::spawn().await;
    let a = app.account(&[Role::Admin]).await;
    let (b, b_token) = made_by(&app, &a.token, &["admin"]).await;
    let (_, d_token) = made_by(&app, &b_token, &["admin"]).await;
    let me = roles_of(&app, &a.token, &a.id.to_string()).await;
    let etag = format!("\"{}\"", me["version"]);
    for token in [&b_token, &d_token] {
        for role in ["shelter_coordinator", "auditor", "records_officer"] {
            let resp = app
                .request(Method::PATCH, &format!("/staff/{}", a.id), Some(token))
                .header("if-match", &etag)
                .json(&json!({"roles": ["admin", role]}))
                .send()
                .await
                .unwrap();
            let body = problem(resp, 403).await;
            assert_eq!(body["type"], "urn:casedesk:problem:self-grant", "{role}");
        }
    }
    let me = roles_of(&app, &a.token, &a.id.to_string()).await;
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["pendingRoles"], json!([]));
    // an honest coordinator finds nothing to approve for A
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let page: Value = app
        .get("/role-grants?status=pending", &coordinator.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["staffId"] != a.id.to_string()));
    problem(app.get("/defenders", &a.token).await, 404).await;
    // B itself, made by A, still works for others: A may ask for B
    let resp = app
        .request(Method::PATCH, &format!("/staff/{b}"), Some(&a.token))
        .header(
            "if-match",
            format!("\"{}\"", roles_of(&app, &a.token, &b).await["version"]),
        )
        .json(&json!({"roles": ["admin", "auditor"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["pendingRoles"],
        json!(["auditor"])
    );
}

/// Issue 32.2: an administrator gave itself `auditor`, `records_officer` and
/// the exchange roles with no second person. Every role that reads personal
/// data or audit reasons or destroys records now waits for an independent
/// decider of that role; `admin` and `analyst` are given at once.
#[tokio::test]
async fn every_sensitive_role_needs_an_independent_decider() {
    let app = TestApp::spawn().await;
    let a = app.account(&[Role::Admin]).await;
    let me = roles_of(&app, &a.token, &a.id.to_string()).await;
    let etag = format!("\"{}\"", me["version"]);
    for role in [
        "auditor",
        "records_officer",
        "exchange_coordinator",
        "exchange_officer",
        "shelter_caseworker",
    ] {
        let resp = app
            .request(Method::PATCH, &format!("/staff/{}", a.id), Some(&a.token))
            .header("if-match", &etag)
            .json(&json!({"roles": ["admin", role]}))
            .send()
            .await
            .unwrap();
        let body = problem(resp, 403).await;
        assert_eq!(body["type"], "urn:casedesk:problem:self-grant", "{role}");
    }
    problem(app.get("/audit-events", &a.token).await, 403).await;
    // given to another account, each waits; admin and analyst do not
    let (x, _) = made_by(
        &app,
        &a.token,
        &["analyst", "auditor", "exchange_officer", "records_officer"],
    )
    .await;
    let account = roles_of(&app, &a.token, &x).await;
    assert_eq!(account["roles"], json!(["analyst"]));
    assert_eq!(
        account["pendingRoles"],
        json!(["exchange_officer", "auditor", "records_officer"])
    );
    let grant_of = |role: &'static str, token: String| {
        let app = &app;
        let x = x.clone();
        async move {
            let page: Value = app
                .get("/role-grants?status=pending", &token)
                .await
                .json()
                .await
                .unwrap();
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["staffId"] == x.as_str() && g["role"] == role)
                .map(|g| g["id"].as_str().unwrap().to_owned())
        }
    };
    let shelter = app.account(&[Role::ShelterCoordinator]).await;
    let exchange = app.account(&[Role::ExchangeCoordinator]).await;
    let other_admin = app.account(&[Role::Admin]).await;
    // a coordinator sees and decides only its programme's roles
    assert_eq!(grant_of("auditor", shelter.token.clone()).await, None);
    assert_eq!(grant_of("auditor", exchange.token.clone()).await, None);
    let auditor_grant = grant_of("auditor", a.token.clone()).await.unwrap();
    let officer_grant = grant_of("exchange_officer", exchange.token.clone())
        .await
        .unwrap();
    for token in [&shelter.token, &exchange.token] {
        let resp = app
            .post(
                &format!("/role-grants/{auditor_grant}/approval"),
                Some(token),
                json!({}),
            )
            .await;
        problem(resp, 404).await;
    }
    let resp = app
        .post(
            &format!("/role-grants/{officer_grant}/approval"),
            Some(&shelter.token),
            json!({}),
        )
        .await;
    problem(resp, 404).await;
    // the requester does not decide; an independent administrator does
    let resp = app
        .post(
            &format!("/role-grants/{auditor_grant}/approval"),
            Some(&a.token),
            json!({}),
        )
        .await;
    assert_eq!(
        problem(resp, 403).await["type"],
        "urn:casedesk:problem:four-eyes"
    );
    let resp = app
        .post(
            &format!("/role-grants/{auditor_grant}/approval"),
            Some(&other_admin.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app
        .post(
            &format!("/role-grants/{officer_grant}/approval"),
            Some(&exchange.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let account = roles_of(&app, &a.token, &x).await;
    assert_eq!(
        account["roles"],
        json!(["exchange_officer", "analyst", "auditor"])
    );
    assert_eq!(account["pendingRoles"], json!(["records_officer"]));
}

/// Issue 32.1: the admin who created an account was shown its one-time
/// password, so asking a role for that account was asking it for oneself.
/// Now nobody is shown a credential: an invitation code goes to the staff
/// member's own address, works once, and expires.
#[tokio::test]
async fn the_creator_of_an_account_never_sees_a_credential_of_it() {
    let app = TestApp::spawn().await;
    let a = app.account(&[Role::Admin]).await;
    let email = "new.colleague@casedesk.test";
    let resp = app
        .post(
            "/staff",
            Some(&a.token),
            json!({"email": email, "displayName": "New", "roles": ["analyst"]}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    // every string the creator was given fails as a password
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            Value::Object(o) => o.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut given = Vec::new();
    strings(&created, &mut given);
    for s in &given {
        // refused (after five, by the throttle as well)
        let status = app.login_response(email, s, None).await.status();
        assert!(
            matches!(
                status,
                StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
            ),
            "{s}: {status}"
        );
    }
    app.clock.advance(chrono::TimeDelta::minutes(16));
    // the code the staff member received works once
    let code = app.invitation_code(email);
    assert!(!given.contains(&code));
    assert!(code.len() >= 43);
    let enrol = |code: String, password: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/enrolments",
                None,
                json!({"code": code, "newPassword": password}),
            )
            .await
        }
    };
    // a weak password is refused and the code stays usable
    let body = problem(enrol(code.clone(), "password").await, 400).await;
    assert_eq!(body["invalidParams"][0]["name"], "newPassword");
    assert_eq!(
        enrol(code.clone(), "my own long passphrase").await.status(),
        StatusCode::NO_CONTENT
    );
    let body = problem(enrol(code.clone(), "another long passphrase").await, 400).await;
    assert_eq!(body["invalidParams"][0]["name"], "code");
    assert_eq!(
        app.login_response(email, "my own long passphrase", None)
            .await
            .status(),
        StatusCode::CREATED
    );
    // a reset sends a new one and ends the earlier; an old one expires
    let id = created["staff"]["id"].as_str().unwrap();
    let resp = app
        .post(
            &format!("/staff/{id}/password-resets"),
            Some(&a.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let first = app.invitation_code(email);
    let resp = app
        .post(
            &format!("/staff/{id}/password-resets"),
            Some(&a.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let second = app.invitation_code(email);
    assert_ne!(first, second);
    problem(enrol(first, "a third long passphrase").await, 400).await;
    app.clock.advance(chrono::TimeDelta::hours(73));
    problem(enrol(second, "a third long passphrase").await, 400).await;
    // without mail the server's operator hands one out
    let issued = casedesk::accounts::bootstrap::invite_from_cli(
        &app.state.db,
        &app.state.keys.audit,
        &app.clock,
        email,
        chrono::TimeDelta::hours(1),
    )
    .await
    .unwrap();
    assert_eq!(
        enrol(issued.code.to_string(), "a fourth long passphrase")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // wrong codes are anonymous refusals: counted, not one event each
    for _ in 0..50 {
        problem(
            enrol("no such code".to_owned(), "a fifth long passphrase").await,
            400,
        )
        .await;
    }
    let refused = app
        .audit_rows()
        .await
        .iter()
        .filter(|e| e.action == "enrolment.refused")
        .count();
    assert!(refused <= 2, "{refused}");
}
