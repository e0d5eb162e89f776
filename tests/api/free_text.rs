//! Free text written about a defender (a stay's referring organisation and
//! local partner, status change reasons, activity titles, the
//! `X-Audit-Reason` of requests about it) is protected like its identity:
//! never in the database in plaintext, shown to those who need to know, and
//! shredded when the defender is erased. Plaintext that an earlier version
//! stored is sealed when the service starts.

use crate::common;

use casedesk::accounts::model::Role;
use common::{raw_database_text, Account, TestApp, TestDb};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

/// A defender with a stay carrying free text marked with `tag`; returns
/// the defender's and the stay's ids.
async fn defender_with_text(app: &TestApp, coordinator: &Account, tag: &str) -> (String, String) {
    let defender: Value = app
        .post(
            "/defenders",
            Some(&coordinator.token),
            json!({"codename": format!("Code{tag}"), "countryOfWork": "SY", "fieldOfWork": "journalism", "languages": [], "riskLevel": "high"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let defender = defender["id"].as_str().unwrap().to_owned();
    let resp = app
        .post(
            "/stays",
            Some(&coordinator.token),
            json!({
                "defenderId": defender, "intakeRound": "2026-autumn",
                "referringOrganisation": format!("REFERRER-{tag} human rights network"),
                "localPartner": format!("PARTNER-{tag} foundation"),
                "plannedArrival": "2026-09-01", "plannedDeparture": "2026-12-01",
                "visaStatus": "granted", "insuranceArranged": true, "confidentiality": "restricted"
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let stay: Value = resp.json().await.unwrap();
    assert_eq!(
        stay["referringOrganisation"],
        format!("REFERRER-{tag} human rights network")
    );
    let stay = stay["id"].as_str().unwrap().to_owned();
    let reason = format!("AUDIT-{tag}: checking before the visa call");
    let resp = app
        .request(Method::POST, &format!("/stays/{stay}/status-changes"), Some(&coordinator.token))
        .header("x-audit-reason", &reason)
        .json(&json!({"to": "withdrawn", "reason": format!("REASON-{tag}: early return due to threat to family")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = app
        .request(Method::POST, &format!("/stays/{stay}/activities"), Some(&coordinator.token))
        .header("x-audit-reason", &reason)
        .json(&json!({"kind": "meeting", "title": format!("TITLE-{tag} meeting at the ministry"), "date": "2026-09-10", "public": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = app
        .request(
            Method::GET,
            &format!("/stays/{stay}"),
            Some(&coordinator.token),
        )
        .header("x-audit-reason", &reason)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    (defender, stay)
}

fn markers(tag: &str) -> Vec<String> {
    ["REFERRER", "PARTNER", "REASON", "TITLE", "AUDIT"]
        .iter()
        .map(|m| format!("{m}-{tag}"))
        .collect()
}

async fn shown(app: &TestApp, token: &str, stay: &str) -> (Value, Value, Value) {
    let detail: Value = app
        .get(&format!("/stays/{stay}"), token)
        .await
        .json()
        .await
        .unwrap();
    let changes: Value = app
        .get(&format!("/stays/{stay}/status-changes"), token)
        .await
        .json()
        .await
        .unwrap();
    let activities: Value = app
        .get(&format!("/stays/{stay}/activities"), token)
        .await
        .json()
        .await
        .unwrap();
    (detail, changes, activities)
}

#[tokio::test]
async fn free_text_about_a_defender_is_sealed_shown_to_who_needs_it_and_erased_with_it() {
    let app = TestApp::spawn().await;
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let auditor = app.account(&[Role::Auditor]).await;
    let (_, stay_a) = defender_with_text(&app, &coordinator, "A7731").await;
    let (defender_b, stay_b) = defender_with_text(&app, &coordinator, "B7731").await;

    // nothing of it is on disk in plaintext
    let raw = raw_database_text(&app.db);
    for marker in markers("A7731").into_iter().chain(markers("B7731")) {
        assert!(!raw.contains(&marker), "{marker} in the database");
    }
    // those who need to know read it, and the read is audited
    let (detail, changes, activities) = shown(&app, &coordinator.token, &stay_b).await;
    assert_eq!(detail["localPartner"], "PARTNER-B7731 foundation");
    assert_eq!(detail["visaStatus"], "granted");
    assert_eq!(
        changes["items"][0]["reason"],
        "REASON-B7731: early return due to threat to family"
    );
    assert_eq!(
        activities["items"][0]["title"],
        "TITLE-B7731 meeting at the ministry"
    );
    let rows = app.audit_rows().await;
    for fields in ["statusChanges", "activities", "localPartner"] {
        assert!(
            rows.iter().any(|e| e.action == "read"
                && e.resource_id.as_deref() == Some(stay_b.as_str())
                && e.changed_fields
                    .as_deref()
                    .is_some_and(|f| f.contains(fields))),
            "the read of {fields} is audited"
        );
    }
    // the auditor reads the reasons given about B, sealed under B's key
    let sealed_under_b: Vec<_> = rows
        .iter()
        .filter(|e| {
            e.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("sealed:v1:d:"))
        })
        .map(|e| e.id.to_string())
        .collect();
    assert!(sealed_under_b.len() >= 6, "{}", sealed_under_b.len());
    let seen = app.audit_as(&auditor.token).await;
    let reason_b = "AUDIT-B7731: checking before the visa call";
    assert!(seen.iter().any(|e| e["reason"] == reason_b));

    // B is erased: its free text and the reasons about it are gone; A's stay
    let etag = app
        .get(&format!("/defenders/{defender_b}"), &coordinator.token)
        .await
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let resp = app
        .request(
            Method::DELETE,
            &format!("/defenders/{defender_b}"),
            Some(&coordinator.token),
        )
        .header("if-match", etag)
        .header("x-audit-reason", "erasure requested by the defender")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let seen = app.audit_as(&auditor.token).await;
    let about_b: Vec<&Value> = seen
        .iter()
        .filter(|e| e["resourceId"] == stay_b.as_str() || e["resourceId"] == defender_b.as_str())
        .filter(|e| e["reasonGiven"] == true && e["action"] != "defender.erased")
        .collect();
    assert!(!about_b.is_empty());
    for e in about_b {
        assert!(
            e["reason"].is_null(),
            "a reason about B survived its erasure: {e}"
        );
    }
    assert!(seen
        .iter()
        .any(|e| e["reason"] == "AUDIT-A7731: checking before the visa call"));
    assert!(seen
        .iter()
        .any(|e| e["action"] == "defender.erased"
            && e["reason"] == "erasure requested by the defender"));
    let (detail, changes, activities) = shown(&app, &coordinator.token, &stay_a).await;
    assert_eq!(
        detail["referringOrganisation"],
        "REFERRER-A7731 human rights network"
    );
    assert_eq!(
        changes["items"][0]["reason"],
        "REASON-A7731: early return due to threat to family"
    );
    assert_eq!(
        activities["items"][0]["title"],
        "TITLE-A7731 meeting at the ministry"
    );
    let raw = raw_database_text(&app.db);
    for marker in markers("B7731") {
        assert!(
            !raw.contains(&marker),
            "{marker} in the database after erasure"
        );
    }
}

#[tokio::test]
async fn plaintext_an_earlier_version_stored_is_sealed_when_the_service_starts() {
    let first = TestApp::spawn().await;
    let coordinator = first.account(&[Role::ShelterCoordinator]).await;
    let (_, stay) = defender_with_text(&first, &coordinator, "C7731").await;
    // as an earlier version would have stored them
    let db = &first.state.db;
    let id = uuid::Uuid::parse_str(&stay).unwrap();
    {
        use casedesk::entities::{activities, stay_status_changes, stays};
        use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter};
        stays::Entity::update_many()
            .col_expr(
                stays::Column::ReferringOrganisation,
                Expr::value(Some("LEGACY-REFERRER-C7731")),
            )
            .col_expr(
                stays::Column::ReferringOrganisationEnc,
                Expr::value(Option::<String>::None),
            )
            .filter(stays::Column::Id.eq(id))
            .exec(db)
            .await
            .unwrap();
        stay_status_changes::Entity::update_many()
            .col_expr(
                stay_status_changes::Column::Reason,
                Expr::value(Some("LEGACY-REASON-C7731")),
            )
            .col_expr(
                stay_status_changes::Column::ReasonEnc,
                Expr::value(Option::<String>::None),
            )
            .filter(stay_status_changes::Column::StayId.eq(id))
            .filter(stay_status_changes::Column::ToStatus.eq("withdrawn"))
            .exec(db)
            .await
            .unwrap();
        activities::Entity::update_many()
            .col_expr(activities::Column::Title, Expr::value("LEGACY-TITLE-C7731"))
            .col_expr(
                activities::Column::TitleEnc,
                Expr::value(Option::<String>::None),
            )
            .filter(activities::Column::StayId.eq(id))
            .exec(db)
            .await
            .unwrap();
    }
    if first.db.is_postgres() {
        db.execute_unprepared("VACUUM").await.unwrap();
    }
    assert!(raw_database_text(&first.db).contains("LEGACY-REFERRER-C7731"));

    // the new version starts on this database
    let second = TestApp::start((*first.state.config).clone(), TestDb::Shared).await;
    let raw = raw_database_text(&first.db);
    for marker in [
        "LEGACY-REFERRER-C7731",
        "LEGACY-REASON-C7731",
        "LEGACY-TITLE-C7731",
    ] {
        assert!(!raw.contains(marker), "{marker} still in plaintext");
    }
    let (detail, changes, activities) = shown(&second, &coordinator.token, &stay).await;
    assert_eq!(detail["referringOrganisation"], "LEGACY-REFERRER-C7731");
    assert_eq!(changes["items"][0]["reason"], "LEGACY-REASON-C7731");
    assert_eq!(activities["items"][0]["title"], "LEGACY-TITLE-C7731");
}
