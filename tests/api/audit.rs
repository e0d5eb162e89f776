//! The audit trail: what is recorded, the hash chain, tamper detection, and
//! that no secret reaches it.

use crate::common;

use casedesk::accounts::model::Role;
use common::{problem, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

/// A reason in Dutch: "coördinator" was a 400 ("must be visible ASCII
/// text"). Sent as RFC 8187 does for parameters, it is stored as written,
/// about a defender sealed under that defender's key like any other; a
/// malformed encoding or raw bytes are a 400 naming the header, and nothing
/// is read.
#[tokio::test]
async fn a_reason_in_dutch_is_sent_percent_encoded_and_stored_as_written() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let auditor = app.account(&[Role::Auditor]).await;
    let create_staff = |reason: &'static [u8], email: &str| {
        let value = reqwest::header::HeaderValue::from_bytes(reason).unwrap();
        app.request(Method::POST, "/staff", Some(&admin.token))
            .header("x-audit-reason", value)
            .json(&json!({"email": email, "displayName": "Nieuw", "roles": ["analyst"]}))
            .send()
    };
    let resp = create_staff(
        b"UTF-8''co%C3%B6rdinator%20vroeg%20om%20een%20account",
        "nieuw@casedesk.test",
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    for bad in [
        &b"UTF-8''co%C3rdinator"[..],
        b"co\xc3\xb6rdinator",
        b"UTF-8''%0Aforged",
    ] {
        let p = problem(create_staff(bad, "twee@casedesk.test").await.unwrap(), 400).await;
        assert_eq!(p["invalidParams"][0]["name"], "X-Audit-Reason", "{p}");
        assert!(
            !p.to_string().contains("rdinator"),
            "the reason is echoed: {p}"
        );
    }
    let events = app.audit_as(&auditor.token).await;
    let created: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "staff.created")
        .collect();
    assert_eq!(created.len(), 1, "a refused request created nobody");
    assert_eq!(created[0]["reason"], "coördinator vroeg om een account");
}

