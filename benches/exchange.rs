//! The exchange programme at scale: 100,000 placements over 20,000
//! participants; list pages (first and 1,000th) with and without filters,
//! placement creation, and each statistics query. `cargo bench --bench
//! exchange` (SQLite) or with `CASEDESK_TEST_DATABASE_URL` (PostgreSQL).
//! `CASEDESK_BENCH_PLACEMENTS` scales the seed. Prints figures; asserts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::{sync::Arc, time::Instant};

use casedesk::accounts::model::Role;
use common::TestApp;
use serde_json::{json, Value};
use support::{drive, header, row};

const LEVELS: [&str; 7] = ["mbo_1", "mbo_2", "mbo_3", "mbo_4", "hbo", "wo", "secondary"];

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn walk_to_page(app: &TestApp, token: &str, base: &str, page: usize) -> String {
    let mut cursor = String::new();
    for _ in 0..page - 1 {
        let sep = if base.contains('?') { '&' } else { '?' };
        let path = if cursor.is_empty() {
            base.to_owned()
        } else {
            format!("{base}{sep}cursor={cursor}")
        };
        let body: Value = app.get(&path, token).await.json().await.unwrap();
        match body["next"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}cursor={cursor}")
}

async fn run() {
    let placements: usize = std::env::var("CASEDESK_BENCH_PLACEMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let participants = (placements / 5).max(1);
    let app = Arc::new(TestApp::spawn_with(|c| c.database_max_connections = 16).await);
    let backend = if app.db.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let officer = app.account(&[Role::ExchangeCoordinator]).await;
    let analyst = app.account(&[Role::Analyst]).await;
    let token = Arc::new(officer.token.clone());
    println!("casedesk exchange benchmark on {backend}: {placements} placements over {participants} participants");

    let mut institutions = Vec::new();
    for (i, country) in ["NL", "PT", "DE", "ES", "FI", "PL", "IT", "TR"]
        .iter()
        .enumerate()
    {
        let b: Value = app
            .post("/institutions", Some(&token), json!({"name": format!("Institution {i}"), "kind": "mbo_college", "country": country, "city": "City", "sisterCity": i % 2 == 0}))
            .await
            .json()
            .await
            .unwrap();
        institutions.push(b["id"].as_str().unwrap().to_owned());
    }
    let institutions = Arc::new(institutions);
    let started = Instant::now();
    let ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(participants)));
    {
        let (app, token, inst, ids) = (
            app.clone(),
            token.clone(),
            institutions.clone(),
            ids.clone(),
        );
        drive(8, participants, move |i| {
            let (app, token, inst, ids) = (app.clone(), token.clone(), inst.clone(), ids.clone());
            async move {
                let resp = app
                    .post("/participants", Some(&token), json!({"givenName": format!("Learner{i}"), "familyName": "Bench", "dateOfBirth": "2006-01-01", "email": format!("l{i}@bench.example.nl"), "educationLevel": LEVELS[i % 7], "homeInstitutionId": inst[0], "fieldOfStudy": "Care", "nationality": "NL", "fewerOpportunities": i % 4 == 0}))
                    .await;
                let ok = resp.status() == 201;
                let b: Value = resp.json().await.unwrap();
                ids.lock().unwrap().push(b["id"].as_str().unwrap().to_owned());
                ok
            }
        })
        .await;
    }
    let people = Arc::new(ids.lock().unwrap().clone());
    {
        let (app, token, inst, people) = (
            app.clone(),
            token.clone(),
            institutions.clone(),
            people.clone(),
        );
        let f = drive(8, placements, move |i| {
            let (app, token, inst, people) = (app.clone(), token.clone(), inst.clone(), people.clone());
            async move {
                let start = format!("{}-{:02}-01", 2026 + (i % 2), 1 + i % 12);
                app.post("/placements", Some(&token), json!({"participantId": people[i % people.len()], "direction": if i % 3 == 0 { "incoming" } else { "outgoing" }, "sendingInstitutionId": inst[0], "receivingInstitutionId": inst[1 + i % 7], "kind": "traineeship", "plannedStart": start, "plannedEnd": "2028-01-01"}))
                    .await
                    .status()
                    == 201
            }
        })
        .await;
        println!(
            "seeded in {:.0} s ({} errors)",
            started.elapsed().as_secs_f64(),
            f.errors
        );
    }

    let page1000 = Arc::new(walk_to_page(&app, &token, "/placements?limit=50", 1000).await);
    let filtered1000 =
        Arc::new(walk_to_page(&app, &token, "/placements?limit=50&year=2027", 1000).await);
    println!();
    header();
    for clients in [1, 32] {
        let total = if clients == 1 { 300 } else { 2000 };
        let scenarios: Vec<(&str, String)> = vec![
            ("placement list, page 1", "/placements?limit=50".to_owned()),
            ("placement list, page 1000", page1000.to_string()),
            (
                "placement list year=2027, page 1",
                "/placements?limit=50&year=2027".to_owned(),
            ),
            (
                "placement list year=2027, page 1000",
                filtered1000.to_string(),
            ),
        ];
        for (name, path) in scenarios {
            let (a, t, p) = (app.clone(), token.clone(), Arc::new(path));
            let f = drive(clients, total, move |_| {
                let (a, t, p) = (a.clone(), t.clone(), p.clone());
                async move { a.get(&p, &t).await.status() == 200 }
            })
            .await;
            row(name, clients, &f);
        }
        let (a, t, inst, people) = (
            app.clone(),
            token.clone(),
            institutions.clone(),
            people.clone(),
        );
        let f = drive(clients, total / 2, move |i| {
            let (a, t, inst, people) = (a.clone(), t.clone(), inst.clone(), people.clone());
            async move {
                a.post("/placements", Some(&t), json!({"participantId": people[i % people.len()], "direction": "outgoing", "sendingInstitutionId": inst[0], "receivingInstitutionId": inst[2], "kind": "study", "plannedStart": "2027-09-01", "plannedEnd": "2028-01-31"}))
                    .await
                    .status()
                    == 201
            }
        })
        .await;
        row("placement create", clients, &f);
        for path in [
            "/statistics/placements",
            "/statistics/placements?year=2027&direction=outgoing",
            "/statistics/placement-shares",
            "/statistics/defenders-hosted",
        ] {
            let (a, t, p) = (
                app.clone(),
                Arc::new(analyst.token.clone()),
                Arc::new(path.to_owned()),
            );
            let f = drive(clients, if clients == 1 { 30 } else { 200 }, move |_| {
                let (a, t, p) = (a.clone(), t.clone(), p.clone());
                async move { a.get(&p, &t).await.status() == 200 }
            })
            .await;
            row(path, clients, &f);
        }
    }
}
