//! Sign-in throttling as attackers test it: parallel guesses that race the
//! lock, a correct password used as an oracle, bursts that fill the hashing
//! queue, IPv6 hosts with a whole /64, forged `X-Forwarded-For`, and the
//! targeted lock-out of a known account.

use crate::common;

use casedesk::accounts::model::Role;
use common::{problem, TestApp, PASSWORD};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The service behind a proxy on loopback: `X-Forwarded-For` names the client.
async fn behind_proxy(adjust: impl FnOnce(&mut casedesk::config::Config)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()];
        adjust(c);
    })
    .await
}

async fn sign_in(
    app: &TestApp,
    from: &str,
    email: &str,
    password: &str,
    totp: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({"email": email, "password": password});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    app.client
        .post(app.api("/sessions"))
        .header("x-forwarded-for", from)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Audit events of failed sign-ins (every kind), and of throttled ones.
async fn failures_and_throttles(app: &TestApp) -> (usize, usize) {
    let rows = app.audit_rows().await;
    (
        rows.iter()
            .filter(|e| e.action.starts_with("login.failed"))
            .count(),
        rows.iter()
            .filter(|e| e.action == "login.throttled")
            .count(),
    )
}

#[tokio::test]
async fn parallel_guesses_cannot_race_past_the_lock() {
    let app = TestApp::spawn_with(|c| {
        c.login_ip_failures = 10_000;
        c.password_hash_queue = 1_000;
    })
    .await;
    let account = app.account(&[Role::Analyst]).await;
    let guesses = (0..60).map(|i| {
        let app = &app;
        let email = account.email.clone();
        async move {
            app.login_response(&email, &format!("wrong guess number {i}"), None)
                .await
                .status()
        }
    });
    let statuses = join_all(guesses).await;
    let verified = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(verified + refused, 60, "{statuses:?}");
    assert_eq!(
        verified, 5,
        "only five guesses are ever checked: {statuses:?}"
    );
    let (failed, throttled) = failures_and_throttles(&app).await;
    assert_eq!(failed, 5);
    // the 55 throttled ones are one event now, the rest counted when the
    // interval ends (a_flood_of_throttled_sign_ins_writes_a_bounded_number_of_events)
    assert_eq!(throttled, 1);
    // and the right password now is refused too
    let resp = app.login_response(&account.email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // the IETF RateLimit fields: the policy, the limit reached and when it lifts
    let h = resp.headers();
    assert_eq!(h["ratelimit-policy"], "\"failed-sign-ins\";q=5;w=900");
    let retry = h["retry-after"].to_str().unwrap();
    assert!(retry.parse::<u64>().unwrap() >= 1);
    assert_eq!(
        h["ratelimit"].to_str().unwrap(),
        format!("\"failed-sign-ins\";r=0;t={retry}")
    );
}

#[tokio::test]
async fn parallel_one_time_codes_cannot_race_past_the_lock() {
    let app = TestApp::spawn_with(|c| {
        c.login_ip_failures = 10_000;
        c.password_hash_queue = 1_000;
    })
    .await;
    // the attacker knows the password and guesses codes
    let account = app.account(&[Role::ShelterCaseworker]).await;
    assert!(account.totp_secret.is_some());
    let real = app.totp_code(account.totp_secret.as_ref().unwrap());
    let guesses = (0..200).map(|i| {
        let app = &app;
        let email = account.email.clone();
        let code = format!("{:06}", (i * 4999 + 17) % 1_000_000);
        let code = if code == real {
            "000000".to_owned()
        } else {
            code
        };
        async move {
            app.login_response(&email, PASSWORD, Some(&code))
                .await
                .status()
        }
    });
    let statuses = join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| matches!(*s, StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS)));
}

#[tokio::test]
async fn wrong_password_missing_code_and_wrong_code_are_one_answer_each_audited_and_counted() {
    let app = TestApp::spawn().await;
    let account = app.account(&[Role::ShelterCoordinator]).await;
    let secret = account.totp_secret.clone().unwrap();
    let wrong_password = problem(
        app.login_response(&account.email, "not the password at all", None)
            .await,
        401,
    )
    .await;
    let missing_code = problem(
        app.login_response(&account.email, PASSWORD, None).await,
        401,
    )
    .await;
    let wrong_code = problem(
        app.login_response(&account.email, PASSWORD, Some("000000"))
            .await,
        401,
    )
    .await;
    for key in ["type", "title", "detail"] {
        assert_eq!(wrong_password[key], missing_code[key], "{key}");
        assert_eq!(wrong_password[key], wrong_code[key], "{key}");
    }
    let actions: Vec<String> = app
        .audit_rows()
        .await
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("login.failed"))
        .collect();
    assert_eq!(
        actions,
        [
            "login.failed.wrong_password",
            "login.failed.missing_totp",
            "login.failed.wrong_totp"
        ]
    );
    // each counted: two more of any kind lock this address out of the account
    for _ in 0..2 {
        problem(
            app.login_response(&account.email, PASSWORD, None).await,
            401,
        )
        .await;
    }
    let code = app.totp_code(&secret);
    problem(
        app.login_response(&account.email, PASSWORD, Some(&code))
            .await,
        429,
    )
    .await;
}

