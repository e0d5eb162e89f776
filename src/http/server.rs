//! The HTTP server: accepts connections and serves the application over
//! HTTP/1.1 with the limits a server on the internet needs, which poem's own
//! server does not set: a deadline for a request's header block and a limit
//! on open connections.
//!
//! Without them, 300 clients trickling one header line at a time were never
//! cut off and exhausted the process's descriptors (`/health/live` stopped
//! answering). Now a client has `header_timeout` to send a whole request
//! head (also between requests on a kept-alive connection); over
//! `max_connections`, a new connection gets a 503 problem with `Retry-After`
//! and is closed at once, so the process never holds more descriptors than
//! the limit allows. Request bodies have their own deadline
//! (`CASEDESK_BODY_TIMEOUT_SECONDS`, in the conventions middleware).
//!
//! Two more limits (issue 32.5), because one anonymous client held every
//! slot: 100 connections that each pipelined four requests for the spec and
//! never read kept `/health/live` at 503 for as long as they stayed, and 100
//! slow chunked uploads held slots for the body deadline each.
//! - **A write deadline** (`write_timeout`): a write to a client that makes
//!   no progress for this long ends the connection (a reader that stopped
//!   reading no longer keeps its slot, or the answer's memory).
//! - **A share per address** (`max_connections_per_address`): one address
//!   (IPv6 by its /64, as the sign-in throttle counts) holds at most this
//!   many connections; more get the same 503 at once. Trusted proxies
//!   (`CASEDESK_TRUSTED_PROXIES`) are exempt: behind one, every client has
//!   its address, and the proxy limits its clients itself.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    io,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use poem::{web::LocalAddr, web::RemoteAddr, Addr, Endpoint, Response};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpListener,
    sync::Semaphore,
    time::Sleep,
};

/// How long a refused connection may take to receive its 503.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) use crate::config::Limits;

/// Connections open per address (IPv6 by its /64).
#[derive(Default)]
struct Shares {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its address's share; given back on drop.
struct Share {
    shares: Arc<Shares>,
    key: IpAddr,
}

impl Shares {
    fn key(addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V4(_) => addr,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => ipnet::Ipv6Net::new(v6, 64)
                    .map(|n| IpAddr::V6(n.trunc().network()))
                    .unwrap_or(addr),
            },
        }
    }

    /// A place for a connection from `addr`, if its share is not used up.
    fn take(self: &Arc<Self>, addr: IpAddr, limit: usize) -> Option<Share> {
        let key = Self::key(addr);
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Share {
            shares: self.clone(),
            key,
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut open = self
            .shares
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A stream whose writes must make progress within `timeout`: a client that
/// stops reading gets its connection ended instead of holding it.
struct WriteDeadline<T> {
    inner: T,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteDeadline<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// After an inner write or flush: progress clears the deadline; a wait
    /// starts it (once), and a wait past it is an error.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not read its answer in time",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, polled)
    }
}

/// The answer to a connection over the limit: written straight to the
/// socket (the application is never reached), with the headers every answer
/// carries.
fn refusal() -> Vec<u8> {
    let body = r#"{"type":"urn:casedesk:problem:unavailable","title":"Service Unavailable","status":503,"detail":"The service has as many connections open as it allows; try again after Retry-After seconds.","invalidParams":[]}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\n\
         content-type: {}\r\n\
         content-length: {}\r\n\
         retry-after: 1\r\n\
         connection: close\r\n\
         api-version: {}\r\n\
         cache-control: no-store\r\n\
         content-security-policy: frame-ancestors 'none'\r\n\
         strict-transport-security: max-age=31536000; includeSubDomains\r\n\
         x-content-type-options: nosniff\r\n\
         x-frame-options: DENY\r\n\r\n{body}",
        super::problem::PROBLEM_JSON,
        body.len(),
        super::API_VERSION,
    )
    .into_bytes()
}

/// Serves `endpoint` on `listener` until `shutdown` completes; then stops
/// accepting, lets requests in flight finish (at most `grace`) and returns.
pub(crate) async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send,
    grace: Duration,
) -> std::io::Result<()>
where
    E: Endpoint<Output = Response> + 'static,
{
    let endpoint = Arc::new(endpoint);
    let local = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let shares = Arc::new(Shares::default());
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // out of descriptors or a connection reset before accept:
                // wait a moment instead of spinning
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = limits
            .shared_addresses
            .iter()
            .any(|n| n.contains(&remote.ip()));
        let share = if shared {
            None
        } else {
            match shares.take(remote.ip(), limits.max_connections_per_address.max(1)) {
                Some(share) => Some(share),
                None => {
                    // never with the address: it is personal data of the caller
                    tracing::warn!(
                        limit = limits.max_connections_per_address,
                        "connection refused: its address holds its share of connections"
                    );
                    refuse(stream);
                    continue;
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                limit = limits.max_connections,
                "connection refused: at the connection limit"
            );
            refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let endpoint = endpoint.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let endpoint = endpoint.clone();
            async move {
                let req = poem::Request::from((
                    req,
                    LocalAddr(Addr::SocketAddr(local)),
                    RemoteAddr(Addr::SocketAddr(remote)),
                    poem::http::uri::Scheme::HTTP,
                ));
                let resp: hyper::Response<_> = endpoint.get_response(req).await.into();
                Ok::<_, Infallible>(resp)
            }
        });
        let stream = WriteDeadline::new(stream, limits.write_timeout);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                log_connection_end(&e);
            }
            drop(slot);
            drop(share);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("shutdown grace period over: closing the connections left");
        }
    }
    Ok(())
}

/// Answers a connection over a limit with the 503 and closes it, without
/// waiting for it (a client that does not read is dropped after a second).
fn refuse(mut stream: tokio::net::TcpStream) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
            stream.write_all(&refusal()).await?;
            stream.shutdown().await
        })
        .await;
    });
}

/// A connection that ended with an error: a client that was too slow or went
/// away is routine (debug); anything else is worth a warning. Never with the
/// client's address: it is personal data of the caller.
fn log_connection_end(e: &hyper::Error) {
    if e.is_timeout() || e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        tracing::debug!(error = %e, "connection ended");
    } else {
        tracing::warn!(error = %e, "connection ended with an error");
    }
}