#[tokio::test]
async fn sign_ins_changes_and_denials_are_recorded_with_context() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let auditor = app.account(&[Role::Auditor]).await;

    app.login_response(&admin.email, "not the password at all", None)
        .await;
    app.login_response("ghost@casedesk.test", "not the password at all", None)
        .await;
    let resp = app
        .request(Method::POST, "/staff", Some(&admin.token))
        .header("x-request-id", "req-create-1")
        .header("x-audit-reason", "new colleague, ticket 42")
        .json(&json!({"email": "new@casedesk.test", "displayName": "New", "roles": ["analyst"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    let new_id = created["staff"]["id"].as_str().unwrap().to_owned();
    problem(app.get("/staff", &auditor.token).await, 403).await;
    problem(app.client.get(app.api("/staff")).send().await.unwrap(), 401).await;
    // an over-long reason is refused before anything happens
    let resp = app
        .request(Method::GET, "/staff", Some(&admin.token))
        .header("x-audit-reason", "x".repeat(501))
        .send()
        .await
        .unwrap();
    problem(resp, 400).await;

    let page: Value = app
        .get("/audit-events?limit=200", &auditor.token)
        .await
        .json()
        .await
        .unwrap();
    let events = page["items"].as_array().unwrap();
    let find = |action: &str| {
        events
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect::<Vec<_>>()
    };

    let created_events = find("staff.created");
    assert_eq!(created_events.len(), 1);
    let e = &created_events[0];
    assert_eq!(e["actorType"], "staff");
    assert_eq!(e["actorId"], admin.id.to_string());
    assert_eq!(e["resourceType"], "staff");
    assert_eq!(e["resourceId"], new_id);
    assert_eq!(e["outcome"], 201);
    assert_eq!(e["requestId"], "req-create-1");
    assert_eq!(e["reason"], "new colleague, ticket 42");
    assert_eq!(e["clientIp"], "127.0.0.1");
    assert_eq!(e["changedFields"], json!(["email", "displayName", "roles"]));
    assert!(e["occurredAt"].as_str().unwrap().ends_with('Z'));

    assert_eq!(find("login.failed.wrong_password").len(), 1);
    assert_eq!(find("login.failed.unknown_account").len(), 1);
    assert!(find("login.succeeded").len() >= 2);
    let denied = find("access.denied");
    assert!(denied
        .iter()
        .any(|e| e["outcome"] == 403 && e["actorId"] == auditor.id.to_string()));
    assert!(denied
        .iter()
        .any(|e| e["outcome"] == 401 && e["actorId"].is_null()));

    // filters
    let only: Value = app
        .get(
            &format!("/audit-events?actorId={}&action=staff.created", admin.id),
            &auditor.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    let by_resource: Value = app
        .get(
            &format!("/audit-events?resourceType=staff&resourceId={new_id}"),
            &auditor.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_resource["items"].as_array().unwrap().len(), 1);
    let future = (app.clock.now_plus_days(1)).replace('+', "%2B");
    let none: Value = app
        .get(
            &format!("/audit-events?occurredFrom={future}"),
            &auditor.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    // newest first, paginated by cursor without gaps
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/audit-events?limit=3&cursor={c}"),
            None => "/audit-events?limit=3".to_owned(),
        };
        let page: Value = app.get(&path, &auditor.token).await.json().await.unwrap();
        for e in page["items"].as_array().unwrap() {
            seen.push(e["seq"].as_i64().unwrap());
        }
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        if seen.len() > 500 {
            panic!("pagination does not end");
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "strictly newest first, no duplicates");
}

trait ClockText {
    fn now_plus_days(&self, days: i64) -> String;
}

impl ClockText for casedesk::clock::ManualClock {
    fn now_plus_days(&self, days: i64) -> String {
        use casedesk::clock::Clock;
        (self.now() + chrono::TimeDelta::days(days)).to_rfc3339()
    }
}

#[tokio::test]
async fn the_chain_verifies_and_an_altered_event_is_reported() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let auditor = app.account(&[Role::Auditor]).await;
    for i in 0..5 {
        app.post("/staff", Some(&admin.token), json!({"email": format!("c{i}@casedesk.test"), "displayName": "C", "roles": ["analyst"]}))
            .await;
    }
    let v: Value = app
        .get("/audit-events/verification", &auditor.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["checked"].as_u64().unwrap() >= 9, "{v}");

    let rows = app.audit_rows().await;
    let victim = rows.iter().find(|e| e.action == "staff.created").unwrap();
    let db = &app.state.db;
    // the service's own connection cannot rewrite history
    let update = format!(
        "UPDATE audit_events SET outcome = 500 WHERE seq = {}",
        victim.seq
    );
    assert!(
        db.execute_unprepared(&update).await.is_err(),
        "UPDATE refused by trigger"
    );
    assert!(
        db.execute_unprepared("DELETE FROM audit_events")
            .await
            .is_err(),
        "DELETE refused by trigger"
    );

    // someone with the database itself can: the chain shows it
    if app.db.is_postgres() {
        db.execute_unprepared("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change")
            .await
            .unwrap();
    } else {
        db.execute_unprepared("DROP TRIGGER audit_events_no_update")
            .await
            .unwrap();
    }
    db.execute_unprepared(&update).await.unwrap();
    let v: Value = app
        .get("/audit-events/verification", &auditor.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["firstBrokenSeq"], victim.seq);
    assert_eq!(v["firstBrokenEventId"], victim.id.to_string());
}

#[tokio::test]
async fn chain_holds_under_concurrent_writers() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let auditor = app.account(&[Role::Auditor]).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = app.client.clone();
        let url = app.api("/staff");
        let token = admin.token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"email": format!("par{i}@casedesk.test"), "displayName": "P", "roles": ["analyst"]}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let v: Value = app
        .get("/audit-events/verification", &auditor.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let rows = app.audit_rows().await;
    for (i, e) in rows.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "no gaps or duplicates");
    }
}

#[tokio::test]
async fn no_password_token_or_totp_secret_reaches_the_audit_trail() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let officer = app.account(&[Role::Analyst]).await;
    let enrolment: Value = app
        .post("/staff/me/totp", Some(&officer.token), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret_text = enrolment["secret"].as_str().unwrap().to_owned();
    let secret = common::base32_decode(&secret_text);
    let code = app.totp_code(&secret);
    app.post(
        "/staff/me/totp/confirmation",
        Some(&officer.token),
        json!({"code": code}),
    )
    .await;
    app.login_response(&officer.email, PASSWORD, Some(&code))
        .await;
    let created: Value = app
        .post("/staff", Some(&admin.token), json!({"email": "secretive@casedesk.test", "displayName": "Private Name", "roles": ["analyst"]}))
        .await
        .json()
        .await
        .unwrap();
    assert!(created.get("oneTimePassword").is_none());
    // the invitation's code, and its use
    let otp = app.invitation_code("secretive@casedesk.test");
    app.enrol(
        "secretive@casedesk.test",
        "a passphrase of the staff member",
    )
    .await;

    let rows = app.audit_rows().await;
    let dump = format!("{rows:?}");
    for secret in [
        PASSWORD,
        &admin.token,
        &officer.token,
        &secret_text,
        &code,
        &otp,
        "a passphrase of the staff member",
        "secretive@casedesk.test",
        "Private Name",
        &officer.email,
    ] {
        assert!(
            !dump.contains(secret),
            "audit trail contains a secret or personal value: {secret:.12}…"
        );
    }
}

