//! The archive index under load, this build beside an earlier one in one
//! run (issue 31): `GET /archive-records` at 10,000 and 100,000 closed
//! records (participants with one withdrawn placement each, seeded in SQL),
//! alone and with a writer beside it, and the writer's own latency. The
//! earlier build derived the index again from every closed record on each
//! read, under the write lock; this one writes it with each change and reads
//! it plainly (it builds it once, in full, at its first start: timed too).
//!
//!     cargo bench --bench archive_index
//!     CASEDESK_BENCH_BASELINE=/path/to/earlier/casedesk cargo bench --bench archive_index
//!     CASEDESK_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench archive_index
//!
//! `CASEDESK_BENCH_RECORDS` (default `10000,100000`) and
//! `CASEDESK_BENCH_READS` (per scenario, default 40) change the sizes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/api/common/mod.rs"]
mod common;
mod support;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use common::process::{command_of, start_of, terminate, BIN};
use reqwest::Client;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{json, Value};
use support::{drive, ms, Figures};
use tokio::io::AsyncWriteExt;

const PASSWORD: &str = "a benchmark passphrase 2026";

fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("CASEDESK_MFA_REQUIRED_ROLES", ""),
        ("CASEDESK_LOG", "warn,casedesk=info,casedesk::http=warn"),
        ("CASEDESK_DATABASE_MAX_CONNECTIONS", "5"),
    ]
}

async fn create_account(binary: &str, url: &str, email: &str, roles: &[&str]) {
    let mut cmd = command_of(binary, url, &settings());
    cmd.args(["staff", "create", "--email", email]);
    for r in roles {
        cmd.args(["--role", r]);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn login(client: &Client, base: &str, email: &str) -> String {
    let b: Value = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    b["token"].as_str().unwrap().to_owned()
}

/// `n` participants with one placement each, withdrawn two years ago.
async fn seed(url: &str, n: usize) -> uuid::Uuid {
    use casedesk::entities::{institutions, participants, placement_status_changes, placements};
    let db = casedesk::db::connect(url, 2).await.unwrap();
    let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    let day = at.date_naive();
    let inst: Vec<uuid::Uuid> = (0..2).map(|_| uuid::Uuid::now_v7()).collect();
    institutions::Entity::insert_many(inst.iter().enumerate().map(|(i, id)| {
        institutions::ActiveModel {
            id: Set(*id),
            name: Set(format!("Bench institution {i}")),
            kind: Set("mbo_college".into()),
            country: Set(if i == 0 { "NL" } else { "PT" }.into()),
            city: Set("City".into()),
            erasmus_code: Set(None),
            sister_city: Set(false),
            contact_email: Set(None),
            version: Set(1),
            created_at: Set(at),
            updated_at: Set(at),
        }
    }))
    .exec_without_returning(&db)
    .await
    .unwrap();
    let admin = uuid::Uuid::now_v7();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let people: Vec<uuid::Uuid> = chunk.iter().map(|_| uuid::Uuid::now_v7()).collect();
        participants::Entity::insert_many(chunk.iter().zip(&people).map(|(i, id)| {
            participants::ActiveModel {
                id: Set(*id),
                given_name: Set(format!("Learner{i}")),
                family_name: Set("Bench".into()),
                name_key: Set(format!("learner{i} bench")),
                date_of_birth: Set(chrono::NaiveDate::from_ymd_opt(2006, 1, 1).unwrap()),
                email: Set(format!("l{i}@bench.example.nl")),
                education_level: Set("mbo_4".into()),
                home_institution_id: Set(inst[0]),
                field_of_study: Set("Care".into()),
                nationality: Set("NL".into()),
                fewer_opportunities: Set(false),
                version: Set(1),
                created_at: Set(at),
                updated_at: Set(at),
                data_key_id: Set(None),
                care_enc: Set(None),
            }
        }))
        .exec_without_returning(&db)
        .await
        .unwrap();
        let ids: Vec<uuid::Uuid> = chunk.iter().map(|_| uuid::Uuid::now_v7()).collect();
        placements::Entity::insert_many(chunk.iter().zip(people.iter().zip(&ids)).map(
            |(i, (p, id))| placements::ActiveModel {
                id: Set(*id),
                reference: Set(format!("EX-2024-B{i:06}")),
                participant_id: Set(*p),
                direction: Set("outgoing".into()),
                agreement_id: Set(None),
                sending_institution_id: Set(inst[0]),
                receiving_institution_id: Set(inst[1]),
                kind: Set("traineeship".into()),
                planned_start: Set(day),
                planned_end: Set(day),
                actual_start: Set(None),
                actual_end: Set(None),
                funding_programme: Set(None),
                status: Set("withdrawn".into()),
                education_level: Set("mbo_4".into()),
                country: Set("PT".into()),
                year: Set(2024),
                travel_distance_km: Set(None),
                green_travel: Set(false),
                grant_json: Set(None),
                grant_rate_table_id: Set(None),
                version: Set(2),
                created_at: Set(at),
                updated_at: Set(at),
            },
        ))
        .exec_without_returning(&db)
        .await
        .unwrap();
        placement_status_changes::Entity::insert_many(ids.iter().map(|id| {
            placement_status_changes::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                placement_id: Set(*id),
                from_status: Set(Some("applied".into())),
                to_status: Set("withdrawn".into()),
                reason: Set(None),
                quota_overridden: Set(false),
                changed_at: Set(at),
                changed_by: Set(admin),
                changed_by_type: Set("staff".into()),
            }
        }))
        .exec_without_returning(&db)
        .await
        .unwrap();
    }
    // as after an upgrade: the index is built in full at the next start
    // (the table is this build's; the earlier build has none to clear)
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("DELETE FROM retention_index_builds")
        .await
        .ok();
    db.close().await.ok();
    inst[0]
}

