//! Faults, with the real binary: killed with SIGKILL in the middle of a write
//! load and restarted, nothing answered 2xx is lost and every committed change
//! has exactly its outbox event; and (with PostgreSQL tools on the machine)
//! the database stopped and started again: `/health/ready` turns 503 and back,
//! requests in between get 503 problems, and the service recovers by itself.

use crate::common;

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use common::process::{command, start, Running};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

const PASSWORD: &str = "a fault-tolerant passphrase 9";
const SETTINGS: &[(&str, &str)] = &[("CASEDESK_MFA_REQUIRED_ROLES", "")];

async fn create_account(url: &str, email: &str) {
    let mut cmd = command(url, SETTINGS);
    cmd.args([
        "staff",
        "create",
        "--email",
        email,
        "--role",
        "exchange_coordinator",
        "--role",
        "auditor",
    ]);
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn login(client: &Client, base: &str, email: &str) -> String {
    let resp = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let b: Value = resp.json().await.unwrap();
    b["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn killed_mid_write_loses_no_answered_write_and_no_event() {
    let (url, _db) = common::fresh_database().await;
    let email = "faults@casedesk.test";
    create_account(&url, email).await;
    let client = Client::new();
    let mut running: Running = start(&url, SETTINGS).await;
    let token = login(&client, &running.base, email).await;
    let home: Value = client
        .post(format!("{}/api/v1/institutions", running.base))
        .bearer_auth(&token)
        .json(&json!({"name": "ROC", "kind": "mbo_college", "country": "NL", "city": "Delft", "sisterCity": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let home = home["id"].as_str().unwrap().to_owned();

    // eight writers until the process dies under them
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, base, token, home) = (
            client.clone(),
            running.base.clone(),
            token.clone(),
            home.clone(),
        );
        let (answered, stop) = (answered.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let sent = client
                    .post(format!("{base}/api/v1/participants"))
                    .bearer_auth(&token)
                    .json(&json!({"givenName": format!("W{w}"), "familyName": format!("N{i}"), "dateOfBirth": "2007-01-01", "email": format!("w{w}n{i}@student.example.nl"),
                                  "educationLevel": "hbo", "homeInstitutionId": home, "fieldOfStudy": "Law", "nationality": "NL", "fewerOpportunities": false}))
                    .send()
                    .await;
                let Ok(resp) = sent else { break };
                if resp.status() == StatusCode::CREATED {
                    if let Ok(b) = resp.json::<Value>().await {
                        answered.lock().unwrap().push(b["id"].as_str().unwrap().to_owned());
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.child.start_kill().unwrap(); // SIGKILL: no shutdown, no flush
    running.child.wait().await.unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let answered: Vec<String> = answered.lock().unwrap().clone();
    assert!(
        answered.len() > 20,
        "the load ran: {} writes answered",
        answered.len()
    );

    // restarted on the same database
    let running = start(&url, SETTINGS).await;
    let token = login(&client, &running.base, email).await;
    for id in &answered {
        let resp = client
            .get(format!("{}/api/v1/participants/{id}", running.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "answered 201 but lost: {id}");
    }

    // every committed participant has its create event, and no event lacks its participant
    let db = casedesk::db::connect(&url, 2).await.unwrap();
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let rows: BTreeSet<uuid::Uuid> = casedesk::entities::participants::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    let events: Vec<uuid::Uuid> = casedesk::entities::outbox_events::Entity::find()
        .filter(casedesk::entities::outbox_events::Column::Kanaal.eq("participants"))
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.resource_id)
        .collect();
    let event_set: BTreeSet<uuid::Uuid> = events.iter().copied().collect();
    assert_eq!(events.len(), event_set.len(), "one event per change");
    assert_eq!(rows, event_set, "changes and events match one to one");
    assert!(rows.len() >= answered.len());
    db.close().await.ok();

    // and the audit chain is whole
    let v: Value = client
        .get(format!("{}/api/v1/audit-events/verification", running.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
}

/// A private PostgreSQL server this test may stop and start.
struct PrivatePostgres {
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn as_postgres(&self, program: &str, args: &[&str]) -> std::process::Output {
        let mut cmd = std::process::Command::new("runuser");
        cmd.args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args);
        cmd.output().unwrap()
    }

    fn create() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())?;
        let dir =
            std::env::temp_dir().join(format!("casedesk-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).ok()?;
        std::process::Command::new("chown")
            .args(["postgres", dir.to_str()?])
            .status()
            .ok()?
            .success()
            .then_some(())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let pg = Self { dir, bin, port };
        let data = pg.dir.join("data");
        let out = pg.as_postgres(
            "initdb",
            &[
                "-D",
                data.to_str()?,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        out.status.success().then_some(())?;
        pg.start().then_some(pg)
    }

    fn start(&self) -> bool {
        let data = self.dir.join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                self.dir.join("log").to_str().unwrap(),
                "-w",
                "start",
            ],
        )
        .status
        .success()
    }

    fn stop(&self) {
        let data = self.dir.join("data");
        self.as_postgres(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

async fn ready_status(client: &Client, base: &str) -> Option<StatusCode> {
    client
        .get(format!("{base}/health/ready"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()
        .map(|r| r.status())
}

#[tokio::test]
async fn the_database_going_away_gives_503s_and_the_service_recovers_by_itself() {
    // runs in CI's PostgreSQL pass, on a server of its own
    if std::env::var("CASEDESK_TEST_DATABASE_URL").is_err() {
        eprintln!("skipped: runs with CASEDESK_TEST_DATABASE_URL (the PostgreSQL pass)");
        return;
    }
    let Some(pg) = PrivatePostgres::create() else {
        panic!("cannot start a private PostgreSQL server (needs root, runuser and the PostgreSQL server binaries)");
    };
    let url = pg.url();
    let email = "outage@casedesk.test";
    create_account(&url, email).await;
    let client = Client::new();
    let running = start(&url, SETTINGS).await;
    let base = running.base.clone();
    let token = login(&client, &base, email).await;
    assert_eq!(ready_status(&client, &base).await, Some(StatusCode::OK));

    pg.stop();
    let mut saw_503 = false;
    for _ in 0..100 {
        if ready_status(&client, &base).await == Some(StatusCode::SERVICE_UNAVAILABLE) {
            saw_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_503, "/health/ready did not turn 503");
    for path in ["/api/v1/institutions", "/api/v1/staff/me"] {
        let resp = client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(resp.headers().contains_key("retry-after"));
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/problem+json"), "{ct}");
    }
    let write = client
        .post(format!("{base}/api/v1/institutions"))
        .bearer_auth(&token)
        .json(&json!({"name": "During", "kind": "employer", "country": "NL", "city": "Ede", "sisterCity": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::SERVICE_UNAVAILABLE);

    assert!(pg.start(), "PostgreSQL restarts");
    let mut back = false;
    for _ in 0..150 {
        if ready_status(&client, &base).await == Some(StatusCode::OK) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(back, "/health/ready did not recover");
    // the same session works again: it lives in the database
    let resp = client
        .post(format!("{base}/api/v1/institutions"))
        .bearer_auth(&token)
        .json(&json!({"name": "After", "kind": "employer", "country": "NL", "city": "Ede", "sisterCity": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let list: Value = client
        .get(format!("{base}/api/v1/institutions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["After"],
        "the write refused during the outage left nothing behind"
    );
    drop(running);
}

/// Two transactions that lock the same rows in opposite orders: PostgreSQL
/// rolls one back (deadlock, 40P01). Nothing of it was written and the same
/// request again succeeds, so the caller gets a 503 with `Retry-After`, not
/// a 500. (The service's own writes take a record before its parts, so they
/// do not deadlock each other: `lock_order.rs`.)
#[tokio::test]
async fn a_deadlock_is_a_503_to_retry_not_a_500() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let (url, db) = common::fresh_database().await;
    if !db.is_postgres() {
        eprintln!("skipped: runs with CASEDESK_TEST_DATABASE_URL (the PostgreSQL pass)");
        return;
    }
    let conn = sea_orm::Database::connect(&url).await.unwrap();
    conn.execute_unprepared("CREATE TABLE deadlock_probe (id INT PRIMARY KEY, n INT); INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    let first = conn.begin().await.unwrap();
    let second = conn.begin().await.unwrap();
    first
        .execute_unprepared("UPDATE deadlock_probe SET n = n + 1 WHERE id = 1")
        .await
        .unwrap();
    second
        .execute_unprepared("UPDATE deadlock_probe SET n = n + 1 WHERE id = 2")
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        first.execute_unprepared("UPDATE deadlock_probe SET n = n + 1 WHERE id = 2"),
        second.execute_unprepared("UPDATE deadlock_probe SET n = n + 1 WHERE id = 1"),
    );
    let err = match (a, b) {
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => e,
        other => panic!("one of the two is rolled back: {other:?}"),
    };
    assert!(casedesk::db::is_unavailable(&err), "{err}");
    let answer = casedesk::http::problem::from_db_error(&err);
    let resp = poem::error::ResponseError::as_response(&answer);
    assert_eq!(resp.status(), poem::http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("retry-after").is_some());
}
