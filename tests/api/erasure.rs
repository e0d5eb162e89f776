//! Erasure's guarantee, tested on the raw database files: after an erasure
//! and the retirement of the master key in use, a copy of the files (the
//! SQLite file and its WAL; PostgreSQL's heap file of the data keys, read as
//! bytes after a checkpoint) and the new master key do not give back the
//! erased defender's data key, and so not their identity.

use crate::common;

use casedesk::{accounts::model::Role, crypto::MasterKey, keyring};
use common::{TestApp, TestDb};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::{json, Value};

/// The raw bytes a thief with the database files would have.
async fn raw_files(app: &TestApp) -> Vec<u8> {
    match &app.db {
        TestDb::Sqlite(dir) => {
            let mut all = Vec::new();
            for entry in std::fs::read_dir(dir).unwrap() {
                all.extend(std::fs::read(entry.unwrap().path()).unwrap());
            }
            all
        }
        TestDb::Postgres { .. } => {
            let db = &app.state.db;
            // everything written so far is on disk
            db.execute_unprepared("CHECKPOINT").await.unwrap();
            let one = |sql: &'static str| async move {
                let row = db
                    .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get_by_index::<String>(0).unwrap()
            };
            let dir = one("SHOW data_directory").await;
            let mut all = Vec::new();
            for table in [
                "SELECT pg_relation_filepath('data_keys')",
                "SELECT pg_relation_filepath('defenders')",
            ] {
                let rel = one(table).await;
                let path = std::path::Path::new(&dir).join(rel);
                all.extend(std::fs::read(&path).unwrap_or_else(|e| {
                    panic!("reading {} (the heap file, as bytes): {e}", path.display())
                }));
            }
            all
        }
        TestDb::Shared => unreachable!(),
    }
}

/// Every 80-character window of base64 text in `bytes`: the shape of a
/// wrapped data key (12 + 32 + 16 bytes).
fn wrapped_candidates(bytes: &[u8]) -> Vec<String> {
    let b64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/' || *c == b'=';
    let mut out = Vec::new();
    for run in bytes.split(|c| !b64(c)).filter(|r| r.len() >= 80) {
        for w in run.windows(80) {
            out.push(String::from_utf8_lossy(w).into_owned());
        }
    }
    out
}

#[tokio::test]
async fn after_erasure_and_retirement_the_raw_files_do_not_give_back_the_data_key() {
    let app = TestApp::spawn().await;
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let t = Some(coordinator.token.as_str());
    let resp = app
        .post(
            "/defenders",
            t,
            json!({"codename": "Sandpiper", "countryOfWork": "KE", "fieldOfWork": "labour", "languages": [],
                   "riskLevel": "critical", "identity": {"legalName": "Wanjiru Retired-Key"}}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let defender: Value = resp.json().await.unwrap();
    let id: uuid::Uuid = defender["id"].as_str().unwrap().parse().unwrap();
    let row = casedesk::entities::defenders::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let key_id = row.data_key_id.unwrap();
    let aad = keyring::data_key_aad(key_id);
    let before = (keyring::erasures_since_retirement(&app.state.db)
        .await
        .unwrap())
    .1;
    assert_eq!(before, 0);

    let resp = app
        .request(Method::DELETE, &format!("/defenders/{id}"), t)
        .header("If-Match", "\"1\"")
        .header("X-Audit-Reason", "request of the defender")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // the erasure is counted until the key is retired
    let (_, erased) = keyring::erasures_since_retirement(&app.state.db)
        .await
        .unwrap();
    assert_eq!(erased, 1);

    // a defender that stays, whose data key the rotation re-wraps
    let resp = app
        .post(
            "/defenders",
            t,
            json!({"codename": "Sanderling", "countryOfWork": "KE", "fieldOfWork": "labour", "languages": [], "riskLevel": "low",
                   "identity": {"legalName": "A Live Person", "passportNumber": "L1", "dateOfBirth": "1991-01-01", "phone": "+254 700 000002"}}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let live: Value = resp.json().await.unwrap();
    let live_row = casedesk::entities::defenders::Entity::find_by_id(
        live["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap(),
    )
    .one(&app.state.db)
    .await
    .unwrap()
    .unwrap();
    // the master key in use is retired: every live key is re-wrapped under a new one
    let old = app.state.keys.master.clone();
    let new = MasterKey::generate();
    keyring::rotate(&app.state.db, &old, &new, &app.clock)
        .await
        .unwrap();
    let (_, erased) = keyring::erasures_since_retirement(&app.state.db)
        .await
        .unwrap();
    assert_eq!(erased, 0, "the retirement covers the erasure");

    let raw = raw_files(&app).await;
    let candidates = wrapped_candidates(&raw);
    let opened_by_new = candidates
        .iter()
        .filter(|c| new.unwrap_key(c, &aad).is_ok())
        .count();
    let opened_by_old = candidates
        .iter()
        .filter(|c| old.unwrap_key(c, &aad).is_ok())
        .count();
    eprintln!(
        "{} candidate windows; the erased data key's wrapped value is in the raw files {} times (opened with the retired key)",
        candidates.len(),
        opened_by_old
    );
    assert_eq!(
        opened_by_new, 0,
        "the key in use opens the erased defender's data key"
    );
    if !app.db.is_postgres() {
        // SQLite's secure_delete and checkpoint leave nothing even for the old key
        assert_eq!(
            opened_by_old, 0,
            "the erased data key is still in the SQLite files"
        );
    }
    // this instance, not restarted, still holds the retired key: it seals
    // nothing more under it (the fence of issue 32.8)
    let resp = app
        .post(
            "/defenders",
            t,
            json!({"codename": "Turnstone", "countryOfWork": "KE", "fieldOfWork": "labour", "languages": [], "riskLevel": "low",
                   "identity": {"legalName": "Another Person", "passportNumber": "T1", "dateOfBirth": "1990-01-01", "phone": "+254 700 000000"}}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    // a live key in the same files does open with the new key: the search is real
    let live_key = live_row
        .data_key_id
        .expect("the live defender has a data key");
    let live_aad = keyring::data_key_aad(live_key);
    let found = candidates
        .iter()
        .any(|c| new.unwrap_key(c, &live_aad).is_ok());
    assert!(
        found,
        "the search finds a live wrapped key in the raw files"
    );
}
