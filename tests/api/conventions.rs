//! The API conventions, through HTTP against the real app.

use crate::common;

use common::{problem, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("cache-control", "no-store"),
    ("content-security-policy", "frame-ancestors 'none'"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
];

fn assert_conventional_headers(resp: &reqwest::Response) {
    let h = resp.headers();
    assert_eq!(
        h.get("api-version").unwrap(),
        casedesk::http::API_VERSION,
        "{}",
        resp.url()
    );
    assert!(h.get("x-request-id").is_some());
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            h.get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{name} on {}",
            resp.url()
        );
    }
}

#[tokio::test]
async fn health_live_and_ready() {
    let app = TestApp::spawn().await;
    for path in ["/health/live", "/health/ready"] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_conventional_headers(&resp);
        let body: Value = resp.json().await.unwrap();
        assert!(body["status"].is_string());
        if path == "/health/ready" {
            // the audit appender's bounded queue, and that it runs
            assert_eq!(
                body["auditAppender"],
                json!({"running": true, "queued": 0, "capacity": casedesk::audit::QUEUE_CAPACITY, "restarts": 0}),
                "{body}"
            );
        }
    }
}

/// Without the audit appender no read of personal data can be recorded, so
/// the service is not ready: an appender whose task is gone (started on a
/// runtime that was then shut down) turns `/health/ready` into a 503, and an
/// audited read fails instead of being served unrecorded.
#[tokio::test]
async fn ready_is_503_when_the_audit_appender_is_gone() {
    use casedesk::{accounts::model::Role, audit::Appender};
    let (url, db) = common::fresh_database().await;
    let config = casedesk::config::Config::for_database(&url).unwrap();
    let clock = casedesk::clock::ManualClock::new(chrono::Utc::now());
    let mut state = casedesk::prepare(
        config,
        std::sync::Arc::new(clock.clone()) as std::sync::Arc<dyn casedesk::clock::Clock>,
    )
    .await
    .unwrap();
    let conn = state.db.clone();
    let dead = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let appender = rt.block_on(async {
            let a = Appender::start(conn);
            tokio::task::yield_now().await;
            a
        });
        rt.shutdown_background();
        appender
    })
    .join()
    .unwrap();
    assert!(!dead.status().running);
    let mut first = TestApp::serve(state.clone(), clock.clone(), db).await;
    let analyst = first.account(&[Role::Analyst]).await;
    first.stop().await;
    // the same service with the dead appender
    state.audit = dead;
    let app = TestApp::serve(state, clock, common::TestDb::Shared).await;
    let resp = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    // every 503 says when to come back
    assert_eq!(resp.headers()["retry-after"], "1");
    let body = problem(resp, 503).await;
    assert!(
        body["detail"].as_str().unwrap().contains("audit appender"),
        "{body}"
    );
    problem(app.get("/statistics/placements", &analyst.token).await, 500).await;
}

#[tokio::test]
async fn ready_is_503_problem_while_migrations_are_pending() {
    // A database that was never migrated: the app must say it is not ready.
    let (url, db) = common::fresh_database().await;
    if db.is_postgres() {
        // the PostgreSQL template is already migrated; drop the bookkeeping instead
        let conn = casedesk::db::connect(&url, 1).await.unwrap();
        use sea_orm::ConnectionTrait;
        conn.execute_unprepared("DELETE FROM seaql_migrations")
            .await
            .unwrap();
        conn.close().await.ok();
    }
    let config = casedesk::config::Config::for_database(&url).unwrap();
    let conn = casedesk::db::connect(&url, 2).await.unwrap();
    let clock = casedesk::clock::ManualClock::new(chrono::Utc::now());
    let appender = casedesk::audit::Appender::start(conn.clone());
    let audit_keys = casedesk::audit::AuditKeys::new(
        casedesk::audit::chain::ChainKey {
            key: casedesk::crypto::MasterKey::generate(),
            keyed_from: 1,
        },
        casedesk::crypto::SigningKey::generate(),
        casedesk::crypto::MasterKey::generate(),
    );
    let state = casedesk::AppState {
        second_factor_roles: std::sync::Arc::from([]),
        mailer: std::sync::Arc::new(casedesk::mail::Mailer::from_config(&config).unwrap()),
        instance: uuid::Uuid::now_v7(),
        refusals: casedesk::audit::Aggregator::new(
            appender.clone(),
            chrono::TimeDelta::seconds(60),
        ),
        audit: appender,
        db: conn,
        config: std::sync::Arc::new(config),
        clock: std::sync::Arc::new(clock.clone()),
        hasher: casedesk::accounts::password::Hasher::new(1, 0).unwrap(),
        keys: casedesk::keyring::Keys {
            master: casedesk::crypto::MasterKey::generate(),
            index: casedesk::crypto::MasterKey::generate(),
            audit: audit_keys,
            generation: String::new(),
        },
    };
    let app = TestApp::serve(state, clock, db).await;
    let resp = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    let body = problem(resp, 503).await;
    assert!(
        body["detail"].as_str().unwrap().contains("migrat"),
        "{body}"
    );
    let resp = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "live does not depend on the database"
    );
}

