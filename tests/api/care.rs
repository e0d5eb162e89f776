//! A learner's duty-of-care record (`/participants/{id}/care`): sealed under
//! the participant's own data key, shown to the exchange roles alone, every
//! read audited, and in no other channel a value can leave by (the
//! participant's detail, lists, search, the audit trail's values, events,
//! the raw database files); destroyed with the participant.

use crate::common;

use casedesk::accounts::model::Role;
use common::{
    bodies::{NewInstitution, NewParticipant},
    problem, raw_database_text, TestApp,
};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{json, Value};

const GUARDIAN: &str = "Wilhelmina Oudejans-Verkerk";
const GUARDIAN_PHONE: &str = "+31 6 9876 5432";
const HOST_PHONE: &str = "+351 22 765 4321";

fn care() -> Value {
    json!({"legalRepresentative": {"name": GUARDIAN, "relationship": "mother",
           "phone": GUARDIAN_PHONE, "email": "w.oudejans@example.nl"},
           "emergencyContacts": [{"name": "Família Quaresma", "relationship": "host family",
                                  "phone": HOST_PHONE}]})
}

async fn put_care(
    app: &TestApp,
    token: &str,
    id: &str,
    etag: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut req = app.request(
        Method::PUT,
        &format!("/participants/{id}/care"),
        Some(token),
    );
    if let Some(tag) = etag {
        req = req.header("If-Match", tag);
    }
    req.json(&body).send().await.unwrap()
}

/// A learner registered by `token`, at a college an exchange coordinator made.
async fn learner(app: &TestApp, token: &str, given: &str) -> String {
    let coordinator = app.account(&[Role::ExchangeCoordinator]).await;
    let home = app
        .create_id("/institutions", &coordinator.token, NewInstitution::home())
        .await;
    app.create_id("/participants", token, NewParticipant::named(given, &home))
        .await
}

