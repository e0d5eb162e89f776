//! The route-by-role table: every operation in the spec, called with no
//! token and with a token of each role, gets the outcome this table expects.
//! A new operation without a row here fails the test (deny by default is
//! proven, not assumed). Later issues add rows and columns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use casedesk::accounts::model::Role;
use common::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Who may call each operation: `None` public, `Some(&[])` any signed-in
/// staff member, otherwise these roles only.
fn expected() -> BTreeMap<&'static str, Option<&'static [Role]>> {
    const ANY: &[Role] = &[];
    const SHELTER: &[Role] = &[Role::ShelterCoordinator, Role::ShelterCaseworker];
    const COORDINATOR: &[Role] = &[Role::ShelterCoordinator];
    const EXCHANGE: &[Role] = &[Role::ExchangeCoordinator, Role::ExchangeOfficer];
    const EXCHANGE_COORDINATOR: &[Role] = &[Role::ExchangeCoordinator];
    const STATISTICS: &[Role] = &[
        Role::Analyst,
        Role::ExchangeCoordinator,
        Role::ShelterCoordinator,
    ];
    BTreeMap::from([
        ("createSession", None),
        ("deleteCurrentSession", Some(ANY)),
        ("getMe", Some(ANY)),
        ("changeMyPassword", Some(ANY)),
        ("enrolTotp", Some(ANY)),
        ("confirmTotp", Some(ANY)),
        ("deactivateTotp", Some(ANY)),
        ("listStaff", Some(&[Role::Admin][..])),
        ("createStaff", Some(&[Role::Admin][..])),
        ("getStaff", Some(&[Role::Admin][..])),
        ("updateStaff", Some(&[Role::Admin][..])),
        ("resetStaffPassword", Some(&[Role::Admin][..])),
        ("listAuditEvents", Some(&[Role::Auditor][..])),
        ("verifyAuditChain", Some(&[Role::Auditor][..])),
        ("listDefenders", Some(SHELTER)),
        ("createDefender", Some(COORDINATOR)),
        ("getDefender", Some(SHELTER)),
        ("updateDefender", Some(COORDINATOR)),
        ("eraseDefender", Some(COORDINATOR)),
        ("searchDefenders", Some(COORDINATOR)),
        ("listConsents", Some(SHELTER)),
        ("createConsent", Some(COORDINATOR)),
        ("revokeConsent", Some(COORDINATOR)),
        ("listStays", Some(SHELTER)),
        ("createStay", Some(COORDINATOR)),
        ("getStay", Some(SHELTER)),
        ("updateStay", Some(SHELTER)),
        ("listStayStatusChanges", Some(SHELTER)),
        ("changeStayStatus", Some(SHELTER)),
        ("listAssignments", Some(SHELTER)),
        ("assignStaff", Some(COORDINATOR)),
        ("unassignStaff", Some(COORDINATOR)),
        ("listNotes", Some(SHELTER)),
        ("createNote", Some(SHELTER)),
        ("listRiskAssessments", Some(SHELTER)),
        ("createRiskAssessment", Some(SHELTER)),
        ("listOverdueRiskReviews", Some(SHELTER)),
        ("listActivities", Some(SHELTER)),
        ("createActivity", Some(SHELTER)),
        ("listCheckIns", Some(SHELTER)),
        ("recordCheckIn", Some(SHELTER)),
        ("listInstitutions", Some(EXCHANGE)),
        ("createInstitution", Some(EXCHANGE_COORDINATOR)),
        ("getInstitution", Some(EXCHANGE)),
        ("updateInstitution", Some(EXCHANGE_COORDINATOR)),
        ("listAgreements", Some(EXCHANGE)),
        ("createAgreement", Some(EXCHANGE_COORDINATOR)),
        ("getAgreement", Some(EXCHANGE)),
        ("updateAgreement", Some(EXCHANGE_COORDINATOR)),
        ("listParticipants", Some(EXCHANGE)),
        ("createParticipant", Some(EXCHANGE)),
        ("getParticipant", Some(EXCHANGE)),
        ("updateParticipant", Some(EXCHANGE)),
        ("searchParticipants", Some(EXCHANGE)),
        ("listPlacements", Some(EXCHANGE)),
        ("createPlacement", Some(EXCHANGE)),
        ("getPlacement", Some(EXCHANGE)),
        ("updatePlacement", Some(EXCHANGE)),
        ("listPlacementStatusChanges", Some(EXCHANGE)),
        ("changePlacementStatus", Some(EXCHANGE)),
        ("listGrantRates", Some(EXCHANGE)),
        ("createGrantRates", Some(EXCHANGE_COORDINATOR)),
        ("getGrantRates", Some(EXCHANGE)),
        ("replaceGrantRates", Some(EXCHANGE_COORDINATOR)),
        ("placementStatistics", Some(STATISTICS)),
        ("placementShareStatistics", Some(STATISTICS)),
        ("defendersHostedStatistics", Some(STATISTICS)),
    ])
}

