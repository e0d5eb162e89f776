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

use std::{convert::Infallible, sync::Arc, time::Duration};

use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use poem::{web::LocalAddr, web::RemoteAddr, Addr, Endpoint, Response};
use tokio::{io::AsyncWriteExt, net::TcpListener, sync::Semaphore};

/// How long a refused connection may take to receive its 503.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// The limits of the server (`CASEDESK_HTTP_*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's header block must arrive within this; an idle kept-alive
    /// connection is closed after it too.
    pub header_timeout: Duration,
    /// Connections open at once, at most.
    pub max_connections: usize,
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
pub async fn serve<E>(
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
        let (mut stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // out of descriptors or a connection reset before accept:
                // wait a moment instead of spinning
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                limit = limits.max_connections,
                "connection refused: at the connection limit"
            );
            tokio::spawn(async move {
                let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
                    stream.write_all(&refusal()).await?;
                    stream.shutdown().await
                })
                .await;
            });
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
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                log_connection_end(&e);
            }
            drop(slot);
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
