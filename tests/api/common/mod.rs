//! The test harness: the real app on port 0, on a fresh database per test.
//!
//! SQLite by default (a file in a temporary folder). With
//! `CASEDESK_TEST_DATABASE_URL=postgres://user@host:port/db` each test gets
//! its own PostgreSQL database, copied from a migrated template made once per
//! test binary; databases are named `casedesk_test_*` and dropped afterwards.
#![allow(dead_code)]

pub mod bodies;
pub mod process;

use std::sync::Arc;

use casedesk::{
    accounts::{bootstrap, model::Role},
    clock::{Clock, ManualClock},
    config::Config,
    AppState,
};
use chrono::Utc;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};
use tokio::sync::{oneshot, OnceCell};

pub const PASSWORD: &str = "a long and unusual passphrase 7";

pub enum TestDb {
    Sqlite(std::path::PathBuf),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another instance's database: left for that instance to remove.
    Shared,
}

impl TestDb {
    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }
}

fn pg_base() -> Option<String> {
    std::env::var("CASEDESK_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

fn with_database(base: &str, name: &str) -> String {
    let mut url = url::Url::parse(base).expect("CASEDESK_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

async fn pg_template(base: &str) -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("casedesk_test_tpl_{}", uuid::Uuid::now_v7().simple());
            let admin = Database::connect(base)
                .await
                .expect("connect to PostgreSQL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create template");
            admin.close().await.ok();
            let db = casedesk::db::connect(&with_database(base, &name), 2)
                .await
                .expect("connect template");
            casedesk::db::migrate(&db).await.expect("migrate template");
            db.close().await.ok();
            name
        })
        .await
        .clone()
}

/// A fresh database URL for one test.
pub async fn fresh_database() -> (String, TestDb) {
    match pg_base() {
        Some(base) => {
            let template = pg_template(&base).await;
            let name = format!("casedesk_test_{}", uuid::Uuid::now_v7().simple());
            let admin = Database::connect(&base)
                .await
                .expect("connect to PostgreSQL");
            admin
                .execute_unprepared(&format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                ))
                .await
                .expect("create test database");
            admin.close().await.ok();
            (
                with_database(&base, &name),
                TestDb::Postgres {
                    admin_url: base,
                    name,
                },
            )
        }
        None => {
            let dir = std::env::temp_dir()
                .join(format!("casedesk-test-{}", uuid::Uuid::now_v7().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}/casedesk.db?mode=rwc", dir.display());
            (url, TestDb::Sqlite(dir))
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Shared => {}
            TestDb::Sqlite(dir) => {
                std::fs::remove_dir_all(dir).ok();
            }
            TestDb::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // A runtime of its own: Drop may run after the test's runtime stopped.
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        if let Ok(admin) = Database::connect(&admin_url).await {
                            admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                                ))
                                .await
                                .ok();
                            admin.close().await.ok();
                        }
                    });
                })
                .join()
                .ok();
            }
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub client: Client,
    pub clock: ManualClock,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let (url, db) = fresh_database().await;
        let mut config = Config::for_database(&url).unwrap();
        config.database_max_connections = 5;
        // every test client is 127.0.0.1: its share of connections is the
        // whole limit, except where a test says otherwise (connections.rs)
        config.http_limits.max_connections_per_address = 100_000;
        // invitations as .eml files the tests read (`invitation_code`)
        config.mail_dir = Some(
            std::env::temp_dir().join(format!("casedesk-mail-{}", uuid::Uuid::now_v7().simple())),
        );
        adjust(&mut config);
        Self::start(config, db).await
    }

    pub async fn start(mut config: Config, db: TestDb) -> Self {
        let bound = casedesk::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        // the public URL the service derives from its bind address, with
        // the port it really got: links and locations must be followable
        if config.public_url.port() == Some(0) {
            config.public_url = format!("http://{}/", bound.addr).parse().unwrap();
        }
        let clock = ManualClock::new(Utc::now());
        let state = casedesk::prepare(config, Arc::new(clock.clone()) as Arc<dyn Clock>)
            .await
            .expect("prepare app");
        Self::serve_bound(bound, state, clock, db).await
    }

    /// A second instance on the same database, configuration and clock, as
    /// replicas share wall time (within what NTP keeps them): with clocks of
    /// their own, one replica's sign-ins (each moves its clock a TOTP step)
    /// would put it past the other's delivery leases.
    pub async fn replica(&self) -> Self {
        let state = casedesk::prepare(
            (*self.state.config).clone(),
            Arc::new(self.clock.clone()) as Arc<dyn Clock>,
        )
        .await
        .expect("prepare replica");
        Self::serve(state, self.clock.clone(), TestDb::Shared).await
    }

    pub async fn serve(state: AppState, clock: ManualClock, db: TestDb) -> Self {
        let bound = casedesk::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Self::serve_bound(bound, state, clock, db).await
    }

    pub async fn serve_bound(
        bound: casedesk::Bound,
        state: AppState,
        clock: ManualClock,
        db: TestDb,
    ) -> Self {
        let addr = bound.addr;
        let (tx, rx) = oneshot::channel::<()>();
        let run_state = state.clone();
        let server = tokio::spawn(async move {
            bound
                .run(run_state, async {
                    rx.await.ok();
                })
                .await
                .ok();
        });
        Self {
            base: format!("http://{addr}"),
            addr,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            clock,
            state,
            shutdown: Some(tx),
            server: Some(server),
            db,
        }
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        if let Some(server) = self.server.take() {
            server.await.ok();
        }
    }

    /// Stops this instance and starts a new one on the same database,
    /// configuration, clock and address, as an operator's restart does:
    /// `prepare` runs again (migrations, the archive index's check), the
    /// background tasks start afresh, sessions and tokens carry over.
    pub async fn restart(&mut self) {
        self.stop().await;
        let state = casedesk::prepare(
            (*self.state.config).clone(),
            Arc::new(self.clock.clone()) as Arc<dyn Clock>,
        )
        .await
        .expect("prepare after a restart");
        let bound = casedesk::bind(self.addr).await.expect("the same address");
        let db = std::mem::replace(&mut self.db, TestDb::Shared);
        *self = Self::serve_bound(bound, state, self.clock.clone(), db).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut rb = self.client.request(method, self.api(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::POST, path, token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Posts `body` to `path` as `token` and answers the created resource;
    /// anything but 201 fails the test with the answer.
    pub async fn create(&self, path: &str, token: &str, body: impl serde::Serialize) -> Value {
        let resp = self
            .request(Method::POST, path, Some(token))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {value}");
        value
    }

    /// The id of what [`TestApp::create`] made.
    pub async fn create_id(&self, path: &str, token: &str, body: impl serde::Serialize) -> String {
        let created = self.create(path, token, body).await;
        created["id"].as_str().unwrap().to_owned()
    }

    pub async fn login_response(
        &self,
        email: &str,
        password: &str,
        totp: Option<&str>,
    ) -> Response {
        let mut body = json!({"email": email, "password": password});
        if let Some(code) = totp {
            body["totp"] = json!(code);
        }
        self.post("/sessions", None, body).await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let resp = self.login_response(email, password, None).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "login of {email}");
        let body: Value = resp.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// An API client with these scopes, made by an administrator: its id and key.
    pub async fn api_client(&self, admin_token: &str, scopes: &[&str]) -> (uuid::Uuid, String) {
        let expires = (self.clock.now() + chrono::TimeDelta::days(30)).to_rfc3339();
        let resp = self
            .post(
                "/api-clients",
                Some(admin_token),
                json!({"name": format!("client {}", scopes.join(" ")), "scopes": scopes, "expiresAt": expires}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body: Value = resp.json().await.unwrap();
        (
            body["client"]["id"].as_str().unwrap().parse().unwrap(),
            body["key"].as_str().unwrap().to_owned(),
        )
    }

    /// Makes an account with these roles (password [`PASSWORD`], no forced
    /// change; TOTP is enrolled when its roles require it) and signs it in.
    pub async fn account(&self, roles: &[Role]) -> Account {
        let email = format!("{}@casedesk.test", uuid::Uuid::now_v7().simple());
        let id = bootstrap::create_from_cli(
            &self.state.db,
            &self.state.keys.audit,
            &self.state.hasher,
            &self.clock,
            &email,
            "Test account",
            roles,
            PASSWORD,
        )
        .await
        .unwrap();
        let token = self.login(&email, PASSWORD).await;
        let needs_mfa = roles
            .iter()
            .any(|r| self.state.second_factor_roles.contains(r));
        let mut totp_secret = None;
        if needs_mfa {
            let enrolment: Value = self
                .post("/staff/me/totp", Some(&token), json!({}))
                .await
                .json()
                .await
                .unwrap();
            let secret = base32_decode(enrolment["secret"].as_str().unwrap());
            let code = self.totp_code(&secret);
            let resp = self
                .post(
                    "/staff/me/totp/confirmation",
                    Some(&token),
                    json!({"code": code}),
                )
                .await;
            assert_eq!(resp.status(), StatusCode::OK);
            // a later code step for the next sign-in
            self.clock.advance(chrono::TimeDelta::seconds(30));
            totp_secret = Some(secret);
        }
        Account {
            id,
            email,
            token,
            totp_secret,
        }
    }

    /// Signs an account in again: with a fresh one-time code when it has a
    /// second factor (the clock moves on a step, so the code is unused).
    pub async fn sign_in(&self, account: &Account) -> String {
        let Some(secret) = &account.totp_secret else {
            return self.login(&account.email, PASSWORD).await;
        };
        self.clock.advance(chrono::TimeDelta::seconds(30));
        let code = self.totp_code(secret);
        let resp = self
            .login_response(&account.email, PASSWORD, Some(&code))
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::CREATED,
            "sign-in of {}",
            account.email
        );
        let body: Value = resp.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// The code of the newest invitation mailed to `email` (from the mail
    /// directory the tests configure).
    pub fn invitation_code(&self, email: &str) -> String {
        let dir = self
            .state
            .config
            .mail_dir
            .clone()
            .expect("a mail directory");
        let mut newest: Option<(std::time::SystemTime, String)> = None;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let to_them = text.lines().any(|l| {
                l.to_ascii_lowercase().starts_with("to:")
                    && l.to_ascii_lowercase().contains(&email.to_ascii_lowercase())
            });
            if !to_them {
                continue;
            }
            let modified = entry.metadata().unwrap().modified().unwrap();
            if newest.as_ref().is_none_or(|(m, _)| modified >= *m) {
                newest = Some((modified, text));
            }
        }
        let text = newest
            .unwrap_or_else(|| panic!("no invitation to {email}"))
            .1;
        let mut lines = text
            .lines()
            .skip_while(|l| !l.contains("Your enrolment code:"));
        lines
            .by_ref()
            .skip(1)
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap()
            .to_owned()
    }

    /// Chooses `password` with the newest invitation mailed to `email`.
    pub async fn enrol(&self, email: &str, password: &str) {
        let code = self.invitation_code(email);
        let resp = self
            .post(
                "/enrolments",
                None,
                json!({"code": code, "newPassword": password}),
            )
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::NO_CONTENT,
            "enrolment of {email}"
        );
    }

    pub fn totp_code(&self, secret: &[u8]) -> String {
        casedesk::accounts::totp::code_at(secret, self.clock.now().timestamp() as u64).unwrap()
    }

    /// Every audit event, oldest first, straight from the database.
    pub async fn audit_rows(&self) -> Vec<casedesk::entities::audit_events::Model> {
        use sea_orm::{EntityTrait, QueryOrder};
        casedesk::entities::audit_events::Entity::find()
            .order_by_asc(casedesk::entities::audit_events::Column::Seq)
            .all(&self.state.db)
            .await
            .unwrap()
    }
}

impl TestApp {
    /// Every audit event as an auditor reads it through the API (reasons
    /// opened), oldest first.
    pub async fn audit_as(&self, auditor_token: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => "/audit-events?limit=200".to_owned(),
                Some(c) => format!("/audit-events?limit=200&cursor={c}"),
            };
            let page: Value = self.get(&path, auditor_token).await.json().await.unwrap();
            all.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        all.reverse();
        all
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
    }
}

pub struct Account {
    pub id: uuid::Uuid,
    pub email: String,
    pub token: String,
    pub totp_secret: Option<Vec<u8>>,
}

pub fn base32_decode(text: &str) -> Vec<u8> {
    totp_rs::Secret::Encoded(text.to_owned())
        .to_bytes()
        .unwrap()
}

/// The JSON body of a response, after checking it is a problem document.
pub async fn problem(resp: Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        ct.starts_with("application/problem+json"),
        "content type {ct}"
    );
    let body: Value = resp.json().await.unwrap();
    for key in ["type", "title", "status", "detail", "instance"] {
        assert!(body.get(key).is_some(), "problem has {key}: {body}");
    }
    assert_eq!(body["status"], status);
    body
}

