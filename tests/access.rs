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
    ])
}

struct Operation {
    id: String,
    method: Method,
    path: String,
}

fn operations() -> Vec<Operation> {
    let doc = casedesk::spec_document();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let concrete: Vec<String> = path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        uuid::Uuid::now_v7().to_string()
                    } else {
                        s.to_owned()
                    }
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
    let ops = operations();
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
            let status = call(&app, op, Some(&account.token)).await;
            let allowed = match rule {
                None => true,
                Some(roles) => roles.is_empty() || roles.contains(role),
            };
            let denied = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
            if allowed == denied || status.is_server_error() {
                failures.push(format!(
                    "{} as {}: {status}, expected {}",
                    op.id,
                    role.as_str(),
                    if allowed { "allowed" } else { "403" }
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
