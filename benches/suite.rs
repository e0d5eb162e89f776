//! The benchmark suite: the release service as its own process, on SQLite
//! or (with `CASEDESK_TEST_DATABASE_URL`) PostgreSQL, seeded with 10,000
//! defenders (stay, note, risk assessment each) and 100,000 placements over
//! 20,000 participants, driven over loopback by concurrent clients. Prints
//! requests per second, p50, p99 and errors per scenario, the service's peak
//! memory, the placement list against the same SQL through a plain client,
//! and each target met or missed. Not part of the test run:
//!
//!     cargo bench --bench suite
//!     CASEDESK_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench suite
//!
//! `CASEDESK_BENCH_DEFENDERS`, `CASEDESK_BENCH_PLACEMENTS`,
//! `CASEDESK_BENCH_CLIENTS` (default 32), `CASEDESK_BENCH_REQUESTS` (per
//! read scenario, default 10,000: a p99 of 100 samples, not of 30) and
//! `CASEDESK_BENCH_POOL` (the service's and the plain client's connection
//! pool, default 5: PostgreSQL's rule of thumb of twice the database's cores
//! plus its disks, for a database on these 2 cores) change the sizes. For
//! profiling one thing,
//! `CASEDESK_BENCH_ONLY=<part of a name>,...` runs only the scenarios whose
//! names contain one of the parts (the targets table is then incomplete).
//! `CASEDESK_BENCH_KEEP_DATABASE=1` keeps the seeded database afterwards and
//! prints its URL, to profile against it with other tools.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/api/common/mod.rs"]
mod common;
mod support;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::process::{command, start};
use reqwest::Client;
use serde_json::{json, Value};
use support::{drive, header, ms, row, Figures};
use tokio::io::AsyncWriteExt;

const PASSWORD: &str = "a benchmark passphrase 2026";
const COUNTRIES: [&str; 8] = ["NL", "PT", "DE", "ES", "FI", "PL", "IT", "TR"];
const LEVELS: [&str; 7] = ["mbo_1", "mbo_2", "mbo_3", "mbo_4", "hbo", "wo", "secondary"];

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

#[derive(Clone)]
struct Api {
    client: Client,
    base: String,
    token: Arc<String>,
}

impl Api {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/v1{path}", self.base))
            .bearer_auth(self.token.as_str())
            .send()
            .await
            .unwrap()
    }
    /// Reads the whole answer, as a real client does (and so the connection is reused).
    async fn get_ok(&self, path: &str) -> bool {
        let resp = self.get(path).await;
        let ok = resp.status().is_success();
        ok && resp.bytes().await.is_ok()
    }
    async fn post_ok(&self, path: &str, body: Value) -> bool {
        let resp = self.post(path, body).await;
        let ok = resp.status().is_success();
        ok && resp.bytes().await.is_ok()
    }
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1{path}", self.base))
            .bearer_auth(self.token.as_str())
            .json(&body)
            .send()
            .await
            .unwrap()
    }
    async fn post_id(&self, path: &str, body: Value) -> Option<String> {
        let resp = self.post(path, body).await;
        if !resp.status().is_success() {
            return None;
        }
        let b: Value = resp.json().await.ok()?;
        b["id"].as_str().map(str::to_owned)
    }
}

async fn create_account(url: &str, settings: &[(&str, &str)], email: &str, roles: &[&str]) {
    let mut cmd = command(url, settings);
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
    assert!(child.wait_with_output().await.unwrap().status.success());
}

async fn login(client: &Client, base: &str, email: &str) -> Option<String> {
    let resp = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .ok()?;
    let b: Value = resp.json().await.ok()?;
    b["token"].as_str().map(str::to_owned)
}