/// Everything in the database as stored: the SQLite files (with the
/// write-ahead log) as bytes, or a `pg_dump` of the PostgreSQL database.
pub fn raw_database_text(db: &TestDb) -> String {
    match db {
        TestDb::Sqlite(dir) => {
            // the main file and the write-ahead log, as bytes
            let mut all = Vec::new();
            for entry in std::fs::read_dir(dir).unwrap() {
                all.extend(std::fs::read(entry.unwrap().path()).unwrap());
            }
            String::from_utf8_lossy(&all).into_owned()
        }
        TestDb::Postgres { admin_url, name } => {
            let mut url = url::Url::parse(admin_url).unwrap();
            url.set_path(&format!("/{name}"));
            let out = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg(url.as_str())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        TestDb::Shared => panic!("the raw database belongs to another instance"),
    }
}

/// The committed spec, with its shared answers and headers
/// (`components.responses`, `components.headers`) written out in every
/// operation that refers to them, as a reader resolving them sees it.
pub fn committed_spec() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    let mut spec: Value = serde_json::from_str(&text).unwrap();
    let components = spec["components"].clone();
    let resolve = |v: &mut Value, kind: &str| {
        let prefix = format!("#/components/{kind}/");
        let name = v["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix(&prefix))
            .map(str::to_owned);
        if let Some(name) = name {
            *v = components[kind][&name].clone();
            assert!(!v.is_null(), "{prefix}{name} is not in the spec");
        }
    };
    for item in spec["paths"].as_object_mut().unwrap().values_mut() {
        for op in item.as_object_mut().unwrap().values_mut() {
            for response in op["responses"].as_object_mut().unwrap().values_mut() {
                resolve(response, "responses");
                if let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) {
                    headers.values_mut().for_each(|h| resolve(h, "headers"));
                }
            }
        }
    }
    spec
}