#[tokio::test]
async fn a_burst_of_sign_ins_is_refused_with_retry_after_instead_of_queued() {
    let app = behind_proxy(|c| {
        c.login_ip_failures = 10_000;
        c.password_hash_concurrency = 1;
        c.password_hash_queue = 4;
    })
    .await;
    let burst = (0..120).map(|i| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let resp = sign_in(
                app,
                &format!("198.51.100.{}", i % 250),
                &format!("nobody{i}@casedesk.test"),
                "not the password at all",
                None,
            )
            .await;
            let status = resp.status();
            let retry = resp.headers().get("retry-after").cloned();
            (status, retry, started.elapsed())
        }
    });
    let answers = join_all(burst).await;
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    let checked = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(busy.len() + checked, answers.len());
    assert!(!busy.is_empty(), "a burst over the queue is refused");
    assert!(checked >= 5, "{checked} checked");
    for (_, retry, took) in &busy {
        assert_eq!(retry.as_ref().unwrap(), "1");
        assert!(
            took.as_millis() < 2_000,
            "a refusal does not wait: {took:?}"
        );
    }
    let busy_events = app
        .audit_rows()
        .await
        .iter()
        .filter(|e| e.action == "login.busy")
        .count();
    assert!(busy_events >= 1);
    // and once the burst is over, an owner signs in at once
    let owner = app.account(&[Role::Analyst]).await;
    let resp = sign_in(&app, "203.0.113.9", &owner.email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn ipv6_addresses_are_counted_by_their_64() {
    let app = behind_proxy(|c| c.login_ip_failures = 5).await;
    let owner = app.account(&[Role::Analyst]).await;
    for i in 1..=5 {
        let resp = sign_in(
            &app,
            &format!("2001:db8:7:9::{i:x}"),
            &format!("guess{i}@casedesk.test"),
            "not the password at all",
            None,
        )
        .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // another address of the same /64 is throttled, for any account
    let resp = sign_in(&app, "2001:db8:7:9:abcd::1", &owner.email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // the next /64 is not
    let resp = sign_in(&app, "2001:db8:7:a::1", &owner.email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    // no trusted proxy: a forged header changes nothing, every guess is loopback's
    let app = TestApp::spawn_with(|c| c.login_ip_failures = 5).await;
    let owner = app.account(&[Role::Analyst]).await;
    for i in 1..=5 {
        sign_in(
            &app,
            &format!("192.0.2.{i}"),
            &format!("guess{i}@casedesk.test"),
            "nope nope nope",
            None,
        )
        .await;
    }
    let resp = sign_in(&app, "192.0.2.99", &owner.email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let rows = app.audit_rows().await;
    assert!(rows
        .iter()
        .filter(|e| e.action.starts_with("login."))
        .all(|e| e.client_ip.as_deref() == Some("127.0.0.1")));

    // behind a trusted proxy: the right-most address the proxy added counts,
    // not what the client wrote to the left of it
    let app = behind_proxy(|c| c.login_ip_failures = 5).await;
    let owner = app.account(&[Role::Analyst]).await;
    for i in 1..=5 {
        sign_in(
            &app,
            &format!("10.9.9.{i}, 192.0.2.50"),
            &format!("guess{i}@casedesk.test"),
            "nope nope nope",
            None,
        )
        .await;
    }
    let resp = sign_in(&app, "192.0.2.50", &owner.email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let resp = sign_in(&app, "192.0.2.51", &owner.email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let rows = app.audit_rows().await;
    assert!(rows
        .iter()
        .any(|e| e.action == "login.failed.unknown_account"
            && e.client_ip.as_deref() == Some("192.0.2.50")));
}

#[tokio::test]
async fn a_targeted_lock_out_does_not_keep_the_owner_out() {
    let app = behind_proxy(|c| c.login_account_failures = 20).await;
    // an account without a second factor: guessing from a few places locks
    // out only those places
    let analyst = app.account(&[Role::Analyst]).await;
    for from in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..5 {
            let resp = sign_in(&app, from, &analyst.email, "guess guess guess", None).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        }
        let resp = sign_in(&app, from, &analyst.email, PASSWORD, None).await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{from}");
    }
    let resp = sign_in(&app, "203.0.113.7", &analyst.email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::CREATED, "the owner from home");

    // an account with a second factor, guessed from many addresses up to the ceiling
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let secret = coordinator.totp_secret.clone().unwrap();
    let mut counted = 0;
    for host in 1..=10 {
        for _ in 0..5 {
            let resp = sign_in(
                &app,
                &format!("192.0.2.{host}"),
                &coordinator.email,
                "guess guess guess",
                None,
            )
            .await;
            if resp.status() == StatusCode::UNAUTHORIZED {
                counted += 1;
            }
        }
    }
    assert_eq!(
        counted, 20,
        "the ceiling caps guesses from everywhere together"
    );
    // the owner without a code is refused, and a wrong password with any code
    // is refused without the password being checked
    let home = "203.0.113.8";
    let resp = sign_in(&app, home, &coordinator.email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(chrono::TimeDelta::seconds(30));
    let resp = sign_in(
        &app,
        home,
        &coordinator.email,
        "guess guess guess",
        Some("123456"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // the owner with password and code gets in
    let code = app.totp_code(&secret);
    let resp = sign_in(&app, home, &coordinator.email, PASSWORD, Some(&code)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    assert!(body["token"].is_string());
    // and that cleared the ceiling
    app.clock.advance(chrono::TimeDelta::seconds(30));
    let code = app.totp_code(&secret);
    let resp = sign_in(
        &app,
        "203.0.113.99",
        &coordinator.email,
        PASSWORD,
        Some(&code),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

/// Issue 32.6: throttled sign-ins wrote one audit event each (2,000 in 2.2
/// s). They are anonymous refusals like others now: one event per address
/// and interval, with the count of the rest written when it ends.
#[tokio::test]
async fn a_flood_of_throttled_sign_ins_writes_a_bounded_number_of_events() {
    let app = behind_proxy(|_| {}).await;
    let analyst = app.account(&[Role::Analyst]).await;
    let from = "198.51.100.40";
    for _ in 0..5 {
        let resp = sign_in(&app, from, &analyst.email, "guess guess guess", None).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let before = app.audit_rows().await.len();
    for _ in 0..300 {
        let resp = sign_in(&app, from, &analyst.email, "guess guess guess", None).await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let rows = app.audit_rows().await;
    let throttled: Vec<_> = rows[before..]
        .iter()
        .filter(|e| e.action == "login.throttled")
        .collect();
    assert_eq!(throttled.len(), 1, "the first of the interval, at once");
    assert_eq!(rows.len() - before, 1, "and nothing else");
    // when the interval ends the rest are one event that counts them
    use casedesk::clock::Clock;
    app.clock
        .advance(app.state.config.audit_aggregate_interval + chrono::TimeDelta::seconds(1));
    app.state
        .refusals
        .flush(app.clock.now(), false)
        .await
        .unwrap();
    let rows = app.audit_rows().await;
    let counted: Vec<_> = rows[before..]
        .iter()
        .filter(|e| e.action == "login.throttled")
        .collect();
    assert_eq!(counted.len(), 2);
    assert_eq!(counted[1].occurrences, Some(299));
}

/// Issue 32.7: once the password was known, attempts that carried a code
/// passed the account's ceiling, so codes could be guessed from as many
/// addresses as one had. Codes are bounded per account across all addresses;
/// the owner's own addresses are not held by that bound.
#[tokio::test]
async fn one_time_codes_are_bounded_per_account_across_addresses() {
    let app = behind_proxy(|c| c.login_account_code_failures = 10).await;
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let secret = coordinator.totp_secret.clone().unwrap();
    // the owner signs in from home once: a known address
    let home = "203.0.113.20";
    app.clock.advance(chrono::TimeDelta::seconds(30));
    let code = app.totp_code(&secret);
    let resp = sign_in(&app, home, &coordinator.email, PASSWORD, Some(&code)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    // a guesser with the password, one code from each of many addresses
    let mut answered = Vec::new();
    for host in 1..=30 {
        let resp = sign_in(
            &app,
            &format!("192.0.2.{host}"),
            &coordinator.email,
            PASSWORD,
            Some("000000"),
        )
        .await;
        answered.push(resp.status().as_u16());
    }
    assert_eq!(
        answered.iter().filter(|s| **s == 401).count(),
        10,
        "{answered:?}"
    );
    assert!(answered[10..].iter().all(|s| *s == 429), "{answered:?}");
    // from a new address even the right code waits
    app.clock.advance(chrono::TimeDelta::seconds(30));
    let code = app.totp_code(&secret);
    let resp = sign_in(
        &app,
        "198.51.100.77",
        &coordinator.email,
        PASSWORD,
        Some(&code),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // the owner at home gets in, and that gives the guesser no new tries
    let resp = sign_in(&app, home, &coordinator.email, PASSWORD, Some(&code)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = sign_in(
        &app,
        "192.0.2.99",
        &coordinator.email,
        PASSWORD,
        Some("000000"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // the bound ends with its window
    app.clock.advance(chrono::TimeDelta::minutes(16));
    let resp = sign_in(
        &app,
        "192.0.2.100",
        &coordinator.email,
        PASSWORD,
        Some("000000"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