#[tokio::test]
async fn spec_is_served_with_cors_star_and_matches_the_committed_file() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .get(app.api("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers().get("access-control-allow-origin").unwrap(),
        "*"
    );
    assert_conventional_headers(&resp);
    let served: Value = resp.json().await.unwrap();
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        served, committed,
        "openapi/openapi.json is stale: run `cargo run -- openapi -o openapi/openapi.json`"
    );
    assert_eq!(served["info"]["version"], casedesk::http::API_VERSION);
    for key in ["name", "email", "url"] {
        assert!(served["info"]["contact"][key].is_string());
    }
    assert_eq!(served["servers"][0]["url"], "/api/v1");
}

#[tokio::test]
async fn spec_documents_headers_and_problems_on_every_response() {
    let doc = common::committed_spec();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            assert!(
                op["operationId"].is_string(),
                "{method} {path} has an operationId"
            );
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["headers"]["API-Version"].is_object(),
                    "{method} {path} {status}"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is problem+json"
                    );
                }
            }
            assert!(
                op["description"]
                    .as_str()
                    .unwrap_or("")
                    .contains("**Access:**"),
                "{method} {path} says who may call it"
            );
            // one tag each: a generator makes a module per tag, and an
            // operation under two is exported twice (TypeScript's TS2308)
            assert_eq!(
                op["tags"].as_array().map(Vec::len),
                Some(1),
                "{method} {path} has one tag"
            );
            // a public operation says so (`security: []`): linters and
            // generators read one without `security` as undocumented
            let security = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} says what security it needs, if none"));
            if !security.is_empty() {
                for status in ["401", "403"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{method} {path} documents {status}"
                    );
                }
            }
            let has_input = op.get("requestBody").is_some()
                || op["parameters"].as_array().is_some_and(|p| !p.is_empty());
            if has_input {
                assert!(
                    op["responses"]["400"].is_object(),
                    "{method} {path} documents 400"
                );
            }
        }
    }
    assert!(operations > 0);
    let text = doc.to_string();
    assert!(
        !text.contains("naive-date"),
        "dates use format date / date-time"
    );
}

#[tokio::test]
async fn docs_page_is_served() {
    let app = TestApp::spawn().await;
    let resp = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("SwaggerUIBundle"));
    assert!(
        html.contains("\"API-Version\""),
        "the completed spec is embedded"
    );
}

#[tokio::test]
async fn unknown_route_trailing_slash_and_wrong_method() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/nothing-here",
        "/api/v1/staff/",
        "/health/live/",
        "/api/v1/sessions/",
        "/",
    ] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_conventional_headers(&resp);
        let body = problem(resp, 404).await;
        assert!(body["instance"]
            .as_str()
            .unwrap()
            .starts_with("urn:casedesk:request:"));
    }
    let resp = app.client.put(app.api("/sessions")).send().await.unwrap();
    assert_conventional_headers(&resp);
    problem(resp, 405).await;
    let resp = app
        .client
        .post(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    problem(resp, 405).await;
}

