//! Staff accounts, sign-in, sessions, throttling and the second factor.

use crate::common;

use std::time::{Duration, Instant};

use casedesk::accounts::{bootstrap, model::Role};
use chrono::TimeDelta;
use common::{problem, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn first_admin_must_change_its_password_before_anything_else() {
    let app = TestApp::spawn().await;
    let (email, password) = bootstrap::first_admin(
        &app.state.db,
        &app.state.keys.audit,
        &app.state.hasher,
        &app.clock,
        "first@casedesk.test",
    )
    .await
    .unwrap()
    .unwrap();
    // only once
    assert!(bootstrap::first_admin(
        &app.state.db,
        &app.state.keys.audit,
        &app.state.hasher,
        &app.clock,
        "again@casedesk.test"
    )
    .await
    .unwrap()
    .is_none());

    let resp = app.login_response(&email, &password, None).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let session: Value = resp.json().await.unwrap();
    assert_eq!(session["staff"]["mustChangePassword"], true);
    assert_eq!(session["staff"]["roles"], json!(["admin"]));
    let token = session["token"].as_str().unwrap();
    assert!(token.len() >= 40);

    let body = problem(app.get("/staff", token).await, 403).await;
    assert_eq!(
        body["type"],
        "urn:casedesk:problem:password-change-required"
    );
    // who am I still works
    assert_eq!(app.get("/staff/me", token).await.status(), StatusCode::OK);

    let change = |current: &str, new: &str| json!({"currentPassword": current, "newPassword": new});
    let put = |body: Value| {
        app.request(Method::PUT, "/staff/me/password", Some(token))
            .json(&body)
            .send()
    };
    let body = problem(
        put(change("wrong wrong wrong", "brand new passphrase 1"))
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_eq!(body["invalidParams"][0]["name"], "currentPassword");
    for weak in ["short", "password1234"] {
        let body = problem(put(change(&password, weak)).await.unwrap(), 400).await;
        assert_eq!(body["invalidParams"][0]["name"], "newPassword", "{weak}");
    }
    let body = problem(put(change(&password, &"x".repeat(129))).await.unwrap(), 400).await;
    assert_eq!(body["invalidParams"][0]["code"], "too_long");
    assert_eq!(
        put(change(&password, "brand new passphrase 1"))
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    // an administrator must enrol a second factor next, before anything else
    let body = problem(app.get("/staff", token).await, 403).await;
    assert_eq!(body["type"], "urn:casedesk:problem:mfa-enrolment-required");
    let enrolment: Value = app
        .post("/staff/me/totp", Some(token), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = common::base32_decode(enrolment["secret"].as_str().unwrap());
    let code = app.totp_code(&secret);
    let resp = app
        .post(
            "/staff/me/totp/confirmation",
            Some(token),
            json!({"code": code}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.get("/staff", token).await.status(), StatusCode::OK);
    // the old password no longer works, the new one does, with its code
    assert_eq!(
        app.login_response(&email, &password, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    problem(
        app.login_response(&email, "brand new passphrase 1", None)
            .await,
        401,
    )
    .await;
    app.clock.advance(chrono::TimeDelta::seconds(30));
    let code = app.totp_code(&secret);
    assert_eq!(
        app.login_response(&email, "brand new passphrase 1", Some(&code))
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer_after_the_same_work() {
    let app = TestApp::spawn().await;
    let account = app.account(&[Role::Analyst]).await;
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("instance");
        v
    };
    let wrong = problem(
        app.login_response(&account.email, "not the password at all", None)
            .await,
        401,
    )
    .await;
    let unknown = problem(
        app.login_response("nobody@casedesk.test", "not the password at all", None)
            .await,
        401,
    )
    .await;
    assert_eq!(strip(wrong), strip(unknown));

    // the same work: an unknown address is not answered markedly faster.
    // Samples alternate, so both see the same load from the tests beside
    // this one, and each side's fastest is compared: load only ever adds
    // time, while an answer that skipped the hash is fast every time.
    let other = app.account(&[Role::Analyst]).await;
    let mut fastest = [Duration::MAX; 2];
    for _ in 0..5 {
        for (i, email) in [other.email.as_str(), "someone-else@casedesk.test"]
            .into_iter()
            .enumerate()
        {
            let started = Instant::now();
            let resp = app
                .login_response(email, "not the password at all", None)
                .await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
            fastest[i] = fastest[i].min(started.elapsed());
        }
    }
    let [wrong, unknown] = fastest;
    assert!(
        unknown * 2 >= wrong,
        "unknown e-mail {unknown:?} vs wrong password {wrong:?}"
    );
}

#[tokio::test]
async fn five_failures_lock_the_account_for_fifteen_minutes_even_with_the_right_password() {
    let app = TestApp::spawn().await;
    let account = app.account(&[Role::Analyst]).await;
    for _ in 0..5 {
        let resp = app
            .login_response(&account.email, "not the password at all", None)
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = app.login_response(&account.email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = resp
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    problem(resp, 429).await;
    // the address in another case is the same account
    let resp = app
        .login_response(&account.email.to_uppercase(), PASSWORD, None)
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);

    app.clock.advance(TimeDelta::minutes(14));
    assert_eq!(
        app.login_response(&account.email, PASSWORD, None)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock
        .advance(TimeDelta::minutes(1) + TimeDelta::seconds(1));
    app.sign_in(&account).await;

    // a success resets the counter: four more failures do not lock
    for _ in 0..4 {
        app.login_response(&account.email, "not the password at all", None)
            .await;
    }
    app.sign_in(&account).await;
}

#[tokio::test]
async fn one_address_is_throttled_across_accounts() {
    let app = TestApp::spawn_with(|c| c.login_ip_failures = 6).await;
    let account = app.account(&[Role::Analyst]).await;
    for i in 0..6 {
        let resp = app
            .login_response(
                &format!("guess{i}@casedesk.test"),
                "not the password at all",
                None,
            )
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = app.login_response(&account.email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn tokens_expire_when_idle_after_twelve_hours_at_logout_and_at_deactivation() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let user = app.account(&[Role::Analyst]).await;

    // idle
    let token = app.sign_in(&user).await;
    app.clock.advance(TimeDelta::minutes(29));
    assert_eq!(app.get("/staff/me", &token).await.status(), StatusCode::OK);
    app.clock.advance(TimeDelta::minutes(29));
    assert_eq!(
        app.get("/staff/me", &token).await.status(),
        StatusCode::OK,
        "use keeps it alive"
    );
    app.clock.advance(TimeDelta::minutes(31));
    let body = problem(app.get("/staff/me", &token).await, 401).await;
    assert_eq!(body["type"], "urn:casedesk:problem:unauthenticated");

    // absolute
    let token = app.sign_in(&user).await;
    for _ in 0..(12 * 3 - 1) {
        app.clock.advance(TimeDelta::minutes(20));
        assert_eq!(app.get("/staff/me", &token).await.status(), StatusCode::OK);
    }
    app.clock.advance(TimeDelta::minutes(20));
    problem(app.get("/staff/me", &token).await, 401).await;

    // logout
    let admin_token = app.sign_in(&admin).await;
    let token = app.sign_in(&user).await;
    let resp = app
        .request(Method::DELETE, "/sessions/current", Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    problem(app.get("/staff/me", &token).await, 401).await;

    // deactivation kills every live session at once
    let token = app.sign_in(&user).await;
    let second = app.sign_in(&user).await;
    let resp = app.get(&format!("/staff/{}", user.id), &admin_token).await;
    let etag = resp
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let resp = app
        .request(
            Method::PATCH,
            &format!("/staff/{}", user.id),
            Some(&admin_token),
        )
        .header("if-match", etag)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    problem(app.get("/staff/me", &token).await, 401).await;
    problem(app.get("/staff/me", &second).await, 401).await;
    problem(app.login_response(&user.email, PASSWORD, None).await, 401).await;

    // garbage tokens
    for bad in ["", "cds_nope", &"x".repeat(5000)] {
        let resp = app
            .client
            .get(app.api("/staff/me"))
            .header("authorization", format!("Bearer {bad}"))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:.20}");
        assert_eq!(
            resp.headers().get("www-authenticate").unwrap(),
            "Bearer realm=\"casedesk\""
        );
    }
}

#[tokio::test]
async fn staff_accounts_are_managed_by_admins() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let t = admin.token.as_str();

    let resp = app
        .post("/staff", Some(t), json!({"email": "Casey@Example.org", "displayName": "Casey", "roles": ["exchange_officer", "analyst"]}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = resp
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let created: Value = resp.json().await.unwrap();
    let id = created["staff"]["id"].as_str().unwrap().to_owned();
    assert_eq!(location, app.api(&format!("/staff/{id}")));
    // a role that reaches personal data waits for a second person
    assert_eq!(created["staff"]["roles"], json!(["analyst"]));
    assert_eq!(
        created["staff"]["pendingRoles"],
        json!(["exchange_officer"])
    );
    // no credential for its creator: an invitation went to Casey alone
    assert!(created.get("oneTimePassword").is_none(), "{created}");
    assert_eq!(created["invitation"]["delivery"], "sent");
    assert!(created["invitation"]["expiresAt"].is_string());
    assert!(created["staff"]["createdAt"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    // unique case-insensitively
    let resp = app
        .post(
            "/staff",
            Some(t),
            json!({"email": "casey@EXAMPLE.org", "displayName": "Other", "roles": ["analyst"]}),
        )
        .await;
    problem(resp, 409).await;
    // invalid input, all reported
    let body = problem(
        app.post(
            "/staff",
            Some(t),
            json!({"email": "not an address", "displayName": "  ", "roles": ["king"]}),
        )
        .await,
        400,
    )
    .await;
    assert!(!body["invalidParams"].as_array().unwrap().is_empty());
    let body = problem(
        app.post(
            "/staff",
            Some(t),
            json!({"email": "x@y.org", "displayName": "\u{7}", "roles": []}),
        )
        .await,
        400,
    )
    .await;
    assert!(
        body["invalidParams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "roles"),
        "{body}"
    );

    // list, filters, pagination
    for i in 0..3 {
        app.post(
            "/staff",
            Some(t),
            json!({"email": format!("p{i}@example.org"), "displayName": "P", "roles": ["analyst"]}),
        )
        .await;
    }
    let page: Value = app
        .get("/staff?role=analyst", t)
        .await
        .json()
        .await
        .unwrap();
    // the three and Casey
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    assert!(page["next"].is_null());
    let resp = app.get("/staff?role=analyst&limit=2", t).await;
    let link = resp
        .headers()
        .get("link")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let page: Value = resp.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap();
    assert!(
        link.contains("role=analyst")
            && link.contains(&format!("cursor={next}"))
            && link.ends_with("rel=\"next\""),
        "{link}"
    );
    let rest: Value = app
        .get(&format!("/staff?role=analyst&limit=2&cursor={next}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
    assert!(rest["next"].is_null());
    let active: Value = app
        .get("/staff?active=false", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active["items"].as_array().unwrap().len(), 0);

    // show with ETag; update needs If-Match
    let resp = app.get(&format!("/staff/{id}"), t).await;
    assert_eq!(resp.headers().get("etag").unwrap(), "\"1\"");
    let patch = |if_match: Option<&str>, body: Value| {
        let mut rb = app
            .request(Method::PATCH, &format!("/staff/{id}"), Some(t))
            .json(&body);
        if let Some(m) = if_match {
            rb = rb.header("if-match", m);
        }
        rb.send()
    };
    problem(
        patch(None, json!({"displayName": "Casey B."}))
            .await
            .unwrap(),
        428,
    )
    .await;
    problem(
        patch(Some("\"7\""), json!({"displayName": "Casey B."}))
            .await
            .unwrap(),
        412,
    )
    .await;
    let resp = patch(
        Some("\"1\""),
        json!({"displayName": "Casey B.", "roles": ["exchange_coordinator"]}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("etag").unwrap(), "\"2\"");
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["displayName"], "Casey B.");
    assert_eq!(updated["roles"], json!([]));
    assert_eq!(updated["pendingRoles"], json!(["exchange_coordinator"]));
    // the same If-Match again is stale; nothing is written
    problem(
        patch(Some("\"1\""), json!({"displayName": "Lost update"}))
            .await
            .unwrap(),
        412,
    )
    .await;
    let now: Value = app
        .get(&format!("/staff/{id}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["displayName"], "Casey B.");
    problem(
        app.get(&format!("/staff/{}", uuid::Uuid::now_v7()), t)
            .await,
        404,
    )
    .await;

    // password reset: the old password stops, sessions end, a new invitation
    app.enrol("casey@example.org", "Casey's own passphrase 1")
        .await;
    let user_token = app
        .login("casey@example.org", "Casey's own passphrase 1")
        .await;
    let resp = app
        .post(&format!("/staff/{id}/password-resets"), Some(t), json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let reset: Value = resp.json().await.unwrap();
    assert!(reset.get("oneTimePassword").is_none(), "{reset}");
    assert_eq!(reset["invitation"]["delivery"], "sent");
    problem(app.get("/staff/me", &user_token).await, 401).await;
    let resp = app
        .login_response("casey@example.org", "Casey's own passphrase 1", None)
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    app.enrol("casey@example.org", "Casey's second passphrase")
        .await;
    let resp = app
        .login_response("casey@example.org", "Casey's second passphrase", None)
        .await;
    let session: Value = resp.json().await.unwrap();
    assert_eq!(session["staff"]["mustChangePassword"], false);
}

#[tokio::test]
async fn admins_keep_their_own_admin_role_and_the_last_admin_stays() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let t = admin.token.as_str();
    let etag_of = |id: uuid::Uuid| {
        let app = &app;
        async move {
            app.get(&format!("/staff/{id}"), t)
                .await
                .headers()
                .get("etag")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let patch = |id: uuid::Uuid, etag: String, body: Value| {
        app.request(Method::PATCH, &format!("/staff/{id}"), Some(t))
            .header("if-match", etag)
            .json(&body)
            .send()
    };
    let body = problem(
        patch(
            admin.id,
            etag_of(admin.id).await,
            json!({"roles": ["analyst"]}),
        )
        .await
        .unwrap(),
        409,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("own admin role"));
    problem(
        patch(admin.id, etag_of(admin.id).await, json!({"active": false}))
            .await
            .unwrap(),
        409,
    )
    .await;

    // another admin can be demoted while one remains; the last one cannot be deactivated
    let other = app.account(&[Role::Admin, Role::Auditor]).await;
    let resp = patch(
        other.id,
        etag_of(other.id).await,
        json!({"roles": ["auditor"]}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // `other` holds no admin role now; make it admin again and try to remove `admin` through it
    let resp = patch(
        other.id,
        etag_of(other.id).await,
        json!({"roles": ["admin"]}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let other_token = app.sign_in(&other).await;
    let resp = app
        .request(
            Method::PATCH,
            &format!("/staff/{}", admin.id),
            Some(&other_token),
        )
        .header("if-match", etag_of(admin.id).await)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "two admins: one may go");
    let resp = app
        .request(
            Method::GET,
            &format!("/staff/{}", other.id),
            Some(&other_token),
        )
        .send()
        .await
        .unwrap();
    let etag = resp
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let resp = app
        .request(
            Method::PATCH,
            &format!("/staff/{}", other.id),
            Some(&other_token),
        )
        .header("if-match", etag)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    problem(resp, 409).await;
}

#[tokio::test]
async fn totp_enrolment_login_single_use_and_removal() {
    let app = TestApp::spawn().await;
    // a role that does not require a second factor, so that it enrols by choice
    let user = app.account(&[Role::Analyst]).await;
    let t = user.token.as_str();
    let resp = app.post("/staff/me/totp", Some(t), json!({})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let enrolment: Value = resp.json().await.unwrap();
    assert!(enrolment["otpauthUri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/Casedesk:"));
    let secret = common::base32_decode(enrolment["secret"].as_str().unwrap());

    // not yet active: sign-in needs no code
    app.sign_in(&user).await;
    problem(
        app.post(
            "/staff/me/totp/confirmation",
            Some(t),
            json!({"code": "000000"}),
        )
        .await,
        400,
    )
    .await;
    let code = app.totp_code(&secret);
    let resp = app
        .post(
            "/staff/me/totp/confirmation",
            Some(t),
            json!({"code": code}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["totpEnabled"], true);

    // now the code is required, and each code works once
    // a correct password without its code is told apart from a wrong one by nothing
    let missing = problem(app.login_response(&user.email, PASSWORD, None).await, 401).await;
    let wrong = problem(
        app.login_response(&user.email, "not the password at all", None)
            .await,
        401,
    )
    .await;
    for key in ["type", "title", "detail", "status"] {
        assert_eq!(missing[key], wrong[key], "{key}");
    }
    assert_eq!(missing["type"], "urn:casedesk:problem:invalid-credentials");
    problem(
        app.login_response(&user.email, PASSWORD, Some(&code)).await,
        401,
    )
    .await;
    app.clock.advance(TimeDelta::seconds(30));
    let code = app.totp_code(&secret);
    assert_eq!(
        app.login_response(&user.email, PASSWORD, Some(&code))
            .await
            .status(),
        StatusCode::CREATED
    );
    problem(
        app.login_response(&user.email, PASSWORD, Some(&code)).await,
        401,
    )
    .await;
    problem(
        app.login_response(&user.email, PASSWORD, Some("123456"))
            .await,
        401,
    )
    .await;

    // removal needs password and a fresh code
    app.clock.advance(TimeDelta::seconds(30));
    let code = app.totp_code(&secret);
    let resp = app
        .post(
            "/staff/me/totp/deactivation",
            Some(t),
            json!({"password": "wrong wrong wrong", "code": code}),
        )
        .await;
    problem(resp, 400).await;
    let resp = app
        .post(
            "/staff/me/totp/deactivation",
            Some(t),
            json!({"password": PASSWORD, "code": code}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    app.sign_in(&user).await;
}

#[tokio::test]
async fn shelter_roles_must_enrol_a_second_factor_before_anything_else() {
    let app = TestApp::spawn().await;
    let email = "coordinator@casedesk.test";
    bootstrap::create_from_cli(
        &app.state.db,
        &app.state.keys.audit,
        &app.state.hasher,
        &app.clock,
        email,
        "C",
        &[Role::ShelterCoordinator],
        PASSWORD,
    )
    .await
    .unwrap();
    let token = app.login(email, PASSWORD).await;
    let body = problem(app.get("/audit-events", &token).await, 403).await;
    assert_eq!(body["type"], "urn:casedesk:problem:mfa-enrolment-required");
    assert_eq!(app.get("/staff/me", &token).await.status(), StatusCode::OK);
    let enrolment: Value = app
        .post("/staff/me/totp", Some(&token), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = common::base32_decode(enrolment["secret"].as_str().unwrap());
    let code = app.totp_code(&secret);
    assert_eq!(
        app.post(
            "/staff/me/totp/confirmation",
            Some(&token),
            json!({"code": code})
        )
        .await
        .status(),
        StatusCode::OK
    );
    // enrolled: the gate opens (the role still decides: auditor-only route is 403 "forbidden")
    let body = problem(app.get("/audit-events", &token).await, 403).await;
    assert_eq!(body["type"], "urn:casedesk:problem:forbidden");

    // the requirement follows configuration: with none required there is no gate
    let app = TestApp::spawn_with(|c| c.mfa_required_roles = Some(vec![])).await;
    bootstrap::create_from_cli(
        &app.state.db,
        &app.state.keys.audit,
        &app.state.hasher,
        &app.clock,
        email,
        "C",
        &[Role::ShelterCoordinator],
        PASSWORD,
    )
    .await
    .unwrap();
    let token = app.login(email, PASSWORD).await;
    let body = problem(app.get("/audit-events", &token).await, 403).await;
    assert_eq!(body["type"], "urn:casedesk:problem:forbidden");
}

#[tokio::test]
async fn stored_passwords_are_argon2id_phc_strings_and_tokens_only_hashes() {
    use sea_orm::EntityTrait;
    let app = TestApp::spawn().await;
    let user = app.account(&[Role::Analyst]).await;
    let rows = casedesk::entities::staff::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    for row in &rows {
        assert!(
            row.password_hash
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            row.password_hash
        );
        assert!(!row.password_hash.contains(PASSWORD));
    }
    let sessions = casedesk::entities::sessions::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(!sessions.is_empty());
    for s in sessions {
        assert_eq!(s.token_hash.len(), 64);
        assert_ne!(s.token_hash, user.token);
        assert_eq!(
            s.token_hash,
            casedesk::crypto::sha256_hex(user.token.as_bytes())
        );
    }
}

/// Sessions per account were unlimited and ended ones were never removed.
#[tokio::test]
async fn sessions_per_account_are_bounded_and_ended_ones_removed() {
    use casedesk::clock::Clock;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let app = TestApp::spawn_with(|c| c.sessions_per_account = 3).await;
    let user = app.account(&[Role::Analyst]).await;
    let count = |id: uuid::Uuid| {
        let db = app.state.db.clone();
        async move {
            casedesk::entities::sessions::Entity::find()
                .filter(casedesk::entities::sessions::Column::StaffId.eq(id))
                .count(&db)
                .await
                .unwrap()
        }
    };
    let mut tokens = vec![user.token.clone()];
    for _ in 0..4 {
        tokens.push(app.login(&user.email, PASSWORD).await);
    }
    assert_eq!(count(user.id).await, 3);
    // the newest three work, the older ones were ended
    for (i, t) in tokens.iter().enumerate() {
        let status = app.get("/staff/me", t).await.status();
        let expected = if i >= 2 {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "session {i}");
    }
    // sessions that ended by time: the account's own at its next sign-in,
    // everyone's at the next housekeeping sweep (not in anyone's sign-in)
    let other = app.account(&[Role::Analyst]).await;
    app.clock.advance(TimeDelta::hours(13));
    app.login(&other.email, PASSWORD).await;
    assert_eq!(count(other.id).await, 1);
    assert_eq!(count(user.id).await, 3, "left to housekeeping");
    let swept = casedesk::housekeeping::sweep(&app.state.db, app.clock.now(), &app.state.config)
        .await
        .unwrap();
    assert_eq!(swept.sessions, 3);
    assert_eq!(count(user.id).await, 0);
    assert_eq!(count(other.id).await, 1);
}