/// The cursor of page `n` (1-based) of a list.
async fn cursor_of_page(api: &Api, base: &str, n: usize) -> String {
    let mut cursor = String::new();
    for _ in 1..n {
        let path = if cursor.is_empty() {
            base.to_owned()
        } else {
            format!("{base}&cursor={cursor}")
        };
        let page: Value = api.get(&path).await.json().await.unwrap();
        match page["next"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    format!("{base}&cursor={cursor}")
}

fn peak_memory_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Whether `CASEDESK_BENCH_ONLY` (if set) selects the scenario `name`.
fn selected(name: &str) -> bool {
    std::env::var("CASEDESK_BENCH_ONLY").map_or(true, |only| {
        only.split(',')
            .any(|part| !part.trim().is_empty() && name.contains(part.trim()))
    })
}

async fn scenario<F, Fut>(name: &str, clients: usize, total: usize, one: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    if !selected(name) {
        return Figures {
            requests: 0,
            errors: 0,
            elapsed: Duration::from_secs(1),
            sorted: Vec::new(),
        };
    }
    let f = drive(clients, total, one).await;
    row(name, clients, &f);
    f
}

async fn run() {
    let defenders = env_number("CASEDESK_BENCH_DEFENDERS", 10_000);
    let placements = env_number("CASEDESK_BENCH_PLACEMENTS", 100_000);
    let clients = env_number("CASEDESK_BENCH_CLIENTS", 32);
    let participants = (placements / 5).max(1);
    let (url, db) = common::fresh_database().await;
    let backend = if db.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    // sized as an operator would for a database on this machine's 2 cores
    // (2 x cores + 1 disk); more connections than that only add switches
    // between backends competing for the same cores
    let pool = env_number("CASEDESK_BENCH_POOL", 5).to_string();
    let settings: &[(&str, &str)] = &[
        ("CASEDESK_MFA_REQUIRED_ROLES", ""),
        ("CASEDESK_DATABASE_MAX_CONNECTIONS", &pool),
        ("CASEDESK_LOGIN_IP_FAILURES", "10000"),
        // the benchmark measures sign-ins per second, with every client waiting
        ("CASEDESK_PASSWORD_HASH_QUEUE", "256"),
        // the start line at info; no line per request
        ("CASEDESK_LOG", "warn,casedesk=info,casedesk::http=warn"),
    ];
    create_account(
        &url,
        settings,
        "bench@casedesk.test",
        &["shelter_coordinator", "exchange_coordinator"],
    )
    .await;
    create_account(&url, settings, "admin@bench.test", &["admin"]).await;
    // the sign-in scenarios' own accounts, one per client, as a city's staff
    // sign in: one account signed in 32 times at once is throttled (every
    // attempt counts as a failure until it succeeds), and each account keeps
    // only its newest sessions, so the other scenarios keep theirs
    for i in 0..clients {
        create_account(
            &url,
            settings,
            &format!("signin{i}@bench.test"),
            &["analyst"],
        )
        .await;
    }
    let running = start(&url, settings).await;
    let pid = running.child.id().unwrap();
    let client = Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let base = running.base.clone();
    let token = login(&client, &base, "bench@casedesk.test").await.unwrap();
    let api = Api {
        client: client.clone(),
        base: base.clone(),
        token: Arc::new(token),
    };
    println!("casedesk benchmark suite on {backend}, the release service as its own process (pid {pid}), {clients} clients");
    println!("seed: {defenders} defenders with a stay, a note and a risk assessment each; {placements} placements over {participants} participants\n");

    // ---- seed ----
    let seeding = Instant::now();
    let stays = Arc::new(Mutex::new(Vec::with_capacity(defenders)));
    {
        let (api, stays) = (api.clone(), stays.clone());
        drive(8, defenders, move |i| {
            let (api, stays) = (api.clone(), stays.clone());
            async move {
                let Some(d) = api.post_id("/defenders", json!({"codename": format!("Bench{i:05}"), "countryOfWork": "UG", "fieldOfWork": "journalism", "languages": ["English"], "riskLevel": "high",
                    "identity": {"legalName": format!("Person Number {i}"), "passportNumber": format!("P{i:08}")}})).await else { return false };
                let Some(s) = api.post_id("/stays", json!({"defenderId": d, "intakeRound": if i % 2 == 0 { "2026-spring" } else { "2026-autumn" },
                    "plannedArrival": format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28), "plannedDeparture": "2027-01-01", "visaStatus": "granted",
                    "insuranceArranged": true, "confidentiality": "restricted", "accommodationAddress": format!("Safe house {i}, Amsterdam")})).await else { return false };
                let n = api.post_ok(&format!("/stays/{s}/notes"), json!({"category": "safety", "body": format!("Note {i}")})).await;
                let r = api.post_ok(&format!("/stays/{s}/risk-assessments"), json!({"level": "high", "threats": "t", "measures": "m", "nextReviewOn": "2027-01-01"})).await;
                stays.lock().unwrap().push(s);
                n && r
            }
        })
        .await;
    }
    let mut institutions = Vec::new();
    for (i, country) in COUNTRIES.iter().enumerate() {
        institutions.push(api.post_id("/institutions", json!({"name": format!("Institution {i}"), "kind": "mbo_college", "country": country, "city": "City", "sisterCity": i % 2 == 0})).await.unwrap());
    }
    let institutions = Arc::new(institutions);
    let people = Arc::new(Mutex::new(Vec::with_capacity(participants)));
    {
        let (api, inst, people) = (api.clone(), institutions.clone(), people.clone());
        drive(8, participants, move |i| {
            let (api, inst, people) = (api.clone(), inst.clone(), people.clone());
            async move {
                let id = api.post_id("/participants", json!({"givenName": format!("Learner{i}"), "familyName": "Bench", "dateOfBirth": "2006-01-01", "email": format!("l{i}@bench.example.nl"),
                    "educationLevel": LEVELS[i % 7], "homeInstitutionId": inst[0], "fieldOfStudy": "Care", "nationality": "NL", "fewerOpportunities": i % 4 == 0})).await;
                let ok = id.is_some();
                people.lock().unwrap().extend(id);
                ok
            }
        })
        .await;
    }
    let people = Arc::new(people.lock().unwrap().clone());
    let placement_body = {
        let (inst, people) = (institutions.clone(), people.clone());
        Arc::new(move |i: usize| {
            json!({"participantId": people[i % people.len()], "direction": if i % 3 == 0 { "incoming" } else { "outgoing" }, "sendingInstitutionId": inst[0],
                   "receivingInstitutionId": inst[1 + i % 7], "kind": "traineeship", "plannedStart": format!("{}-{:02}-01", 2026 + (i % 2), 1 + i % 12), "plannedEnd": "2028-01-01"})
        })
    };
    let placement_ids = Arc::new(Mutex::new(Vec::new()));
    {
        let (api, body, ids) = (api.clone(), placement_body.clone(), placement_ids.clone());
        drive(8, placements, move |i| {
            let (api, body, ids) = (api.clone(), body.clone(), ids.clone());
            async move {
                let id = api.post_id("/placements", body(i)).await;
                let ok = id.is_some();
                if i % 20 == 0 {
                    ids.lock().unwrap().extend(id);
                }
                ok
            }
        })
        .await;
    }
    println!(
        "seeded in {:.0} s; service peak memory so far {:.1} MiB\n",
        seeding.elapsed().as_secs_f64(),
        peak_memory_kib(pid).unwrap_or(0) as f64 / 1024.0
    );
    // a steady state, as in service: planner statistics current after the bulk load
    {
        use sea_orm::ConnectionTrait;
        let db = casedesk::db::connect(&url, 1).await.unwrap();
        let analyze = if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            "VACUUM ANALYZE"
        } else {
            "ANALYZE"
        };
        db.execute_unprepared(analyze).await.unwrap();
        db.close().await.ok();
    }
    let stays = Arc::new(stays.lock().unwrap().clone());
    let to_nominate = Arc::new(placement_ids.lock().unwrap().clone());

    // an integration client for the event feed
    let admin = Api {
        client: client.clone(),
        base: base.clone(),
        token: Arc::new(login(&client, &base, "admin@bench.test").await.unwrap()),
    };
    let expires = (chrono::Utc::now() + chrono::TimeDelta::days(30)).to_rfc3339();
    let made: Value = admin.post("/api-clients", json!({"name": "bench feed", "scopes": ["events.read", "exchange.read", "stays.read"], "expiresAt": expires})).await.json().await.unwrap();
    let feed = Api {
        client: client.clone(),
        base: base.clone(),
        token: Arc::new(made["key"].as_str().unwrap().to_owned()),
    };
    let feed_cursors: Arc<Vec<String>> = {
        let mut cursors = Vec::new();
        let mut after = String::new();
        for _ in 0..50 {
            let page: Value = feed
                .get(&format!("/events?limit=100&after={after}"))
                .await
                .json()
                .await
                .unwrap();
            after = page["next"].as_str().unwrap().to_owned();
            cursors.push(after.clone());
        }
        Arc::new(cursors)
    };

    let stay_page1 = Arc::new("/stays?limit=10".to_owned());
    let stay_page1000 = Arc::new(cursor_of_page(&api, "/stays?limit=10", 1000).await);
    let placement_page1 = Arc::new("/placements?limit=50".to_owned());
    let placement_page1000 = Arc::new(cursor_of_page(&api, "/placements?limit=50", 1000).await);
    let filtered = Arc::new(
        "/placements?limit=50&direction=outgoing&educationLevel=mbo_4&year=2027".to_owned(),
    );

    // ---- scenarios ----
    header();
    let n = env_number("CASEDESK_BENCH_REQUESTS", 10_000);
    let login_figures = {
        let (client, base) = (client.clone(), base.clone());
        scenario("login (argon2id)", clients, 300, move |i| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let email = format!("signin{}@bench.test", i % clients);
                login(&client, &base, &email).await.is_some()
            }
        })
        .await
    };
    println!(
        "| (service peak memory after sign-ins: {:.1} MiB) | | | | | | |",
        peak_memory_kib(pid).unwrap_or(0) as f64 / 1024.0
    );
    let detail = {
        let (api, stays) = (api.clone(), stays.clone());
        scenario("stay detail (decrypt + audit)", clients, n, move |i| {
            let (api, stays) = (api.clone(), stays.clone());
            async move {
                api.get_ok(&format!("/stays/{}", stays[(i * 7919) % stays.len()]))
                    .await
            }
        })
        .await
    };
    let summary = {
        let (api, stays) = (api.clone(), stays.clone());
        scenario("stay summary (no audit)", clients, n, move |i| {
            let (api, stays) = (api.clone(), stays.clone());
            async move {
                api.get_ok(&format!(
                    "/stay-summaries/{}",
                    stays[(i * 7919) % stays.len()]
                ))
                .await
            }
        })
        .await
    };
    let mut lists = Vec::new();
    for (name, path) in [
        ("stay list, page 1", stay_page1.clone()),
        ("stay list, page 1000", stay_page1000.clone()),
        ("placement list, page 1", placement_page1.clone()),
        ("placement list, page 1000", placement_page1000.clone()),
        ("placement list, 3 filters", filtered.clone()),
    ] {
        let api = api.clone();
        let f = scenario(name, clients, n, move |_| {
            let (api, path) = (api.clone(), path.clone());
            async move { api.get_ok(&path).await }
        })
        .await;
        lists.push((name, f));
    }
    {
        let (api, body) = (api.clone(), placement_body.clone());
        scenario("placement create", clients, 2000, move |i| {
            let (api, body) = (api.clone(), body.clone());
            async move {
                api.post("/placements", body(i + 7))
                    .await
                    .status()
                    .is_success()
            }
        })
        .await;
    }
    {
        let (api, ids) = (api.clone(), to_nominate.clone());
        let total = ids.len().min(3000);
        scenario("placement status change", clients, total, move |i| {
            let (api, ids) = (api.clone(), ids.clone());
            async move {
                api.post(
                    &format!("/placements/{}/status-changes", ids[i]),
                    json!({"to": "nominated"}),
                )
                .await
                .status()
                .is_success()
            }
        })
        .await;
    }
    {
        let api = api.clone();
        scenario("statistics: placements", clients, 200, move |_| {
            let api = api.clone();
            async move { api.get_ok("/statistics/placements?year=2027").await }
        })
        .await;
    }
    {
        let (feed, cursors) = (feed.clone(), feed_cursors.clone());
        scenario("event feed page (100 events)", clients, n, move |i| {
            let (feed, cursors) = (feed.clone(), cursors.clone());
            async move {
                feed.get_ok(&format!(
                    "/events?limit=100&after={}",
                    cursors[i % cursors.len()]
                ))
                .await
            }
        })
        .await;
    }
    // other requests while 50 sign-ins run at once
    let busy = Arc::new(AtomicBool::new(selected("during 50 sign-ins")));
    let mut signers = Vec::new();
    for s in 0..50 {
        let (client, base, busy) = (client.clone(), base.clone(), busy.clone());
        let email = format!("signin{}@bench.test", s % clients);
        signers.push(tokio::spawn(async move {
            while busy.load(Ordering::Relaxed) {
                login(&client, &base, &email).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during_logins = {
        let api = api.clone();
        scenario("placement list during 50 sign-ins", clients, n, move |_| {
            let api = api.clone();
            async move { api.get_ok("/placements?limit=50").await }
        })
        .await
    };
    busy.store(false, Ordering::Relaxed);
    for s in signers {
        s.await.ok();
    }
    let peak = peak_memory_kib(pid).unwrap_or(0);
    println!(
        "\nservice peak memory (VmHWM): {:.1} MiB",
        peak as f64 / 1024.0
    );

    // ---- the same SQL through a plain client ----
    let baseline = plain_client_baseline(&url, pool.parse().unwrap(), clients, n).await;
    println!("\nplain database client, the placement list's SQL (page 1, 51 rows): {:.0}/s, p50 {}, p99 {}",
        baseline.per_second(), ms(baseline.percentile(0.5)), ms(baseline.percentile(0.99)));
    let page1 = &lists[2].1;
    let ratio = page1.per_second() / baseline.per_second();
    println!("service / plain client: {:.0}%", ratio * 100.0);

    // ---- targets ----
    println!("\n| target | measured | met |\n|---|---|---|");
    let verdict = |ok: bool| if ok { "yes" } else { "**no**" };
    for (name, f) in &lists {
        let p99 = f.percentile(0.99);
        println!(
            "| {name}: p99 ≤ 25 ms | {} | {} |",
            ms(p99),
            verdict(p99 <= Duration::from_millis(25))
        );
    }
    for (deep, first) in [(1, 0), (3, 2)] {
        let r = lists[deep].1.percentile(0.5).as_secs_f64()
            / lists[first].1.percentile(0.5).as_secs_f64();
        println!(
            "| {} within 1.5× of page 1 (p50) | {r:.2}× | {} |",
            lists[deep].0,
            verdict(r <= 1.5)
        );
    }
    let r = detail.per_second() / summary.per_second();
    println!(
        "| audited detail ≥ ½ of summary throughput | {:.0}% | {} |",
        r * 100.0,
        verdict(r >= 0.5)
    );
    println!(
        "| placement list ≥ 40% of plain client | {:.0}% | {} |",
        ratio * 100.0,
        verdict(ratio >= 0.4)
    );
    let p99 = during_logins.percentile(0.99);
    println!(
        "| other requests during 50 sign-ins: p99 ≤ 50 ms | {} | {} |",
        ms(p99),
        verdict(p99 <= Duration::from_millis(50))
    );
    println!(
        "| peak memory < 150 MiB | {:.1} MiB | {} |",
        peak as f64 / 1024.0,
        verdict(peak < 150 * 1024)
    );
    println!(
        "| (sign-ins per second) | {:.0} | |",
        login_figures.per_second()
    );
    drop(running);
    if std::env::var("CASEDESK_BENCH_KEEP_DATABASE").is_ok_and(|v| v == "1") {
        println!("\nkept the seeded database: {url}");
        std::mem::forget(db);
    }
}

/// The placement list's first-page query, as SeaORM builds it, through a
/// plain sqlx pool of the service's size, at the same concurrency.
async fn plain_client_baseline(url: &str, pool: u32, clients: usize, total: usize) -> Figures {
    use casedesk::entities::placements;
    use sea_orm::{sqlx, DbBackend, EntityTrait, QueryOrder, QuerySelect, QueryTrait};
    let backend = if url.starts_with("sqlite") {
        DbBackend::Sqlite
    } else {
        DbBackend::Postgres
    };
    let stmt = placements::Entity::find()
        .order_by_desc(placements::Column::Id)
        .limit(51)
        .build(backend);
    let sql = Arc::new(stmt.sql.clone());
    println!("\nbaseline SQL: {sql}");
    if backend == DbBackend::Postgres {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(pool)
            .connect(url)
            .await
            .unwrap();
        drive(clients, total, move |_| {
            let (pool, sql) = (pool.clone(), sql.clone());
            async move {
                sqlx::query(sqlx::AssertSqlSafe(sql.as_str().to_owned()))
                    .bind(51_i64)
                    .fetch_all(&pool)
                    .await
                    .map(|r| r.len() == 51)
                    .unwrap_or(false)
            }
        })
        .await
    } else {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(pool)
            .connect(url)
            .await
            .unwrap();
        drive(clients, total, move |_| {
            let (pool, sql) = (pool.clone(), sql.clone());
            async move {
                sqlx::query(sqlx::AssertSqlSafe(sql.as_str().to_owned()))
                    .bind(51_i64)
                    .fetch_all(&pool)
                    .await
                    .map(|r| r.len() == 51)
                    .unwrap_or(false)
            }
        })
        .await
    }
}