#[tokio::test]
async fn malformed_json_is_400_problem() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .post(app.api("/sessions"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_conventional_headers(&resp);
    let body = problem(resp, 400).await;
    assert_eq!(body["invalidParams"][0]["code"], "malformed_json");
    assert_eq!(body["invalidParams"][0]["name"], "body");
}

#[tokio::test]
async fn failed_validation_lists_every_problem_at_once() {
    let app = TestApp::spawn().await;
    let resp = app
        .post(
            "/sessions",
            None,
            json!({"email": "x".repeat(300), "password": 12, "totp": "12345678901234567", "extra": true}),
        )
        .await;
    let body = problem(resp, 400).await;
    let mut found: Vec<(String, String)> = body["invalidParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("email".to_owned(), "too_long".to_owned()),
            ("extra".to_owned(), "unknown_field".to_owned()),
            ("password".to_owned(), "wrong_type".to_owned()),
            ("totp".to_owned(), "too_long".to_owned()),
        ],
        "{body}"
    );
    // missing fields are each reported
    let body = problem(app.post("/sessions", None, json!({})).await, 400).await;
    assert_eq!(body["invalidParams"].as_array().unwrap().len(), 2, "{body}");
    // a body that is not an object
    let body = problem(app.post("/sessions", None, json!([1, 2])).await, 400).await;
    assert_eq!(body["invalidParams"][0]["code"], "wrong_type");
}

#[tokio::test]
async fn oversized_bodies_are_413_with_or_without_a_length() {
    let app = TestApp::spawn().await;
    let big = format!("{{\"email\": \"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let resp = app
        .client
        .post(app.api("/sessions"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_conventional_headers(&resp);
    problem(resp, 413).await;

    // chunked: no Content-Length to trust
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let stream = futures_util::stream::iter(chunks);
    let resp = app
        .client
        .post(app.api("/sessions"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    problem(resp, 413).await;
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let app = TestApp::spawn().await;
    for ct in [Some("text/plain"), Some("application/xml"), None] {
        let mut rb = app
            .client
            .post(app.api("/sessions"))
            .body("{\"email\":\"a@b.nl\",\"password\":\"x\"}");
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        let resp = rb.send().await.unwrap();
        assert_conventional_headers(&resp);
        problem(resp, 415).await;
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "abc-123_x.y")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers().get("x-request-id").unwrap(), "abc-123_x.y");
    // an unacceptable id (too long, odd characters) is replaced
    let resp = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "a b<script>")
        .send()
        .await
        .unwrap();
    let id = resp
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let resp = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "trace-1")
        .send()
        .await
        .unwrap();
    let body = problem(resp, 404).await;
    assert_eq!(body["instance"], "urn:casedesk:request:trace-1");
}

#[tokio::test]
async fn cors_allows_only_listed_origins() {
    let app = TestApp::spawn_with(|c| {
        c.cors_allowed_origins = vec!["https://app.example.org".to_owned()]
    })
    .await;
    let preflight = app
        .client
        .request(Method::OPTIONS, app.api("/sessions"))
        .header("origin", "https://app.example.org")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "https://app.example.org"
    );
    // a browser client may send the headers that make retries and reads cheap
    let preflight = app
        .client
        .request(Method::OPTIONS, app.api("/placements"))
        .header("origin", "https://app.example.org")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "idempotency-key, if-none-match",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("idempotency-key") && allowed.contains("if-none-match"),
        "{allowed}"
    );

    let refused = app
        .client
        .get(app.api("/staff/me"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert_conventional_headers(&refused);
    problem(refused, 403).await;

    // by default no origin is allowed
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .get(app.api("/staff/me"))
        .header("origin", "https://app.example.org")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    // ... except for the spec, which anyone may read
    let resp = app
        .client
        .get(app.api("/openapi.json"))
        .header("origin", "https://anyone.example.net")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers().get("access-control-allow-origin").unwrap(),
        "*"
    );
}

#[tokio::test]
async fn invalid_query_parameters_are_400_problems() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[casedesk::accounts::model::Role::Admin]).await;
    for query in [
        "limit=0",
        "limit=201",
        "limit=abc",
        "cursor=not-a-cursor",
        "active=maybe",
        "role=king",
    ] {
        let resp = app.get(&format!("/staff?{query}"), &admin.token).await;
        let body = problem(resp, 400).await;
        assert!(
            !body["invalidParams"].as_array().unwrap().is_empty(),
            "{query}: {body}"
        );
    }
}

