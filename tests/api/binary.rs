//! The `casedesk` binary as an operator runs it: configuration errors, the
//! first administrator, the CLI, JSON logs without secrets, graceful shutdown.

use crate::common;

use std::time::Duration;

use common::process::{command, start, terminate};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn a_bad_setting_stops_the_process_with_one_line_naming_it() {
    let (url, _db) = common::fresh_database().await;
    for (name, value) in [
        ("CASEDESK_BIND", "not-an-address-secret"),
        ("CASEDESK_LOG_FORMAT", "xml-secret"),
        ("CASEDESK_PUBLIC_URL", "ftp://secret.example"),
        ("CASEDESK_SESSION_IDLE_MINUTES", "0"),
        ("CASEDESK_MFA_REQUIRED_ROLES", "wizard"),
        ("CASEDESK_MASTER_KEY", "c2VjcmV0"),
    ] {
        let out = command(&url, &[(name, value)]).output().await.unwrap();
        assert!(!out.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: {stderr}");
        assert!(lines[0].contains(name), "{stderr}");
        assert!(
            !lines[0].contains("secret"),
            "the value is not echoed: {stderr}"
        );
    }
}

#[tokio::test]
async fn first_start_prints_the_admin_once_and_logs_json_without_secrets() {
    let (url, _db) = common::fresh_database().await;
    let running = start(
        &url,
        &[("CASEDESK_BOOTSTRAP_ADMIN_EMAIL", "chief@casedesk.test")],
    )
    .await;
    let out = running.stdout.lock().unwrap().join("\n");
    assert!(out.contains("chief@casedesk.test"), "{out}");
    // issue 32.8: not a terminal, so not printed: a file of mode 0600
    let password = common::process::first_admin_password(&running);
    assert!(password.len() >= 12);

    let client = reqwest::Client::new();
    let api = |p: &str| format!("{}/api/v1{p}", running.base);
    let resp = client
        .post(api("/sessions"))
        .header("x-request-id", "log-check-1")
        .json(&json!({"email": "chief@casedesk.test", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = client
        .put(api("/staff/me/password"))
        .bearer_auth(&token)
        .json(&json!({"currentPassword": password, "newPassword": "the new chief passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    client
        .post(api("/sessions"))
        .json(&json!({"email": "chief@casedesk.test", "password": "wrong wrong wrong"}))
        .send()
        .await
        .unwrap();

    let (status, running) = terminate(running).await;
    assert!(status.success(), "{status}");
    let logs = running.stderr.lock().unwrap().clone();
    let mut request_lines = 0;
    for line in &logs {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if v["fields"]["message"] == "request served" {
            request_lines += 1;
            for field in ["request_id", "method", "status", "latency_ms"] {
                assert!(!v["span"][field].is_null(), "{field} in {line}");
            }
        }
        for secret in [
            password.as_str(),
            token.as_str(),
            "the new chief passphrase",
            "wrong wrong wrong",
            "chief@casedesk.test",
        ] {
            assert!(
                !line.contains(secret),
                "a log line contains a secret or personal value: {line}"
            );
        }
    }
    assert!(request_lines >= 3, "{logs:?}");
    assert!(
        logs.iter()
            .any(|l| l.contains("log-check-1") && l.contains("/api/v1/sessions")),
        "route and request id logged"
    );

    // second start: the administrator exists, nothing is printed
    let running = start(&url, &[]).await;
    let (_, running) = terminate(running).await;
    assert!(!running
        .stdout
        .lock()
        .unwrap()
        .join("\n")
        .contains("one-time password"));
}

#[tokio::test]
async fn staff_create_reads_the_password_from_stdin() {
    let (url, _db) = common::fresh_database().await;
    let mut child = command(&url, &[])
        .args([
            "staff",
            "create",
            "--email",
            "ops@casedesk.test",
            "--role",
            "auditor",
            "--role",
            "analyst",
        ])
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"an operator chose this passphrase\n")
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("passphrase"));

    // a weak password is refused
    let mut child = command(&url, &[])
        .args([
            "staff",
            "create",
            "--email",
            "weak@casedesk.test",
            "--role",
            "auditor",
        ])
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"password1234\n")
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(!out.status.success());

    let running = start(&url, &[]).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/sessions", running.base))
        .json(
            &json!({"email": "OPS@casedesk.test", "password": "an operator chose this passphrase"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["staff"]["roles"], json!(["analyst", "auditor"]));
    terminate(running).await;
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let (url, _db) = common::fresh_database().await;
    let url_of_db = url.clone();
    // one hash at a time: six sign-ins take several hash times to answer
    let running = start(&url, &[("CASEDESK_PASSWORD_HASH_CONCURRENCY", "1")]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/sessions", running.base);
    // sign-ins take a password hash each: several are in flight when the signal comes
    let mut inflight = Vec::new();
    for i in 0..6 {
        let client = client.clone();
        let url = url.clone();
        inflight.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"email": format!("n{i}@casedesk.test"), "password": "not the password at all"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    // the signal comes once the service has taken in all six: each reserved
    // its place in the throttle (three rows) before waiting for the hasher.
    // (Waiting only for the first answer raced a loaded machine: a request
    // not yet read when the signal came was, rightly, never served.)
    let db = sea_orm::Database::connect(url_of_db.as_str())
        .await
        .unwrap();
    let mut taken_in = 0;
    for _ in 0..1000 {
        use sea_orm::{EntityTrait, PaginatorTrait};
        taken_in = casedesk::entities::login_failures::Entity::find()
            .count(&db)
            .await
            .unwrap();
        if taken_in >= 18 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(taken_in, 18, "six sign-ins reserved before the signal");
    db.close().await.ok();
    let (status, running) = terminate(running).await;
    assert!(
        status.success(),
        "{status}: {:?}",
        running.stderr.lock().unwrap()
    );
    for task in inflight {
        assert_eq!(task.await.unwrap().unwrap(), 401, "answered, not cut off");
    }
}

#[tokio::test]
async fn migrate_and_openapi_subcommands() {
    let (url, _db) = common::fresh_database().await;
    let out = command(&url, &[]).arg("migrate").output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = command(&url, &[]).arg("openapi").output().await.unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}

#[cfg(unix)]
#[tokio::test]
async fn the_embedded_default_makes_a_private_master_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("casedesk-key-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/data/casedesk.db?mode=rwc", dir.display());
    let out = command(&url, &[]).arg("migrate").output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = dir.join("data/master.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(String::from_utf8_lossy(&out.stderr).contains("generated a new master key"));
    std::fs::remove_dir_all(dir).ok();
}

/// The database files were created 0644 in a 0755 folder: readable by every
/// user of the machine. Now the folder is 0700 and every file 0600, the
/// write-ahead log and shared-memory files included, as the service runs.
#[cfg(unix)]
#[tokio::test]
async fn the_database_folder_and_files_are_private_to_the_service() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("casedesk-mode-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/data/casedesk.db?mode=rwc", dir.display());
    let running = start(&url, &[]).await;
    // a write, so that the write-ahead log is in use
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/sessions", running.base))
        .json(&json!({"email": "nobody@casedesk.test", "password": "not the password at all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.join("data")), 0o700, "the folder");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.join("data")).unwrap() {
        let path = entry.unwrap().path();
        files.push(path.file_name().unwrap().to_string_lossy().into_owned());
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    for name in [
        "casedesk.db",
        "casedesk.db-wal",
        "casedesk.db-shm",
        "master.key",
    ] {
        assert!(files.iter().any(|f| f == name), "{name} in {files:?}");
    }
    let (status, _) = terminate(running).await;
    assert!(status.success());
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_key_that_does_not_match_the_data_is_refused_and_rotation_switches_keys() {
    let (url, _db) = common::fresh_database().await;
    let dir = std::env::temp_dir().join(format!("casedesk-rot-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let old = casedesk::crypto::MasterKey::generate();
    let new = casedesk::crypto::MasterKey::generate();
    let new_file = dir.join("new.key");
    std::fs::write(&new_file, new.to_base64().as_bytes()).unwrap();
    let with_key = |key: &casedesk::crypto::MasterKey| {
        let mut cmd = command(&url, &[]);
        cmd.env("CASEDESK_MASTER_KEY", key.to_base64().as_str());
        cmd
    };
    let out = with_key(&old).arg("migrate").output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = with_key(&new).arg("migrate").output().await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CASEDESK_MASTER_KEY") && stderr.contains("does not match"),
        "{stderr}"
    );

    let out = with_key(&old)
        .args([
            "keys",
            "rotate",
            "--new-key-file",
            new_file.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-wrapped"));
    // nothing is old enough to prune yet
    let out = with_key(&new)
        .args(["audit", "prune"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing pruned"));
    // the key in use is new: no erasure waits for a retirement
    let out = with_key(&new)
        .args(["keys", "status"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("in use since") && said.contains("no defender was erased"),
        "{said}"
    );
    assert!(!with_key(&old)
        .arg("migrate")
        .output()
        .await
        .unwrap()
        .status
        .success());
    assert!(with_key(&new)
        .arg("migrate")
        .output()
        .await
        .unwrap()
        .status
        .success());
    std::fs::remove_dir_all(dir).ok();
}

/// PostgreSQL: migrations by an owner role, the service as a role of its own
/// that may only append to the audit trail. As that role, none of the ways
/// round the append-only triggers work: `session_replication_role`,
/// disabling triggers, TRUNCATE, DELETE, UPDATE, DROP.
#[tokio::test]
async fn the_service_role_cannot_rewrite_or_unhook_the_audit_trail() {
    use sea_orm::{ConnectionTrait, Database};
    let Some(base) = std::env::var("CASEDESK_TEST_DATABASE_URL")
        .ok()
        .filter(|v| v.starts_with("postgres"))
    else {
        eprintln!("skipped on SQLite: database roles are PostgreSQL's (runs with CASEDESK_TEST_DATABASE_URL)");
        return;
    };
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let owner = format!("casedesk_test_owner_{tag}");
    let service = format!("casedesk_test_app_{tag}");
    let database = format!("casedesk_test_roles_{tag}");
    let admin = Database::connect(&base).await.unwrap();
    for sql in [
        format!("CREATE ROLE {owner} LOGIN"),
        format!("CREATE ROLE {service} LOGIN"),
        format!("CREATE DATABASE {database} OWNER {owner}"),
    ] {
        admin.execute_unprepared(&sql).await.unwrap();
    }
    let url_as = |role: &str| {
        let mut url = url::Url::parse(&base).unwrap();
        url.set_username(role).unwrap();
        url.set_path(&format!("/{database}"));
        url.to_string()
    };
    let key = casedesk::crypto::MasterKey::generate()
        .to_base64()
        .to_string();
    let settings = [("CASEDESK_MASTER_KEY", key.as_str())];

    // the owner migrates and grants the service role its part
    let out = command(&url_as(&owner), &settings)
        .arg("migrate")
        .env("CASEDESK_SERVICE_ROLE", &service)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // the service may not migrate, so it is told not to, and works
    let out = command(&url_as(&service), &settings)
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert!(
        !out.status.success(),
        "the service role cannot change the schema"
    );
    let running = start(
        &url_as(&service),
        &[
            ("CASEDESK_MASTER_KEY", key.as_str()),
            ("CASEDESK_MIGRATE_ON_START", "false"),
        ],
    )
    .await;
    let password = common::process::first_admin_password(&running);
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/sessions", running.base))
        .json(&json!({"email": "admin@casedesk.local", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "the service signs in its first administrator"
    );
    let (status, _) = terminate(running).await;
    assert!(status.success());

    // as the service role, nothing gets round the audit trail's protection
    let as_service = Database::connect(url_as(&service)).await.unwrap();
    let events: i64 = {
        let row = as_service
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM audit_events",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    };
    assert!(events >= 2, "{events} events");
    for attempt in [
        "SET session_replication_role = replica",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change",
        "TRUNCATE audit_events",
        "DELETE FROM audit_events",
        "UPDATE audit_events SET outcome = 500",
        "DROP TABLE audit_events",
        "DELETE FROM audit_checkpoints",
        // a prune point would let the trigger pass a DELETE: the role may not write one
        "INSERT INTO audit_prunes (seq, hash, pruned_at, public_key, signature) VALUES (1000000, 'x', now(), 'k', 's')",
        "TRUNCATE audit_checkpoints",
        "DROP TRIGGER audit_events_no_change ON audit_events",
        "CREATE TABLE sneaky (x int)",
        "DELETE FROM seaql_migrations",
        // destruction reports are append-only too
        "UPDATE destruction_reports SET sha256 = 'x'",
        "DELETE FROM destruction_reports",
        "TRUNCATE destruction_reports",
        "ALTER TABLE destruction_reports DISABLE TRIGGER ALL",
    ] {
        let result = as_service.execute_unprepared(attempt).await;
        assert!(result.is_err(), "the service role could: {attempt}");
    }
    as_service.close().await.ok();
    for sql in [
        format!("DROP DATABASE {database} WITH (FORCE)"),
        format!("DROP ROLE {service}"),
        format!("DROP ROLE {owner}"),
    ] {
        admin.execute_unprepared(&sql).await.unwrap();
    }
    admin.close().await.ok();
}

/// Text logs written to a pipe or a file carried ANSI colour codes
/// (`\x1b[2m...`), which log collectors store as garbage. Colour is for a
/// terminal only.
#[tokio::test]
async fn text_logs_to_a_file_carry_no_colour_codes() {
    let (url, _db) = common::fresh_database().await;
    let running = start(&url, &[("CASEDESK_LOG_FORMAT", "text")]).await;
    reqwest::get(format!("{}/health/live", running.base))
        .await
        .unwrap();
    reqwest::get(format!("{}/api/v1/staff/me", running.base))
        .await
        .unwrap();
    let (_, running) = terminate(running).await;
    let logs = running.stderr.lock().unwrap().clone();
    assert!(
        logs.iter().any(|l| l.contains("request served")),
        "{logs:?}"
    );
    for line in &logs {
        assert!(!line.contains('\u{1b}'), "a colour code in {line:?}");
    }
}
