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

/// Which staff may call an operation.
#[derive(Debug, Clone, Copy)]
enum Staff {
    Public,
    Any,
    Roles(&'static [Role]),
    Nobody,
}
use Staff::{Any, Nobody, Public, Roles};

/// Who may call each operation.
fn expected() -> BTreeMap<&'static str, Staff> {
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
        ("createSession", Public),
        ("deleteCurrentSession", Any),
        ("getMe", Any),
        ("changeMyPassword", Any),
        ("enrolTotp", Any),
        ("confirmTotp", Any),
        ("deactivateTotp", Any),
        ("listStaff", Roles(&[Role::Admin][..])),
        ("createStaff", Roles(&[Role::Admin][..])),
        ("getStaff", Roles(&[Role::Admin][..])),
        ("updateStaff", Roles(&[Role::Admin][..])),
        ("resetStaffPassword", Roles(&[Role::Admin][..])),
        ("listAuditEvents", Roles(&[Role::Auditor][..])),
        ("verifyAuditChain", Roles(&[Role::Auditor][..])),
        ("listDefenders", Roles(SHELTER)),
        ("createDefender", Roles(COORDINATOR)),
        ("getDefender", Roles(SHELTER)),
        ("updateDefender", Roles(COORDINATOR)),
        ("eraseDefender", Roles(COORDINATOR)),
        ("searchDefenders", Roles(COORDINATOR)),
        ("listConsents", Roles(SHELTER)),
        ("createConsent", Roles(COORDINATOR)),
        ("revokeConsent", Roles(COORDINATOR)),
        ("listStays", Roles(SHELTER)),
        ("createStay", Roles(COORDINATOR)),
        ("getStay", Roles(SHELTER)),
        ("updateStay", Roles(SHELTER)),
        ("listStayStatusChanges", Roles(SHELTER)),
        ("changeStayStatus", Roles(SHELTER)),
        ("listAssignments", Roles(SHELTER)),
        ("assignStaff", Roles(COORDINATOR)),
        ("unassignStaff", Roles(COORDINATOR)),
        ("listNotes", Roles(SHELTER)),
        ("createNote", Roles(SHELTER)),
        ("listRiskAssessments", Roles(SHELTER)),
        ("createRiskAssessment", Roles(SHELTER)),
        ("listOverdueRiskReviews", Roles(SHELTER)),
        ("listActivities", Roles(SHELTER)),
        ("createActivity", Roles(SHELTER)),
        ("listCheckIns", Roles(SHELTER)),
        ("recordCheckIn", Roles(SHELTER)),
        ("listInstitutions", Roles(EXCHANGE)),
        ("createInstitution", Roles(EXCHANGE_COORDINATOR)),
        ("getInstitution", Roles(EXCHANGE)),
        ("updateInstitution", Roles(EXCHANGE_COORDINATOR)),
        ("listAgreements", Roles(EXCHANGE)),
        ("createAgreement", Roles(EXCHANGE_COORDINATOR)),
        ("getAgreement", Roles(EXCHANGE)),
        ("updateAgreement", Roles(EXCHANGE_COORDINATOR)),
        ("listParticipants", Roles(EXCHANGE)),
        ("createParticipant", Roles(EXCHANGE)),
        ("getParticipant", Roles(EXCHANGE)),
        ("updateParticipant", Roles(EXCHANGE)),
        ("searchParticipants", Roles(EXCHANGE)),
        ("listPlacements", Roles(EXCHANGE)),
        ("createPlacement", Roles(EXCHANGE)),
        ("getPlacement", Roles(EXCHANGE)),
        ("updatePlacement", Roles(EXCHANGE)),
        ("listPlacementStatusChanges", Roles(EXCHANGE)),
        ("changePlacementStatus", Roles(EXCHANGE)),
        ("listGrantRates", Roles(EXCHANGE)),
        ("createGrantRates", Roles(EXCHANGE_COORDINATOR)),
        ("getGrantRates", Roles(EXCHANGE)),
        ("replaceGrantRates", Roles(EXCHANGE_COORDINATOR)),
        ("placementStatistics", Roles(STATISTICS)),
        ("placementShareStatistics", Roles(STATISTICS)),
        ("defendersHostedStatistics", Roles(STATISTICS)),
        ("listStaySummaries", Roles(SHELTER)),
        ("getStaySummary", Roles(SHELTER)),
        ("listApiClients", Roles(&[Role::Admin][..])),
        ("createApiClient", Roles(&[Role::Admin][..])),
        ("getApiClient", Roles(&[Role::Admin][..])),
        ("updateApiClient", Roles(&[Role::Admin][..])),
        ("revokeApiClient", Roles(&[Role::Admin][..])),
        ("createApiClientKey", Roles(&[Role::Admin][..])),
        ("listSubscriptions", Roles(&[Role::Admin][..])),
        ("createSubscription", Roles(&[Role::Admin][..])),
        ("getSubscription", Roles(&[Role::Admin][..])),
        ("updateSubscription", Roles(&[Role::Admin][..])),
        ("deleteSubscription", Roles(&[Role::Admin][..])),
        ("listFailedDeliveries", Roles(&[Role::Admin][..])),
        ("retryFailedDelivery", Roles(&[Role::Admin][..])),
        ("listEvents", Nobody),
    ])
}