#[tokio::test]
async fn concurrent_reads_are_each_audited_before_they_are_answered_and_the_chain_holds() {
    let app = TestApp::spawn().await;
    let officer = app.account(&[Role::ExchangeOfficer]).await;
    let auditor = app.account(&[Role::Auditor]).await;
    let inst: Value = app
        .post("/institutions", Some(&app.account(&[Role::ExchangeCoordinator]).await.token), json!({"name": "ROC", "kind": "mbo_college", "country": "NL", "city": "Delft", "sisterCity": false}))
        .await
        .json()
        .await
        .unwrap();
    let person: Value = app
        .post("/participants", Some(&officer.token), json!({"givenName": "A", "familyName": "B", "dateOfBirth": "2007-01-01", "email": "a@student.example.nl", "educationLevel": "hbo", "homeInstitutionId": inst["id"], "fieldOfStudy": "Law", "nationality": "NL", "fewerOpportunities": false}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/participants/{}", person["id"].as_str().unwrap());
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..48 {
        let (app, path, token) = (app.clone(), path.clone(), officer.token.clone());
        tasks.push(tokio::spawn(async move {
            let resp = app.get(&path, &token).await;
            assert_eq!(resp.status(), StatusCode::OK);
            let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
            // the read's event is committed by the time the answer arrives
            let rows = app.audit_rows().await;
            assert!(
                rows.iter()
                    .any(|e| e.action == "read"
                        && e.request_id.as_deref() == Some(request_id.as_str())),
                "no audit event for {request_id}"
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let reads = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|e| e.action == "read")
        .count();
    assert_eq!(reads, 48);
    let v: Value = app
        .get("/audit-events/verification", &auditor.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
}

/// 24,478 anonymous requests once made 24,478 events. Now the refusals of
/// one address are counted per interval: the first is written at once, the
/// rest become one event with the count when the interval ends. Reasons
/// sent by callers who are not signed in are never stored.
#[tokio::test]
async fn an_anonymous_flood_grows_the_trail_by_a_bounded_amount() {
    use futures_util::{stream, StreamExt};
    let app = TestApp::spawn().await;
    let auditor = app.account(&[Role::Auditor]).await;
    let before = app.audit_rows().await.len();
    let flood = 10_000;
    let statuses: Vec<StatusCode> = stream::iter(0..flood)
        .map(|i| {
            let client = app.client.clone();
            let url = app.api(if i % 2 == 0 {
                "/defenders"
            } else {
                "/staff/me"
            });
            async move {
                let mut rb = client
                    .get(url)
                    .header("x-audit-reason", "FLOOD-REASON-TEXT");
                if i % 3 == 0 {
                    rb = rb.bearer_auth("cds_not-a-real-token");
                }
                rb.send().await.unwrap().status()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    let during = app.audit_rows().await;
    let grown = during.len() - before;
    assert!(grown <= 2, "{grown} events for {flood} anonymous requests");

    // when the interval ends, the rest are on record as one counted event
    app.clock.advance(chrono::TimeDelta::seconds(61));
    let mut counted = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let rows = app.audit_rows().await;
        if let Some(e) = rows.iter().find(|e| e.occurrences.is_some()) {
            counted = Some((e.clone(), rows.len() - before));
            break;
        }
    }
    let (event, grown) = counted.expect("the counted refusals are written");
    assert_eq!(event.action, "access.denied");
    assert_eq!(event.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(event.occurrences, Some(flood - 1));
    assert!(grown <= 3, "{grown} events in all");
    // the auditor sees the count, and no reason of an anonymous caller was kept
    let seen = app.audit_as(&auditor.token).await;
    assert!(seen
        .iter()
        .any(|e| e["occurrences"] == flood - 1 && e["action"] == "access.denied"));
    assert!(app
        .audit_rows()
        .await
        .iter()
        .filter(|e| e.actor_id.is_none())
        .all(|e| e.reason.is_none()));
    let v: Value = app
        .get("/audit-events/verification", &auditor.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
}
