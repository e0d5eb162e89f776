//! Connections as the internet makes them: clients that trickle their
//! header lines to hold connections open, and more connections than the
//! service allows. The service cuts the slow ones off at the header
//! deadline, refuses those over the limit with a 503, and keeps serving
//! everyone else meanwhile.

use crate::common;

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

/// A connection from `from` (any 127.0.0.0/8 address is this host).
async fn connect_from(from: [u8; 4], to: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    socket.bind(std::net::SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

/// Whether the service answered this connection with its 503 and closed it.
async fn refused(stream: &mut TcpStream) -> bool {
    let mut answer = Vec::new();
    match tokio::time::timeout(Duration::from_millis(500), stream.read_to_end(&mut answer)).await {
        Ok(_) => String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 503"),
        Err(_) => false,
    }
}

/// Issue 32.5: one anonymous client held every slot, with slow chunked
/// uploads and with pipelined requests for the spec that it never read.
/// One address now holds at most its share, and the rest of the service,
/// `/health/live` and signed-in staff included, is served meanwhile.
#[tokio::test]
async fn one_address_holds_only_its_share_of_connections() {
    let app = TestApp::spawn_with(|c| {
        c.http_limits.max_connections = 20;
        c.http_limits.max_connections_per_address = 6;
    })
    .await;
    let staff = app
        .account(&[casedesk::accounts::model::Role::Analyst])
        .await;
    let attacker = [127, 0, 0, 3];
    let mut held = Vec::new();
    let mut first_refusal = None;
    for i in 0..12 {
        let mut stream = connect_from(attacker, app.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let request: &[u8] = if i % 2 == 0 {
            // a chunked upload that sends its first chunk and then waits
            b"POST /api/v1/sessions HTTP/1.1\r\nhost: casedesk\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n1\r\n{\r\n"
        } else {
            // four requests for the spec, never read
            b"GET /api/v1/openapi.json HTTP/1.1\r\nhost: casedesk\r\n\r\nGET /api/v1/openapi.json HTTP/1.1\r\nhost: casedesk\r\n\r\nGET /api/v1/openapi.json HTTP/1.1\r\nhost: casedesk\r\n\r\nGET /api/v1/openapi.json HTTP/1.1\r\nhost: casedesk\r\n\r\n"
        };
        let _ = stream.write_all(request).await;
        if i >= 6 && first_refusal.is_none() && refused(&mut stream).await {
            first_refusal = Some(i);
        }
        held.push(stream);
    }
    assert_eq!(
        first_refusal,
        Some(6),
        "the seventh connection of one address is refused"
    );
    // everyone else is served meanwhile: health, and a signed-in staff member
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 4]))
        .build()
        .unwrap();
    let resp = other.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = other
        .get(app.api("/staff/me"))
        .bearer_auth(&staff.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    drop(held);
}

/// Issue 32.5: a client that asks and never reads kept its connection (and
/// the answer in memory) for as long as it liked. A write that makes no
/// progress for the write deadline ends the connection, and its slot comes
/// back.
#[tokio::test]
async fn a_client_that_does_not_read_is_cut_off_at_the_write_deadline() {
    let app = TestApp::spawn_with(|c| {
        c.http_limits.max_connections = 4;
        c.http_limits.write_timeout = Duration::from_secs(1);
        c.http_limits.header_timeout = Duration::from_secs(60);
    })
    .await;
    // answers far larger than what the kernel's socket buffers take in, so
    // that writing them stalls: the spec, asked for as many times as that needs
    let spec = std::fs::metadata(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
        .unwrap()
        .len();
    let requests = "GET /api/v1/openapi.json HTTP/1.1\r\nhost: casedesk\r\n\r\n"
        .repeat(usize::try_from(16_000_000 / spec + 2).unwrap());
    let mut stuck = Vec::new();
    for _ in 0..4 {
        let mut stream = connect_from([127, 0, 0, 5], app.addr).await.unwrap();
        stream.write_all(requests.as_bytes()).await.unwrap();
        stuck.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // every slot is taken while they wait
    let mut extra = connect_from([127, 0, 0, 6], app.addr).await.unwrap();
    assert!(refused(&mut extra).await, "at the limit");
    // past the write deadline they are gone, and others are served
    tokio::time::sleep(Duration::from_secs(2)).await;
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 6]))
        .build()
        .unwrap();
    let resp = other.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    drop(stuck);
}
