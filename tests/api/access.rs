//! The route-by-role table: every operation in the spec, called with no
//! token and with a token of each role, gets the outcome this table expects.
//! A new operation without a row here fails the test (deny by default is
//! proven, not assumed). Later issues add rows and columns.

use crate::common;

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
    const RECORDS: &[Role] = &[Role::RecordsOfficer];
    const DESTRUCTION: &[Role] = &[
        Role::RecordsOfficer,
        Role::ShelterCoordinator,
        Role::ExchangeCoordinator,
    ];
    const STATISTICS: &[Role] = &[
        Role::Analyst,
        Role::ExchangeCoordinator,
        Role::ShelterCoordinator,
    ];
    BTreeMap::from([
        ("createSession", Public),
        ("createEnrolment", Public),
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
        (
            "listRoleGrants",
            Roles(
                &[
                    Role::Admin,
                    Role::ShelterCoordinator,
                    Role::ExchangeCoordinator,
                ][..],
            ),
        ),
        (
            "approveRoleGrant",
            Roles(
                &[
                    Role::Admin,
                    Role::ShelterCoordinator,
                    Role::ExchangeCoordinator,
                ][..],
            ),
        ),
        (
            "rejectRoleGrant",
            Roles(
                &[
                    Role::Admin,
                    Role::ShelterCoordinator,
                    Role::ExchangeCoordinator,
                ][..],
            ),
        ),
        ("listAuditEvents", Roles(&[Role::Auditor][..])),
        ("verifyAuditChain", Roles(&[Role::Auditor][..])),
        ("listAuditCheckpoints", Roles(&[Role::Auditor][..])),
        ("createAuditCheckpoint", Roles(&[Role::Auditor][..])),
        ("verifyAuditCheckpoint", Roles(&[Role::Auditor][..])),
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
        ("getParticipantCare", Roles(EXCHANGE)),
        ("replaceParticipantCare", Roles(EXCHANGE)),
        ("searchParticipants", Roles(EXCHANGE)),
        ("listPlacements", Roles(EXCHANGE)),
        ("exportPlacements", Roles(EXCHANGE)),
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
        ("createSubscriptionSecret", Roles(&[Role::Admin][..])),
        ("pingSubscription", Roles(&[Role::Admin][..])),
        ("listEvents", Nobody),
        ("listRetentionRules", Roles(RECORDS)),
        ("getRetentionRule", Roles(RECORDS)),
        ("updateRetentionRule", Roles(RECORDS)),
        ("listArchiveRecords", Roles(RECORDS)),
        ("getArchiveRecord", Roles(RECORDS)),
        ("updateArchiveRecord", Roles(RECORDS)),
        ("destructionTotals", Roles(RECORDS)),
        ("listDestructionLists", Roles(DESTRUCTION)),
        ("createDestructionList", Roles(RECORDS)),
        ("getDestructionList", Roles(DESTRUCTION)),
        ("listDestructionListItems", Roles(DESTRUCTION)),
        ("changeDestructionListStatus", Roles(RECORDS)),
        ("deleteDestructionList", Roles(RECORDS)),
        ("removeDestructionListItem", Roles(RECORDS)),
        (
            "reviewDestructionList",
            Roles(&[Role::ShelterCoordinator, Role::ExchangeCoordinator][..]),
        ),
        ("getDestructionReport", Roles(RECORDS)),
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
                "exportPlacements",
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
        (
            "webhooks.manage",
            &[
                "listSubscriptions",
                "createSubscription",
                "getSubscription",
                "updateSubscription",
                "deleteSubscription",
                "listFailedDeliveries",
                "retryFailedDelivery",
                "createSubscriptionSecret",
                "pingSubscription",
            ][..],
        ),
    ])
}