/// Operations whose refusals look like "does not exist" (need to know).
fn hidden(op: &str) -> bool {
    !matches!(
        op,
        "createSession"
            | "deleteCurrentSession"
            | "getMe"
            | "changeMyPassword"
            | "enrolTotp"
            | "confirmTotp"
            | "deactivateTotp"
            | "listStaff"
            | "createStaff"
            | "getStaff"
            | "updateStaff"
            | "resetStaffPassword"
            | "listAuditEvents"
            | "verifyAuditChain"
    )
}

struct Operation {
    id: String,
    method: Method,
    path: String,
}

fn operations(ids: &BTreeMap<&str, String>) -> Vec<Operation> {
    let doc = casedesk::spec_document();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let parts: Vec<&str> = path.split('/').collect();
            let concrete: Vec<String> = parts
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if !s.starts_with('{') {
                        return (*s).to_owned();
                    }
                    // a real resource where there is one, so that refusals can be told from absence
                    let key = if *s == "{id}" {
                        parts[i - 1]
                    } else {
                        s.trim_matches(|c| c == '{' || c == '}')
                    };
                    ids.get(key)
                        .cloned()
                        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
                })
                .collect();
            ops.push(Operation {
                id: op["operationId"].as_str().unwrap().to_owned(),
                method: method.to_uppercase().parse().unwrap(),
                path: concrete.join("/"),
            });
        }
    }
    // signing out ends the token: do it last
    ops.sort_by_key(|o| o.id == "deleteCurrentSession");
    ops
}

/// How often the guard refused this operation to this account (from the audit trail).
async fn denials(app: &TestApp, op: &str, actor: uuid::Uuid) -> usize {
    app.audit_rows()
        .await
        .iter()
        .filter(|e| {
            e.action == "access.denied"
                && e.resource_id.as_deref() == Some(op)
                && e.actor_id == Some(actor)
        })
        .count()
}

async fn call(app: &TestApp, op: &Operation, token: Option<&str>) -> StatusCode {
    let mut rb = app.request(op.method.clone(), &op.path, token);
    if matches!(op.method, Method::POST | Method::PUT | Method::PATCH) {
        rb = rb.json(&json!({}));
    }
    if op.method == Method::PATCH {
        rb = rb.header("if-match", "\"1\"");
    }
    rb.send().await.unwrap().status()
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says() {
    let app = TestApp::spawn().await;
    let table = expected();
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let defender: serde_json::Value = app
        .post("/defenders", Some(&coordinator.token), json!({"codename": "Table", "countryOfWork": "UG", "fieldOfWork": "labour", "languages": [], "riskLevel": "high"}))
        .await
        .json()
        .await
        .unwrap();
    let defender_id = defender["id"].as_str().unwrap().to_owned();
    let stay: serde_json::Value = app
        .post(
            "/stays",
            Some(&coordinator.token),
            json!({"defenderId": defender_id, "intakeRound": "2026-autumn", "plannedArrival": "2026-09-01", "plannedDeparture": "2026-12-01", "visaStatus": "to_apply", "insuranceArranged": false, "confidentiality": "restricted"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let ids = BTreeMap::from([
        ("defenders", defender_id),
        ("stays", stay["id"].as_str().unwrap().to_owned()),
        ("staff", coordinator.id.to_string()),
        ("staffId", coordinator.id.to_string()),
    ]);
    let ops = operations(&ids);
    for op in &ops {
        assert!(
            table.contains_key(op.id.as_str()),
            "operation {} has no row in the route-by-role table",
            op.id
        );
    }
    assert_eq!(
        ops.len(),
        table.len(),
        "the table names operations the spec does not have"
    );

    let mut accounts = Vec::new();
    for role in Role::ALL {
        accounts.push((role, app.account(&[role]).await));
    }
    let mut failures = Vec::new();
    for op in &ops {
        let rule = table[op.id.as_str()];
        let anonymous = call(&app, op, None).await;
        match rule {
            None => {
                if matches!(anonymous, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                    failures.push(format!(
                        "{} without token: {anonymous}, expected public",
                        op.id
                    ));
                }
            }
            Some(_) => {
                if anonymous != StatusCode::UNAUTHORIZED {
                    failures.push(format!(
                        "{} without token: {anonymous}, expected 401",
                        op.id
                    ));
                }
            }
        }
        for (role, account) in &accounts {
            let before = denials(&app, &op.id, account.id).await;
            let status = call(&app, op, Some(&account.token)).await;
            let denied = denials(&app, &op.id, account.id).await > before;
            let allowed = match rule {
                None => true,
                Some(roles) => roles.is_empty() || roles.contains(role),
            };
            let expected_denial = if hidden(&op.id) {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::FORBIDDEN
            };
            let ok = if allowed {
                !denied && !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
            } else {
                denied && status == expected_denial
            };
            if !ok || status.is_server_error() {
                failures.push(format!(
                    "{} as {}: {status} (refused by the guard: {denied}), expected {}",
                    op.id,
                    role.as_str(),
                    if allowed {
                        "allowed".to_owned()
                    } else {
                        expected_denial.to_string()
                    }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "route-by-role mismatches:\n{}",
        failures.join("\n")
    );

    // every refusal was written to the audit trail
    let denied = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|e| e.action == "access.denied")
        .count();
    assert!(denied >= ops.len(), "{denied} denials audited");
}