/// The column per API client scope: the operations a client holding only
/// that scope may call. Every other operation refuses it.
fn scope_columns() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        (
            "exchange.read",
            &[
                "listInstitutions",
                "getInstitution",
                "listAgreements",
                "getAgreement",
                "listParticipants",
                "getParticipant",
                "searchParticipants",
                "listPlacements",
                "getPlacement",
                "listPlacementStatusChanges",
                "listGrantRates",
                "getGrantRates",
            ][..],
        ),
        (
            "exchange.write",
            &[
                "createInstitution",
                "updateInstitution",
                "createAgreement",
                "updateAgreement",
                "createParticipant",
                "updateParticipant",
                "createPlacement",
                "updatePlacement",
                "changePlacementStatus",
            ][..],
        ),
        ("stays.read", &["listStaySummaries", "getStaySummary"][..]),
        (
            "statistics.read",
            &[
                "placementStatistics",
                "placementShareStatistics",
                "defendersHostedStatistics",
            ][..],
        ),
        ("events.read", &["listEvents"][..]),
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
            | "listApiClients"
            | "createApiClient"
            | "getApiClient"
            | "updateApiClient"
            | "revokeApiClient"
            | "createApiClientKey"
            | "listSubscriptions"
            | "createSubscription"
            | "getSubscription"
            | "updateSubscription"
            | "deleteSubscription"
            | "listFailedDeliveries"
            | "retryFailedDelivery"
            | "listEvents"
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
    let admin = accounts
        .iter()
        .find(|(r, _)| *r == Role::Admin)
        .map(|(_, a)| a.token.clone())
        .unwrap();
    let columns = scope_columns();
    let mut clients = Vec::new();
    for (scope, allowed) in &columns {
        for op in *allowed {
            assert!(table.contains_key(op), "scope column names unknown {op}");
        }
        let (id, key) = app.api_client(&admin, &[scope]).await;
        clients.push((*scope, *allowed, id, key));
    }
    let mut failures = Vec::new();
    for op in &ops {
        let rule = table[op.id.as_str()];
        let anonymous = call(&app, op, None).await;
        match rule {
            Public => {
                if matches!(anonymous, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                    failures.push(format!(
                        "{} without token: {anonymous}, expected public",
                        op.id
                    ));
                }
            }
            _ => {
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
                Public | Any => true,
                Roles(roles) => roles.contains(role),
                Nobody => false,
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
        for (scope, scoped_ops, client_id, key) in &clients {
            let before = denials(&app, &op.id, *client_id).await;
            let status = call(&app, op, Some(key)).await;
            let denied = denials(&app, &op.id, *client_id).await > before;
            let allowed = matches!(rule, Public) || scoped_ops.contains(&op.id.as_str());
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
                    "{} as client with {scope}: {status} (refused by the guard: {denied}), expected {}",
                    op.id,
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