/// Issue 32.8: the 405 for `/api/v1/openapi.json` lacked `Allow`. The
/// routes outside the API name their methods too; the spec and the docs
/// page come gzipped to clients that accept it (issue 32.5: shared bytes).
#[tokio::test]
async fn routes_outside_the_api_answer_405_with_allow_and_serve_gzip() {
    use std::io::Read;
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/openapi.json",
        "/docs",
        "/health/live",
        "/health/ready",
    ] {
        for method in [
            reqwest::Method::POST,
            reqwest::Method::DELETE,
            reqwest::Method::PUT,
        ] {
            let resp = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(resp.headers().get("allow").unwrap(), "GET, HEAD", "{path}");
            let body = problem(resp, 405).await;
            assert_eq!(body["type"], "urn:casedesk:problem:method-not-allowed");
        }
        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
    }
    let plain = app
        .client
        .get(app.api("/openapi.json"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let resp = app
        .client
        .get(app.api("/openapi.json"))
        .header("accept-encoding", "br;q=1, gzip;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers().get("content-encoding").unwrap(), "gzip");
    assert_eq!(resp.headers().get("vary").unwrap(), "Accept-Encoding");
    let gz = resp.bytes().await.unwrap();
    assert!(
        gz.len() * 5 < plain.len(),
        "{} of {}",
        gz.len(),
        plain.len()
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);
    // gzip refused: plain
    let resp = app
        .client
        .get(app.url("/docs"))
        .header("accept-encoding", "gzip;q=0")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("content-encoding").is_none());
}

/// Every create that gives what it makes an address takes an
/// `Idempotency-Key`, and a GET of that address answers the same view (a
/// repeat is answered by reading it); the few that show a secret once are
/// listed with the reason and must still exist.
#[test]
fn idempotent_creates_are_readable_where_they_say() {
    let spec = common::committed_spec();
    // answers that show a secret only once cannot be given again
    let shown_once = [
        "createApiClient",          // the new client's key
        "createApiClientKey",       // the new key
        "createStaff",              // the invitation code
        "createSubscription",       // the signing secret
        "createSubscriptionSecret", // the new signing secret
    ];
    let mut idempotent = Vec::new();
    let mut seen_once = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let Some(post) = item.get("post") else {
            continue;
        };
        let id = post["operationId"].as_str().unwrap();
        let takes_key = post["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"));
        let addressed = post["responses"]["201"]["headers"]
            .get("Location")
            .is_some();
        if shown_once.contains(&id) {
            assert!(!takes_key, "{id} shows a secret once: no replay");
            seen_once.push(id);
            continue;
        }
        assert_eq!(
            takes_key, addressed,
            "{id}: a create with an address takes a key"
        );
        if !takes_key {
            continue;
        }
        let schema = |response: &Value| {
            response["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|c| c["schema"]["$ref"].clone())
                .unwrap_or_default()
        };
        let made = &schema(&post["responses"]["201"]);
        let read = schema(&spec["paths"][format!("{path}/{{id}}")]["get"]["responses"]["200"]);
        assert!(made.is_string(), "{id}");
        assert_eq!(
            made, &read,
            "{id}: GET {path}/{{id}} answers the view the create answers"
        );
        idempotent.push(id);
    }
    assert_eq!(seen_once.len(), shown_once.len(), "{seen_once:?}");
    assert!(idempotent.len() >= 8, "{idempotent:?}");
}

/// A client that accepts gzip gets large JSON reads gzipped (the same
/// JSON once decoded), a small one as it is, and a read of a version it
/// already holds (`If-None-Match`) is a 304 without a body; writes and
/// problems are never touched.
#[tokio::test]
async fn large_reads_are_gzipped_and_a_held_version_is_a_304() {
    use std::io::Read;
    let app = TestApp::spawn().await;
    let coordinator = app
        .account(&[casedesk::accounts::model::Role::ExchangeCoordinator])
        .await;
    let t = coordinator.token.as_str();
    let mut first = None;
    for i in 0..12 {
        let made = app
            .create(
                "/institutions",
                t,
                json!({"name": format!("Institution number {i} of the gzip test"), "kind": "mbo_college", "country": "NL", "city": "Delft", "sisterCity": false}),
            )
            .await;
        first.get_or_insert(made);
    }
    let read = |path: &str, headers: &[(&str, &str)]| {
        let mut r = app.request(Method::GET, path, Some(t));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let plain = read("/institutions", &[]).await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.headers()["vary"], "Accept-Encoding");
    let plain: Value = plain.json().await.unwrap();
    let gz = read(
        "/institutions",
        &[("accept-encoding", "br;q=1.0, gzip;q=0.8")],
    )
    .await
    .unwrap();
    assert_eq!(gz.status(), StatusCode::OK);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let bytes = gz.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), plain);
    assert!(
        bytes.len() * 3 < text.len(),
        "{} of {}",
        bytes.len(),
        text.len()
    );

    // one institution is under the threshold: as it is
    let first = first.unwrap();
    let path = format!("/institutions/{}", first["id"].as_str().unwrap());
    let small = read(&path, &[("accept-encoding", "gzip")]).await.unwrap();
    assert!(small.headers().get("content-encoding").is_none());
    let etag = small.headers()["etag"].to_str().unwrap().to_owned();
    // the version held: 304, no body, its ETag
    let held = read(&path, &[("if-none-match", &etag)]).await.unwrap();
    assert_eq!(held.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(held.headers()["etag"], etag.as_str());
    assert!(held.bytes().await.unwrap().is_empty());
    let other = read(&path, &[("if-none-match", "\"99\", W/\"98\"")])
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    // a problem is never compressed or turned into a 304
    let missing = read(
        "/institutions/00000000-0000-7000-8000-000000000000",
        &[("accept-encoding", "gzip"), ("if-none-match", "*")],
    )
    .await
    .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().get("content-encoding").is_none());
}

