//! Integration throughput: webhook events delivered per second to a local
//! receiver, and the extra cost per write of the transactional outbox.
//! `cargo bench --bench integration` (SQLite) or with
//! `CASEDESK_TEST_DATABASE_URL` (PostgreSQL). `CASEDESK_BENCH_EVENTS` scales
//! the delivery run. Prints figures; asserts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/api/common/mod.rs"]
mod common;
mod support;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use casedesk::{
    accounts::model::Role,
    audit::{self, Context, Event},
    clock::Clock,
    db::begin_write,
    integration::outbox::{self, Actie, Kanaal, Notification},
};
use common::TestApp;
use poem::{
    endpoint::make,
    listener::{Acceptor, Listener, TcpListener},
    Request, Route, Server,
};
use serde_json::json;
use support::{drive, ms};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// A receiver that counts what it gets and answers 204 at once.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let endpoint = make(move |req: Request| {
        let c = c.clone();
        async move {
            let _ = req.into_body().into_bytes().await;
            c.fetch_add(1, Ordering::Relaxed);
            poem::http::StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(Server::new_with_acceptor(acceptor).run(Route::new().at("/hook", endpoint)));
    (format!("http://127.0.0.1:{port}/hook"), count)
}

/// One audited write, with or without its outbox event, as the handlers do it.
async fn write(app: &TestApp, with_event: bool) -> bool {
    let now = app.clock.now();
    let id = uuid::Uuid::now_v7();
    let Ok(txn) = begin_write(&app.state.db).await else {
        return false;
    };
    let ctx = Context::new(app.state.keys.audit.clone());
    if audit::record(
        &txn,
        now,
        &ctx,
        Event::new("bench.write", 200).on("placement", id),
    )
    .await
    .is_err()
    {
        return false;
    }
    if with_event {
        let n = Notification::new(Kanaal::Placements, Actie::Update, id).with("status", "accepted");
        if outbox::emit(&txn, now, n).await.is_err() {
            return false;
        }
    }
    txn.commit().await.is_ok()
}

async fn run() {
    let events: usize = std::env::var("CASEDESK_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let app = Arc::new(
        TestApp::spawn_with(|c| {
            c.database_max_connections = 16;
            c.webhooks.allowed_hosts = vec!["127.0.0.1".to_owned()];
            c.webhooks.private_networks = vec!["127.0.0.0/8".parse().unwrap()];
            c.webhooks.poll_interval = Duration::from_millis(50);
        })
        .await,
    );
    let backend = if app.db.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("casedesk integration benchmark on {backend}");

    println!("\n## The outbox's cost per write (an audited write transaction, with and without its event)\n");
    println!("| write | clients | writes | per second | p50 | p99 |");
    println!("|---|---|---|---|---|---|");
    for clients in [1, 8] {
        for with_event in [false, true] {
            let a = app.clone();
            let f = drive(clients, 2_000, move |_| {
                let a = a.clone();
                async move { write(&a, with_event).await }
            })
            .await;
            println!(
                "| {} | {clients} | {} | {:.0} | {} | {} |",
                if with_event {
                    "with outbox event"
                } else {
                    "without"
                },
                f.requests,
                f.per_second(),
                ms(f.percentile(0.5)),
                ms(f.percentile(0.99))
            );
        }
    }

    println!("\n## Webhook delivery to a local receiver\n");
    let admin = app.account(&[Role::Admin]).await;
    println!("| subscriptions | events | deliveries | seconds | deliveries per second |");
    println!("|---|---|---|---|---|");
    for subscriptions in [1, 4] {
        let mut counters = Vec::new();
        for _ in 0..subscriptions {
            let (url, count) = receiver().await;
            let resp = app
                .post(
                    "/subscriptions",
                    Some(&admin.token),
                    json!({"callbackUrl": url, "channels": [{"kanaal": "placements"}]}),
                )
                .await;
            assert_eq!(resp.status(), 201);
            counters.push(count);
        }
        let started = Instant::now();
        let a = app.clone();
        drive(8, events, move |_| {
            let a = a.clone();
            async move { write(&a, true).await }
        })
        .await;
        let expected = events * subscriptions;
        let total = || {
            counters
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .sum::<usize>()
        };
        while total() < expected && started.elapsed() < Duration::from_secs(600) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "| {subscriptions} | {events} | {} | {secs:.1} | {:.0} |",
            total(),
            total() as f64 / secs
        );
        // the next round's subscriptions only: pause these
        let list: serde_json::Value = app
            .get("/subscriptions?limit=200", &admin.token)
            .await
            .json()
            .await
            .unwrap();
        for s in list["items"].as_array().unwrap() {
            if s["active"] == true {
                app.request(
                    reqwest::Method::PATCH,
                    &format!("/subscriptions/{}", s["id"].as_str().unwrap()),
                    Some(&admin.token),
                )
                .header("if-match", format!("\"{}\"", s["version"]))
                .json(&json!({"active": false}))
                .send()
                .await
                .unwrap();
            }
        }
    }
}