/// The property names of a schema of the committed spec.
pub fn spec_properties(schema: &str) -> Vec<String> {
    committed_spec()["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{schema} has properties"))
        .keys()
        .cloned()
        .collect()
}

/// One place per fact, for a PATCH: sends every field the spec lists for
/// `update_schema`, each with its value from `samples` (a field without
/// one fails: a new field needs a sample here and a line in the handler's
/// ladder), and checks that each is applied (the answer shows it) and named
/// in the last audit event `action`. Returns the answer.
pub async fn patch_every_field(
    app: &TestApp,
    token: &str,
    path: &str,
    update_schema: &str,
    samples: &Value,
    action: &str,
) -> Value {
    let current: Value = app.get(path, token).await.json().await.unwrap();
    let mut patch = serde_json::Map::new();
    for f in spec_properties(update_schema) {
        let v = samples.get(&f).unwrap_or_else(|| {
            panic!("{update_schema}.{f} is new: give it a sample here, and apply it in the PATCH")
        });
        assert_ne!(&current[&f], v, "{f}: the sample must change the record");
        patch.insert(f, v.clone());
    }
    // with a reason: some fields (a stay's confidentiality) need one
    let resp = app
        .request(Method::PATCH, path, Some(token))
        .header("if-match", format!("\"{}\"", current["version"]))
        .header("x-audit-reason", "every field changed once")
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "PATCH {path}");
    let updated: Value = resp.json().await.unwrap();
    for (f, v) in &patch {
        assert_eq!(&updated[f], v, "PATCH {f} is applied");
    }
    let event = app
        .audit_rows()
        .await
        .into_iter()
        .rfind(|e| e.action == action)
        .unwrap_or_else(|| panic!("no {action} event"));
    let mut named: Vec<String> = event
        .changed_fields
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    named.sort();
    let mut sent: Vec<String> = patch.keys().cloned().collect();
    sent.sort();
    assert_eq!(named, sent, "the {action} event names every changed field");
    updated
}
