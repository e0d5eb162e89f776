//! Sign-in throughput, and the latency of a cheap authenticated request alone
//! and while 50 sign-ins run at once. `cargo bench --bench auth`; on
//! PostgreSQL with `CASEDESK_TEST_DATABASE_URL` set. Prints figures; asserts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use casedesk::accounts::model::Role;
use common::{TestApp, PASSWORD};
use serde_json::json;
use support::{ms, percentile};

async fn login_once(client: &reqwest::Client, url: &str, email: &str) -> Duration {
    let started = Instant::now();
    let resp = client
        .post(url)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    started.elapsed()
}

async fn cheap_requests(app: &TestApp, token: &str, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let resp = app.get("/staff/me", token).await;
        assert_eq!(resp.status(), 200);
        samples.push(started.elapsed());
    }
    samples.sort();
    samples
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let app = TestApp::spawn().await;
    let backend = if app.db.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let reader = app.account(&[Role::Analyst]).await;
    let mut logins = Vec::new();
    for _ in 0..4 {
        logins.push(app.account(&[Role::Auditor]).await.email);
    }
    let url = app.api("/sessions");
    println!(
        "casedesk auth benchmark on {backend}, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "argon2id m=19456 KiB t=2 p=1, hash concurrency {}",
        app.state.config.password_hash_concurrency
    );

    // 1. sign-in throughput at 8 concurrent clients
    let total = 200;
    let started = Instant::now();
    let mut tasks = Vec::new();
    let per_client = total / 8;
    for c in 0..8 {
        let client = app.client.clone();
        let url = url.clone();
        let email = logins[c % logins.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            for _ in 0..per_client {
                samples.push(login_once(&client, &url, &email).await);
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    samples.sort();
    println!();
    println!("| scenario | requests | per second | p50 | p99 |");
    println!("|---|---|---|---|---|");
    println!(
        "| sign-in, 8 clients | {} | {:.1} | {} | {} |",
        samples.len(),
        samples.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99))
    );

    // 2. a cheap authenticated request, alone
    let quiet = cheap_requests(&app, &reader.token, 300).await;
    println!(
        "| GET /staff/me, alone | {} | {:.0} | {} | {} |",
        quiet.len(),
        quiet.len() as f64 / quiet.iter().sum::<Duration>().as_secs_f64(),
        ms(percentile(&quiet, 0.5)),
        ms(percentile(&quiet, 0.99))
    );

    // 3. the same while 50 sign-ins run concurrently, all the time
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut flood = Vec::new();
    for c in 0..50 {
        let client = app.client.clone();
        let url = url.clone();
        let email = logins[c % logins.len()].clone();
        let stop = stop.clone();
        let done = done.clone();
        flood.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                login_once(&client, &url, &email).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flood_started = Instant::now();
    let before = done.load(Ordering::Relaxed);
    let loaded = cheap_requests(&app, &reader.token, 300).await;
    let logins_during = done.load(Ordering::Relaxed) - before;
    let flood_elapsed = flood_started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in flood {
        t.await.unwrap();
    }
    println!(
        "| GET /staff/me, 50 sign-ins running | {} | {:.0} | {} | {} |",
        loaded.len(),
        loaded.len() as f64 / loaded.iter().sum::<Duration>().as_secs_f64(),
        ms(percentile(&loaded, 0.5)),
        ms(percentile(&loaded, 0.99))
    );
    println!(
        "| sign-in, 50 clients (meanwhile) | {} | {:.1} | | |",
        logins_during,
        logins_during as f64 / flood_elapsed.as_secs_f64()
    );
}