/// The spec says what the service enforces on a request: a body refuses
/// fields it does not name (and says so, nested objects included), an
/// `If-Match` is an entity tag the service can read, and no example of a
/// request field is one the service must refuse once its day has passed.
#[test]
fn request_schemas_say_what_the_service_refuses() {
    let spec = common::committed_spec();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let mut bodies = 0;
    let mut if_matches = 0;
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            for media in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                let r = media.1["schema"]["$ref"].as_str().unwrap();
                let name = r.trim_start_matches("#/components/schemas/");
                let schema = &schemas[name];
                assert_eq!(schema["additionalProperties"], false, "{id}: {name}");
                assert!(
                    schema["properties"]
                        .get("expiresAt")
                        .is_none_or(|p| p.get("example").is_none()),
                    "{name}.expiresAt: an example that expires"
                );
                bodies += 1;
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["name"] == "If-Match" {
                    assert!(p["schema"]["pattern"].is_string(), "{id}: If-Match");
                    if_matches += 1;
                }
            }
        }
    }
    assert!(
        bodies >= 40 && if_matches >= 15,
        "{bodies} bodies, {if_matches} If-Match"
    );
    // nested request objects are closed too
    for nested in [
        "DefenderIdentity",
        "Quota",
        "SubscriptionChannel",
        "EmergencyContact",
    ] {
        assert_eq!(schemas[nested]["additionalProperties"], false, "{nested}");
    }
}

/// Every text a request body carries says the rule the service reads it
/// with: a `pattern` (no control characters; not blank where required), an
/// `enum`, or a reference to one (country codes: the service's own list,
/// where a query names a `country` too), so that a request made to fit the
/// schema is not refused for its text.
#[test]
fn request_texts_say_the_rules_the_service_reads_them_with() {
    let spec = common::committed_spec();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    // the schemas request bodies use, nested ones included
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    out.push(r.trim_start_matches("#/components/schemas/").to_owned());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            refs(&op["requestBody"], &mut pending);
        }
    }
    let mut requests = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if requests.insert(name.clone()) {
            refs(&schemas[&name], &mut pending);
        }
    }
    let mut texts = 0;
    for (name, schema) in schemas {
        if !requests.contains(name) {
            continue;
        }
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            for s in [property, &property["items"]] {
                let is_text = s["type"] == "string"
                    || s["type"]
                        .as_array()
                        .is_some_and(|t| t.contains(&json!("string")));
                if !is_text {
                    continue;
                }
                texts += 1;
                assert!(
                    s.get("pattern").is_some()
                        || s.get("enum").is_some()
                        || s.get("format").is_some_and(|f| f == "date"
                            || f == "date-time"
                            || f == "uuid"
                            || f == "email"),
                    "{name}.{field}: {s}"
                );
                if s["minLength"].as_u64().unwrap_or(0) >= 1 && s.get("enum").is_none() {
                    // one character that is neither white space nor a control
                    let pattern = s["pattern"].as_str().unwrap_or_default();
                    assert!(
                        pattern.contains("[^\\s") || !pattern.contains('*'),
                        "{name}.{field}: blank passes {pattern}"
                    );
                }
            }
        }
    }
    assert!(texts > 80, "{texts}");
    let codes = spec["components"]["schemas"]["CountryCode"]["enum"]
        .as_array()
        .unwrap();
    assert_eq!(codes.len(), 249);
    for field in [
        "/components/schemas/NewDefender/properties/countryOfWork",
        "/components/schemas/NewParticipant/properties/nationality",
        "/components/schemas/NewInstitution/properties/country",
        "/components/schemas/CountryGroup/properties/countries/items",
        "/paths/~1placements/get/parameters",
    ] {
        assert!(
            spec.pointer(field)
                .unwrap()
                .to_string()
                .contains("#/components/schemas/CountryCode"),
            "{field}"
        );
    }
}