#[tokio::test]
async fn a_care_record_is_replaced_whole_with_every_problem_at_once_and_its_version() {
    let app = TestApp::spawn().await;
    let officer = app.account(&[Role::ExchangeOfficer]).await;
    let id = learner(&app, &officer.token, "Sanne").await;

    // nothing recorded yet: an empty record at the participant's version
    let resp = app
        .get(&format!("/participants/{id}/care"), &officer.token)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["etag"], "\"1\"");
    let empty: Value = resp.json().await.unwrap();
    assert_eq!(empty["legalRepresentative"], Value::Null);
    assert_eq!(empty["emergencyContacts"], json!([]));

    // without If-Match: refused, nothing written
    problem(put_care(&app, &officer.token, &id, None, care()).await, 428).await;
    // every problem of the body at once
    let bad = json!({"legalRepresentative": {"name": "\u{7}", "relationship": "mother",
                     "phone": GUARDIAN_PHONE, "email": "not an address"},
                     "emergencyContacts": [{"name": "Família Quaresma", "relationship": "\u{1b}",
                                            "phone": HOST_PHONE}]});
    let p = problem(
        put_care(&app, &officer.token, &id, Some("\"1\""), bad).await,
        400,
    )
    .await;
    let names: Vec<&str> = p["invalidParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "legalRepresentative.name",
            "legalRepresentative.email",
            "emergencyContacts[0].relationship"
        ],
        "{p}"
    );

    let resp = put_care(&app, &officer.token, &id, Some("\"1\""), care()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["etag"], "\"2\"");
    let kept: Value = resp.json().await.unwrap();
    assert_eq!(kept["legalRepresentative"]["name"], GUARDIAN);
    assert_eq!(kept["emergencyContacts"][0]["phone"], HOST_PHONE);
    assert_eq!(
        kept["legalRepresentative"]["email"], "w.oudejans@example.nl",
        "the address as kept"
    );
    // one version for the participant and its record: an old ETag is stale
    problem(
        put_care(&app, &officer.token, &id, Some("\"1\""), care()).await,
        412,
    )
    .await;
    let shown: Value = app
        .get(&format!("/participants/{id}/care"), &officer.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown, kept);
    // cleared by replacing it with an empty record
    let resp = put_care(&app, &officer.token, &id, Some("\"2\""), json!({})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cleared: Value = resp.json().await.unwrap();
    assert_eq!(cleared["legalRepresentative"], Value::Null);
    assert_eq!(cleared["emergencyContacts"], json!([]));
    // at most three contacts
    let many = json!({"emergencyContacts": vec![care()["emergencyContacts"][0].clone(); 4]});
    problem(
        put_care(&app, &officer.token, &id, Some("\"3\""), many).await,
        400,
    )
    .await;
    // an unknown participant
    let unknown = uuid::Uuid::now_v7();
    problem(
        app.get(&format!("/participants/{unknown}/care"), &officer.token)
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn a_care_record_is_seen_by_the_exchange_roles_alone_and_leaves_by_no_other_channel() {
    let app = TestApp::spawn().await;
    let coordinator = app.account(&[Role::ExchangeCoordinator]).await;
    let officer = app.account(&[Role::ExchangeOfficer]).await;
    let admin = app.account(&[Role::Admin]).await;
    let id = learner(&app, &coordinator.token, "Noor").await;
    let resp = put_care(&app, &coordinator.token, &id, Some("\"1\""), care()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let path = format!("/participants/{id}/care");

    // the exchange roles read it; to everyone else it does not exist
    for token in [&coordinator.token, &officer.token] {
        assert_eq!(app.get(&path, token).await.status(), StatusCode::OK);
    }
    for roles in [
        &[Role::ShelterCoordinator][..],
        &[Role::RecordsOfficer],
        &[Role::Auditor],
        &[Role::Analyst],
    ] {
        let other = app.account(roles).await;
        problem(app.get(&path, &other.token).await, 404).await;
        problem(
            put_care(&app, &other.token, &id, Some("\"2\""), json!({})).await,
            404,
        )
        .await;
    }
    // no API client, whatever its scopes
    let (_, key) = app
        .api_client(&admin.token, &["exchange.read", "exchange.write"])
        .await;
    assert_ne!(app.get(&path, &key).await.status(), StatusCode::OK);
    assert_ne!(
        put_care(&app, &key, &id, Some("\"2\""), json!({}))
            .await
            .status(),
        StatusCode::OK
    );

    // each read is on record, by field name
    let events = app.audit_rows().await;
    let reads = events
        .iter()
        .filter(|e| {
            e.action == "read"
                && e.resource_id.as_deref() == Some(id.as_str())
                && e.changed_fields
                    .as_deref()
                    .is_some_and(|f| f.contains("care"))
        })
        .count();
    assert_eq!(reads, 2, "the coordinator's and the officer's reads");
    let change = events
        .iter()
        .find(|e| e.action == "participant.updated")
        .unwrap();
    assert!(change.changed_fields.as_deref().unwrap().contains("care"));

    // the participant's detail, list and search do not carry it
    let detail = app
        .get(&format!("/participants/{id}"), &officer.token)
        .await;
    let list = app.get("/participants", &officer.token).await;
    let search = app
        .post(
            "/participants/searches",
            Some(&officer.token),
            json!({"givenName": "Noor", "familyName": "de Vries"}),
        )
        .await;
    for resp in [detail, list, search] {
        let text = resp.text().await.unwrap();
        assert!(text.contains(&id), "{text}");
        for value in [
            GUARDIAN,
            GUARDIAN_PHONE,
            "w.oudejans",
            HOST_PHONE,
            "Quaresma",
        ] {
            assert!(!text.contains(value), "{value} in {text}");
        }
    }
    // nor do the audit trail's values, the events, or the database files
    let trail = format!("{events:?}");
    let outbox = casedesk::entities::outbox_events::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    let outbox = format!("{outbox:?}");
    let raw = raw_database_text(&app.db);
    for value in [
        GUARDIAN,
        GUARDIAN_PHONE,
        "w.oudejans",
        HOST_PHONE,
        "Quaresma",
    ] {
        assert!(!trail.contains(value), "{value} in the audit trail");
        assert!(!outbox.contains(value), "{value} in an event");
        assert!(!raw.contains(value), "{value} in the database files");
    }
}

/// `keys rotate --reencrypt` gives every participant with a data key a new
/// one and re-encrypts their care record under it; the old key is
/// destroyed (nothing else was sealed under it), so an old master key with
/// an old dump opens nothing of today. The service on the new key reads it.
#[tokio::test]
async fn rotation_with_reencrypt_gives_each_participant_a_new_key_and_destroys_the_old() {
    use casedesk::{
        crypto::MasterKey,
        entities::{data_keys, participants},
    };
    let mut app = TestApp::spawn().await;
    let officer = app.account(&[Role::ExchangeOfficer]).await;
    let id = learner(&app, &officer.token, "Ilse").await;
    let resp = put_care(&app, &officer.token, &id, Some("\"1\""), care()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let db = app.state.db.clone();
    let config = (*app.state.config).clone();
    let old_master = config.master_key.clone().unwrap();
    let row = |db: sea_orm::DatabaseConnection, id: uuid::Uuid| async move {
        participants::Entity::find_by_id(id)
            .one(&db)
            .await
            .unwrap()
            .unwrap()
    };
    let pid: uuid::Uuid = id.parse().unwrap();
    let before = row(db.clone(), pid).await;
    app.stop().await;

    let new_master = MasterKey::generate();
    let file = std::env::temp_dir().join(format!(
        "casedesk-new-{}.key",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::write(&file, &*new_master.to_base64()).unwrap();
    let out = common::process::command(&config.database_url, &[])
        .env("CASEDESK_MASTER_KEY", &*old_master.to_base64())
        .args(["keys", "rotate", "--reencrypt", "--new-key-file"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    std::fs::remove_file(&file).ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("gave 1 participants new data keys"),
        "{stdout}"
    );

    let after = row(db.clone(), pid).await;
    assert_ne!(after.data_key_id, before.data_key_id);
    assert_ne!(after.care_enc, before.care_enc);
    assert_eq!(
        after.version, before.version,
        "re-encryption changes no value"
    );
    let old_key = data_keys::Entity::find_by_id(before.data_key_id.unwrap())
        .one(&db)
        .await
        .unwrap();
    assert!(old_key.is_none(), "the old data key was kept");

    let mut config = config;
    config.master_key = Some(new_master);
    let restarted = TestApp::start(config, common::TestDb::Shared).await;
    let shown: Value = restarted
        .get(&format!("/participants/{id}/care"), &officer.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["legalRepresentative"]["name"], GUARDIAN);
    assert_eq!(shown["emergencyContacts"][0]["phone"], HOST_PHONE);
}
