//! Shelter City at scale: 10,000 defenders, each with a stay, a note and a
//! risk assessment; then stay detail reads (decrypt + audit), summary reads,
//! and the first and 100th page of the stay list, at 1 and 32 clients.
//! `cargo bench --bench shelter` (SQLite) or with `CASEDESK_TEST_DATABASE_URL`
//! (PostgreSQL). Prints figures; asserts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::{sync::Arc, time::Instant};

use casedesk::accounts::model::Role;
use common::TestApp;
use serde_json::{json, Value};
use support::{drive, header, row};

const COUNTRIES: [&str; 5] = ["UG", "KE", "CO", "PH", "BY"];

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let defenders: usize = std::env::var("CASEDESK_BENCH_DEFENDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let app = Arc::new(TestApp::spawn_with(|c| c.database_max_connections = 16).await);
    let backend = if app.db.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let caseworker = app.account(&[Role::ShelterCaseworker]).await;
    println!("casedesk Shelter City benchmark on {backend}: seeding {defenders} defenders with a stay, a note and a risk assessment each");

    let seeding = Instant::now();
    let token = Arc::new(coordinator.token.clone());
    let stay_ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(defenders)));
    {
        let (app, token, stay_ids) = (app.clone(), token.clone(), stay_ids.clone());
        let seeded = drive(8, defenders, move |i| {
            let (app, token, stay_ids) = (app.clone(), token.clone(), stay_ids.clone());
            async move {
                let d: Value = app
                    .post("/defenders", Some(&token), json!({
                        "codename": format!("Bench{i:05}"), "countryOfWork": COUNTRIES[i % 5],
                        "fieldOfWork": "journalism", "languages": ["English"], "riskLevel": "high",
                        "identity": {"legalName": format!("Person Number {i}"), "passportNumber": format!("P{i:08}")}
                    }))
                    .await
                    .json()
                    .await
                    .unwrap();
                let s: Value = app
                    .post("/stays", Some(&token), json!({
                        "defenderId": d["id"], "intakeRound": if i % 2 == 0 { "2026-spring" } else { "2026-autumn" },
                        "plannedArrival": format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28), "plannedDeparture": "2027-01-01",
                        "visaStatus": "granted", "insuranceArranged": true, "confidentiality": "restricted",
                        "accommodationAddress": format!("Safe house {i}, Amsterdam")
                    }))
                    .await
                    .json()
                    .await
                    .unwrap();
                let sid = s["id"].as_str().unwrap().to_owned();
                let n = app.post(&format!("/stays/{sid}/notes"), Some(&token), json!({"category": "safety", "body": format!("Note {i}")})).await;
                let r = app
                    .post(&format!("/stays/{sid}/risk-assessments"), Some(&token), json!({"level": "high", "threats": "t", "measures": "m", "nextReviewOn": "2027-01-01"}))
                    .await;
                let ok = n.status() == 201 && r.status() == 201;
                stay_ids.lock().unwrap().push(sid);
                ok
            }
        })
        .await;
        println!(
            "seeded in {:.1} s ({:.0} requests/s, {} errors)",
            seeding.elapsed().as_secs_f64(),
            (seeded.requests * 4) as f64 / seeding.elapsed().as_secs_f64(),
            seeded.errors
        );
    }
    let ids: Arc<Vec<String>> = Arc::new(stay_ids.lock().unwrap().clone());

    // the cursor of the 100th page (50 a page), or the last of a smaller seed
    let deep = (defenders / 50).clamp(2, 100);
    let mut cursor = String::new();
    for _ in 0..deep - 1 {
        let path = if cursor.is_empty() {
            "/stays?limit=50".to_owned()
        } else {
            format!("/stays?limit=50&cursor={cursor}")
        };
        let page: Value = app
            .get(&path, &coordinator.token)
            .await
            .json()
            .await
            .unwrap();
        cursor = page["next"].as_str().unwrap().to_owned();
    }
    let page100 = Arc::new(format!("/stays?limit=50&cursor={cursor}"));

    println!();
    header();
    for clients in [1, 32] {
        let total = if clients == 1 { 500 } else { 3000 };
        let (a, t, i) = (app.clone(), token.clone(), ids.clone());
        let f = drive(clients, total, move |n| {
            let (a, t, i) = (a.clone(), t.clone(), i.clone());
            async move {
                a.get(&format!("/stays/{}", i[n * 7919 % i.len()]), &t)
                    .await
                    .status()
                    == 200
            }
        })
        .await;
        row("stay detail (decrypt + audit)", clients, &f);

        let (a, i) = (app.clone(), ids.clone());
        let t2 = Arc::new(caseworker.token.clone());
        let f = drive(clients, total, move |n| {
            let (a, t, i) = (a.clone(), t2.clone(), i.clone());
            async move {
                a.get(&format!("/stays/{}", i[n * 7919 % i.len()]), &t)
                    .await
                    .status()
                    == 200
            }
        })
        .await;
        row("stay summary (unassigned, no audit)", clients, &f);

        let (a, t) = (app.clone(), token.clone());
        let f = drive(clients, total, move |_| {
            let (a, t) = (a.clone(), t.clone());
            async move { a.get("/stays?limit=50", &t).await.status() == 200 }
        })
        .await;
        row("stay list, page 1", clients, &f);

        let (a, t, p) = (app.clone(), token.clone(), page100.clone());
        let f = drive(clients, total, move |_| {
            let (a, t, p) = (a.clone(), t.clone(), p.clone());
            async move { a.get(&p, &t).await.status() == 200 }
        })
        .await;
        row(&format!("stay list, page {deep}"), clients, &f);
    }
}