/// JSON Schema counts `2.0` as an integer, as generators of requests do: the
/// service takes it as 2; `2.5` stays a 400 naming the field.
#[tokio::test]
async fn an_integer_written_with_a_zero_fraction_is_that_integer() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[casedesk::accounts::model::Role::Admin]).await;
    let (client, _) = app.api_client(&admin.token, &["exchange.read"]).await;
    let path = format!("/api-clients/{client}/keys");
    let resp = app
        .post(&path, Some(&admin.token), json!({"overlapHours": 2.0}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    let keys = body["client"]["keys"].as_array().unwrap();
    let ends: Vec<chrono::DateTime<chrono::Utc>> = keys
        .iter()
        .filter_map(|k| k["expiresAt"].as_str())
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(ends.len(), 1, "{body}");
    use casedesk::clock::Clock;
    assert_eq!(ends[0] - app.clock.now(), chrono::TimeDelta::hours(2));
    let refused = problem(
        app.post(&path, Some(&admin.token), json!({"overlapHours": 2.5}))
            .await,
        400,
    )
    .await;
    assert_eq!(refused["invalidParams"][0]["name"], "overlapHours");
    assert_eq!(refused["invalidParams"][0]["code"], "wrong_type");
}

/// A deprecated feature still works, and its answer says so (RFC 9745
/// `Deprecation`, RFC 8594 `Sunset`, a `Link` with `rel="deprecation"`):
/// clearing a field with `""` instead of `null`. The way that is not
/// deprecated gets none of them.
#[tokio::test]
async fn a_deprecated_feature_still_works_and_its_answer_says_so() {
    use casedesk::accounts::model::Role;
    let app = TestApp::spawn().await;
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let t = coordinator.token.as_str();
    let defender: Value = app
        .post("/defenders", Some(t), json!({"codename": "Plover", "countryOfWork": "UG", "fieldOfWork": "labour", "languages": [], "riskLevel": "high"}))
        .await
        .json()
        .await
        .unwrap();
    let stay: Value = app
        .post(
            "/stays",
            Some(t),
            json!({"defenderId": defender["id"], "intakeRound": "2027-spring", "plannedArrival": "2027-03-01", "plannedDeparture": "2027-06-01",
                   "visaStatus": "to_apply", "insuranceArranged": true, "confidentiality": "restricted", "accommodationAddress": "Singel 1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/stays/{}", stay["id"].as_str().unwrap());
    let patch = |version: &Value, body: Value| {
        app.request(Method::PATCH, &path, Some(t))
            .header("if-match", format!("\"{version}\""))
            .header("x-audit-reason", "address moved")
            .json(&body)
            .send()
    };
    let resp = patch(&stay["version"], json!({"accommodationAddress": ""}))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["deprecation"], "@1796601600");
    assert_eq!(h["sunset"], "Mon, 07 Jun 2027 00:00:00 GMT");
    assert!(h
        .get_all("link")
        .iter()
        .any(|l| l.to_str().unwrap().contains("rel=\"deprecation\"")));
    let changed: Value = resp.json().await.unwrap();
    assert!(changed["accommodationAddress"].is_null(), "{changed}");
    // null, as JSON Merge Patch says: no signal
    let resp = patch(&changed["version"], json!({"accommodationAddress": null}))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("deprecation").is_none());
    assert!(resp.headers().get("sunset").is_none());
    // the spec declares both on every PATCH answer
    let spec = common::committed_spec();
    let headers = &spec["paths"]["/stays/{id}"]["patch"]["responses"]["200"]["headers"];
    assert!(headers.get("Deprecation").is_some() && headers.get("Sunset").is_some());
}
