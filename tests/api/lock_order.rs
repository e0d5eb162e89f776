//! The lock order between a record and its parts (issue 31): a write that
//! touches a defender and their stays takes the defender first, then the
//! stays; a participant and their placements likewise. An erasure or a
//! destruction goes container first, so a status change that took the part
//! first and then waited for the container deadlocked with it on PostgreSQL
//! (one rolled back; the caller got a 503 to retry).
//!
//! Each test holds the container's row lock in a transaction of its own, as
//! an erasure does, starts a status change through the API, waits until it
//! is blocked, and then writes the part as the erasure would next: that
//! write must not wait for the status change. On SQLite the write
//! transaction is exclusive, so there is no order to check: skipped, and
//! it says so.

use crate::common;

use std::time::Duration;

use casedesk::accounts::model::Role;
use common::{
    bodies::{NewDefender, NewInstitution, NewParticipant, NewPlacement, NewStay},
    TestApp,
};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use serde_json::json;

/// Waits until another session waits for transaction `txn` (which holds
/// the container's row lock) to end.
async fn until_it_waits_for(app: &TestApp, txn: &DatabaseTransaction) {
    let xid: i64 = txn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT txid_current() AS xid",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "xid")
        .unwrap();
    for _ in 0..400 {
        let row = app
            .state
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT count(*) AS n FROM pg_locks WHERE NOT granted \
                     AND locktype = 'transactionid' AND transactionid::text = '{xid}'"
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the status change never waited for the container's lock");
}

/// In `txn` (which holds the container's lock): writes row `id` of `table`
/// as an erasure would, with a lock timeout instead of a deadlock.
async fn write_part(txn: &DatabaseTransaction, table: &str, id: &str) {
    txn.execute_unprepared("SET LOCAL lock_timeout = '5s'")
        .await
        .unwrap();
    let written = txn
        .execute_unprepared(&format!(
            "UPDATE {table} SET version = version WHERE id = '{id}'"
        ))
        .await;
    assert!(
        written.is_ok(),
        "the status change took the {table} row before its container's lock: {written:?}"
    );
}

#[tokio::test]
async fn a_stay_status_change_waits_for_its_defender_before_it_takes_the_stay() {
    let app = TestApp::spawn().await;
    if !app.db.is_postgres() {
        eprintln!("skipped: runs with CASEDESK_TEST_DATABASE_URL (the PostgreSQL pass)");
        return;
    }
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let t = coordinator.token.as_str();
    let defender = NewDefender::named("Osprey").with_legal_name("Wanjiru Kamau");
    let defender_id = app.create_id("/defenders", t, defender).await;
    let stay_id = app.create_id("/stays", t, NewStay::of(&defender_id)).await;

    let erasure = app.state.db.begin().await.unwrap();
    erasure
        .execute_unprepared(&format!(
            "SELECT id FROM defenders WHERE id = '{defender_id}' FOR UPDATE"
        ))
        .await
        .unwrap();
    let change = tokio::spawn(
        app.request(
            Method::POST,
            &format!("/stays/{stay_id}/status-changes"),
            Some(t),
        )
        .json(&json!({"to": "intake"}))
        .send(),
    );
    until_it_waits_for(&app, &erasure).await;
    write_part(&erasure, "stays", &stay_id).await;
    erasure.rollback().await.unwrap();
    let answer = change.await.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_placement_status_change_waits_for_its_participant_before_it_takes_the_placement() {
    let app = TestApp::spawn().await;
    if !app.db.is_postgres() {
        eprintln!("skipped: runs with CASEDESK_TEST_DATABASE_URL (the PostgreSQL pass)");
        return;
    }
    let officer = app.account(&[Role::ExchangeCoordinator]).await;
    let t = officer.token.as_str();
    let home = app
        .create_id("/institutions", t, NewInstitution::home())
        .await;
    let partner = app
        .create_id("/institutions", t, NewInstitution::partner())
        .await;
    let learner = NewParticipant::named("Sem", &home);
    let participant_id = app.create_id("/participants", t, learner).await;
    let placement = NewPlacement::outgoing(&participant_id, &home, &partner);
    let placement_id = app.create_id("/placements", t, placement).await;

    let destruction = app.state.db.begin().await.unwrap();
    destruction
        .execute_unprepared(&format!(
            "SELECT id FROM participants WHERE id = '{participant_id}' FOR UPDATE"
        ))
        .await
        .unwrap();
    let change = tokio::spawn(
        app.request(
            Method::POST,
            &format!("/placements/{placement_id}/status-changes"),
            Some(t),
        )
        .json(&json!({"to": "nominated"}))
        .send(),
    );
    until_it_waits_for(&app, &destruction).await;
    write_part(&destruction, "placements", &placement_id).await;
    destruction.rollback().await.unwrap();
    let answer = change.await.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
}