struct Run {
    start: Duration,
    alone: Figures,
    beside: Figures,
    writes: Figures,
}

async fn measure(binary: &str, records: usize, reads: usize) -> Run {
    let (url, _db) = common::fresh_database().await;
    create_account(binary, &url, "records@bench.test", &["records_officer"]).await;
    create_account(
        binary,
        &url,
        "exchange@bench.test",
        &["exchange_coordinator"],
    )
    .await;
    let home = seed(&url, records).await;
    let started = Instant::now();
    let running = start_of(binary, &url, &settings(), Duration::from_secs(1800)).await;
    let start = started.elapsed();
    let client = Client::new();
    let base = running.base.clone();
    let records_token = login(&client, &base, "records@bench.test").await;
    let writer_token = login(&client, &base, "exchange@bench.test").await;
    let read = {
        let (client, base, token) = (client.clone(), base.clone(), records_token.clone());
        move |_i: usize| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move {
                let resp = client
                    .get(format!("{base}/api/v1/archive-records?limit=50"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                resp.status().is_success() && resp.bytes().await.is_ok()
            }
        }
    };
    // a first read (the earlier build derives the index on it): a full page
    let first: Value = client
        .get(format!("{base}/api/v1/archive-records?limit=50"))
        .bearer_auth(&records_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().map(Vec::len), Some(50), "{first}");
    let alone = drive(1, reads, read.clone()).await;
    // a writer beside the reader: new participants, for as long as it reads
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (client, base, token, stop) = (
            client.clone(),
            base.clone(),
            writer_token.clone(),
            stop.clone(),
        );
        let home = home.to_string();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0;
            let begun = Instant::now();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let t = Instant::now();
                let resp = client
                    .post(format!("{base}/api/v1/participants"))
                    .bearer_auth(&token)
                    .json(&json!({"givenName": format!("Writer{i}"), "familyName": "Bench", "dateOfBirth": "2006-01-01",
                        "email": format!("w{i}@bench.example.nl"), "educationLevel": "mbo_4",
                        "homeInstitutionId": home, "fieldOfStudy": "Care", "nationality": "NL", "fewerOpportunities": false}))
                    .send()
                    .await
                    .unwrap();
                if !resp.status().is_success() {
                    errors += 1;
                }
                resp.bytes().await.ok();
                samples.push(t.elapsed());
            }
            samples.sort();
            Figures {
                requests: samples.len(),
                errors,
                elapsed: begun.elapsed(),
                sorted: samples,
            }
        })
    };
    let beside = drive(1, reads, read).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.unwrap();
    terminate(running).await;
    Run {
        start,
        alone,
        beside,
        writes,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sizes: Vec<usize> = std::env::var("CASEDESK_BENCH_RECORDS")
            .unwrap_or_else(|_| "10000,100000".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let reads: usize = std::env::var("CASEDESK_BENCH_READS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40);
        let mut builds = Vec::new();
        if let Ok(b) = std::env::var("CASEDESK_BENCH_BASELINE") {
            builds.push(("earlier build", b));
        }
        builds.push(("this build", BIN.to_owned()));
        let backend = if std::env::var("CASEDESK_TEST_DATABASE_URL").is_ok() { "PostgreSQL" } else { "SQLite" };
        println!("archive index on {backend}: GET /archive-records?limit=50, one reader, {reads} reads per row; the writer creates participants beside it\n");
        println!("| build | closed records | start | read p50 | read p99 | read p50 with writer | read p99 with writer | writes | write p50 | write p99 |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for n in sizes {
            for (label, binary) in &builds {
                let r = measure(binary, n, reads).await;
                println!(
                    "| {label} | {n} | {:.1} s | {} | {} | {} | {} | {} | {} | {} |",
                    r.start.as_secs_f64(),
                    ms(r.alone.percentile(0.5)),
                    ms(r.alone.percentile(0.99)),
                    ms(r.beside.percentile(0.5)),
                    ms(r.beside.percentile(0.99)),
                    r.writes.requests,
                    ms(r.writes.percentile(0.5)),
                    ms(r.writes.percentile(0.99)),
                );
            }
        }
    });
}