/// Operations whose refusals look like "does not exist" (need to know).
fn hidden(op: &str) -> bool {
    !matches!(
        op,
        "createSession"
            | "createEnrolment"
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
            | "listRoleGrants"
            | "approveRoleGrant"
            | "rejectRoleGrant"
            | "listAuditEvents"
            | "verifyAuditChain"
            | "listAuditCheckpoints"
            | "createAuditCheckpoint"
            | "verifyAuditCheckpoint"
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
            | "createSubscriptionSecret"
            | "pingSubscription"
            | "listEvents"
            | "listRetentionRules"
            | "getRetentionRule"
            | "updateRetentionRule"
            | "listArchiveRecords"
            | "getArchiveRecord"
            | "updateArchiveRecord"
            | "destructionTotals"
            | "createDestructionList"
            | "changeDestructionListStatus"
            | "deleteDestructionList"
            | "removeDestructionListItem"
            | "getDestructionReport"
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

async fn call_as(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> StatusCode {
    let mut rb = app.request(method.clone(), path, token);
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        rb = rb.json(&json!({}));
    }
    if *method == Method::PATCH {
        rb = rb.header("if-match", "\"1\"");
    }
    rb.send().await.unwrap().status()
}

/// The methods a request for an operation can be made with: its own, and
/// HEAD for every GET (the server answers HEAD with the GET handler).
fn methods_of(op: &Operation) -> Vec<Method> {
    if op.method == Method::GET {
        vec![Method::GET, Method::HEAD]
    } else {
        vec![op.method.clone()]
    }
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
    for &role in Role::ALL {
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
        for method in methods_of(op) {
            let rule = table[op.id.as_str()];
            let anonymous = call_as(&app, &method, &op.path, None).await;
            match rule {
                Public => {
                    if matches!(anonymous, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                        failures.push(format!(
                            "{method} {} without token: {anonymous}, expected public",
                            op.id
                        ));
                    }
                }
                _ => {
                    if anonymous != StatusCode::UNAUTHORIZED {
                        failures.push(format!(
                            "{method} {} without token: {anonymous}, expected 401",
                            op.id
                        ));
                    }
                }
            }
            for (role, account) in &accounts {
                let before = denials(&app, &op.id, account.id).await;
                let status = call_as(&app, &method, &op.path, Some(&account.token)).await;
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
                        "{method} {} as {}: {status} (refused by the guard: {denied}), expected {}",
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
                let status = call_as(&app, &method, &op.path, Some(key)).await;
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
                    "{method} {} as client with {scope}: {status} (refused by the guard: {denied}), expected {}",
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

/// Every method a client can send, the standard ones and an extension.
fn every_method() -> Vec<Method> {
    vec![
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::from_bytes(b"PROPFIND").unwrap(),
    ]
}

/// Requests that match no operation (a method a path does not have, an
/// unknown path under the API) are refused by the guard before any handler:
/// 405 with `Allow`, or 404, as problems, with or without a token, and
/// nothing of the data leaks in a header.
#[tokio::test]
async fn every_method_on_every_path_is_decided_by_the_guard() {
    let app = TestApp::spawn().await;
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let admin = app.account(&[Role::Admin]).await;
    // one id for every parameter, so that the operations of one path template
    // land on one concrete path
    let fixed = uuid::Uuid::now_v7().to_string();
    let mut by_path: BTreeMap<String, Vec<Method>> = BTreeMap::new();
    for (template, item) in casedesk::spec_document()["paths"].as_object().unwrap() {
        let path: Vec<String> = template
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    fixed.clone()
                } else {
                    s.to_owned()
                }
            })
            .collect();
        for method in item.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let entry = by_path.entry(path.join("/")).or_default();
            if method == Method::GET {
                entry.push(Method::HEAD);
            }
            entry.push(method);
        }
    }
    let mut failures = Vec::new();
    for (path, allowed) in &by_path {
        for method in every_method() {
            if allowed.contains(&method) {
                continue;
            }
            for token in [
                None,
                Some(coordinator.token.as_str()),
                Some(admin.token.as_str()),
            ] {
                let resp = app
                    .request(method.clone(), path, token)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                let allow = resp
                    .headers()
                    .get("allow")
                    .map(|v| v.to_str().unwrap().to_owned());
                let leaks = ["link", "etag", "location"]
                    .iter()
                    .any(|h| resp.headers().contains_key(*h));
                let is_problem = resp
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v.to_str().unwrap().starts_with("application/problem+json"));
                let expected_allow: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
                let allow_ok = allow.as_deref().is_some_and(|a| {
                    let listed: Vec<&str> = a.split(", ").collect();
                    expected_allow.iter().all(|m| listed.contains(m))
                        && listed.len() == expected_allow.len()
                });
                if status != StatusCode::METHOD_NOT_ALLOWED || !allow_ok || leaks || !is_problem {
                    failures.push(format!(
                        "{method} {path} (token: {}): {status}, Allow {allow:?}, expected 405 with {expected_allow:?}; data headers: {leaks}; problem: {is_problem}",
                        token.is_some()
                    ));
                }
            }
        }
    }
    // paths that are not in the spec at all, including a trailing slash
    for path in [
        "/nothing-here",
        "/defenders/",
        "/defenders/x/y/z",
        "/staff/me/",
    ] {
        for method in every_method() {
            let resp = app
                .request(method.clone(), path, Some(&coordinator.token))
                .send()
                .await
                .unwrap();
            if resp.status() != StatusCode::NOT_FOUND {
                failures.push(format!("{method} {path}: {}, expected 404", resp.status()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The outside review's request: `curl -I` on the defender list without
/// credentials answered 200 with a `Link` and an `ETag`.
#[tokio::test]
async fn head_without_credentials_is_refused_like_get_and_audited() {
    let app = TestApp::spawn().await;
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    for i in 0..3 {
        let resp = app
            .post(
                "/defenders",
                Some(&coordinator.token),
                json!({"codename": format!("Head{i}"), "countryOfWork": "SY", "fieldOfWork": "journalism", "languages": [], "riskLevel": "high"}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let before = app
        .audit_rows()
        .await
        .iter()
        .filter(|e| e.action == "access.denied")
        .count();
    for path in [
        "/defenders?limit=1&countryOfWork=SY",
        "/staff?limit=1",
        "/stays",
        "/staff/me",
        "/audit-events",
    ] {
        let resp = app.request(Method::HEAD, path, None).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "HEAD {path}");
        for header in ["link", "etag"] {
            assert!(
                !resp.headers().contains_key(header),
                "HEAD {path} answers {header}"
            );
        }
        assert!(resp.headers().contains_key("www-authenticate"));
    }
    let after = app
        .audit_rows()
        .await
        .iter()
        .filter(|e| e.action == "access.denied")
        .count();
    assert!(after > before, "the refusals are audited");
    // and with a token HEAD is GET: the same answer, the same need to know
    let analyst = app.account(&[Role::Analyst]).await;
    let resp = app
        .request(Method::HEAD, "/defenders?limit=1", Some(&analyst.token))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app
        .request(Method::HEAD, "/defenders?limit=1", Some(&coordinator.token))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().contains_key("link"));
}
