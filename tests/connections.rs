//! Connections as the internet makes them: clients that trickle their
//! header lines to hold connections open, and more connections than the
//! service allows. The service cuts the slow ones off at the header
//! deadline, refuses those over the limit with a 503, and keeps serving
//! everyone else meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A client that sends a request line and then one header line every
/// `every`, never finishing the head. Returns how long the service let it
/// go on before closing the connection (or `None` if it never did within
/// `give_up`).
async fn trickle(
    addr: std::net::SocketAddr,
    every: Duration,
    give_up: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.ok()?;
    if stream
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: casedesk\r\n")
        .await
        .is_err()
    {
        return Some(started.elapsed());
    }
    let mut buf = [0_u8; 1024];
    let mut n = 0_u32;
    while started.elapsed() < give_up {
        // the service closes (or answers, then closes); either ends the trickle
        match tokio::time::timeout(every, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => return Some(started.elapsed()),
            Err(_) => {}
        }
        n += 1;
        if stream
            .write_all(format!("x-slow-{n}: {n}\r\n").as_bytes())
            .await
            .is_err()
        {
            return Some(started.elapsed());
        }
    }
    None
}

#[tokio::test]
async fn slow_header_clients_are_cut_off_while_normal_clients_are_served() {
    let app = TestApp::spawn_with(|c| {
        c.http_limits.header_timeout = Duration::from_secs(1);
        c.http_limits.max_connections = 200;
    })
    .await;
    let addr = app.addr;
    let slow: Vec<_> = (0..100)
        .map(|_| {
            tokio::spawn(trickle(
                addr,
                Duration::from_millis(200),
                Duration::from_secs(8),
            ))
        })
        .collect();
    // a normal client, each request on a new connection, all the while
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut served = 0;
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        let resp = client.get(app.url("/health/live")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        slowest = slowest.max(t.elapsed());
        served += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served >= 10, "{served} requests served");
    assert!(slowest < Duration::from_millis(1500), "slowest {slowest:?}");
    for handle in slow {
        let held = handle.await.unwrap();
        let held = held.expect("the service never cut a slow client off");
        assert!(
            held >= Duration::from_millis(900) && held < Duration::from_millis(2500),
            "a slow client was cut off after {held:?}, the deadline is 1 s"
        );
    }
}

#[tokio::test]
async fn connections_over_the_limit_get_503_and_idle_ones_are_closed() {
    let app = TestApp::spawn_with(|c| {
        c.http_limits.header_timeout = Duration::from_secs(1);
        c.http_limits.max_connections = 20;
    })
    .await;
    // twenty idle connections take every slot
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), extra.read_to_end(&mut answer))
        .await
        .expect("the refusal arrives and the connection closes")
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    // the idle ones are closed at the header deadline, and the slots come back
    for mut stream in idle {
        let mut buf = [0_u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
            .await
            .expect("an idle connection is closed at the deadline")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
    let resp = reqwest::get(app.url("/health/live")).await.unwrap();
    assert_eq!(resp.status(), 200);
}
