//! The middleware that makes every answer follow the API conventions: request
//! ids, the body limit, problem+json for every error, the version and security
//! headers, and one tracing span per request.

use std::time::Instant;

use poem::{
    http::{header, HeaderValue, StatusCode},
    Endpoint, IntoResponse, PathPattern, Request, Response, Result,
};
use poem_openapi::{
    error::{ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError},
    OperationId,
};
use tracing::Instrument;
use uuid::Uuid;

use super::problem::{ApiError, InvalidParam, Problem, PROBLEM_JSON};
use super::API_VERSION;

/// Largest accepted request body.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The id of the request being served, available to handlers as request data.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// The client's address, for throttling and the audit trail: the peer's,
/// or, when the peer is a trusted proxy, the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy (the entries left of
/// it were written by the client and prove nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub Option<std::net::IpAddr>);

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is that IPv4 address.
fn canonical(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    }
}

pub(crate) fn client_addr(req: &Request, trusted: &[ipnet::IpNet]) -> ClientAddr {
    let Some(peer) = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| canonical(a.ip()))
    else {
        return ClientAddr(None);
    };
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return ClientAddr(Some(peer));
    }
    let mut client = peer;
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for entry in forwarded.iter().rev() {
        match entry.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(&client) {
                    break;
                }
            }
            // an entry that is not an address ends the trusted part
            Err(_) => break,
        }
    }
    ClientAddr(Some(client))
}

fn acceptable_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Wraps the whole application.
pub(crate) async fn conventions<E: Endpoint>(next: E, mut req: Request) -> Result<Response> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let addr = match req.data::<crate::AppState>() {
        Some(state) => client_addr(&req, &state.config.trusted_proxies),
        None => client_addr(&req, &[]),
    };
    req.extensions_mut().insert(addr);

    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = tracing::field::Empty,
        operation = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );

    let (outcome, deprecated) = super::deprecation::scope(async {
        match limit_body(&mut req).await {
            Err(problem) => problem.into_response(),
            Ok(()) => match next.call(req).await {
                Ok(resp) => resp.into_response(),
                Err(err) => {
                    let route = err.data::<PathPattern>().cloned();
                    let mut resp = problem_from_error(err);
                    if let Some(route) = route {
                        resp.set_data(route);
                    }
                    resp
                }
            },
        }
    })
    .instrument(span.clone())
    .await;

    let mut resp = ensure_problem(outcome);
    super::deprecation::set_headers(&mut resp, &deprecated);
    if resp.status().is_client_error() || resp.status().is_server_error() {
        // problem bodies carry the request id as their instance
        resp = with_instance(resp, &request_id).await;
    }
    set_headers(&mut resp, &request_id);

    let status = resp.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Some(PathPattern(route)) = resp.data::<PathPattern>() {
        span.record("route", route.as_ref());
    }
    if let Some(OperationId(op)) = resp.data::<OperationId>() {
        span.record("operation", *op);
    }
    span.record("status", status);
    span.record("latency_ms", latency_ms);
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!("request failed");
        } else {
            tracing::info!("request served");
        }
    });
    Ok(resp)
}

/// Refuses bodies over [`MAX_BODY_BYTES`], whether or not they declare a length.
async fn limit_body(req: &mut Request) -> std::result::Result<(), Problem> {
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than the limit of {MAX_BODY_BYTES} bytes."),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    if declared == Some(0) {
        return Ok(());
    }
    let timeout = req
        .data::<crate::AppState>()
        .map_or(std::time::Duration::from_secs(30), |s| {
            s.config.body_timeout
        });
    let body = req.take_body();
    match tokio::time::timeout(timeout, body.into_bytes_limit(MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => {
            req.set_body(bytes);
            Ok(())
        }
        Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => Err(too_large()),
        Ok(Err(_)) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "The request body could not be read completely.",
        )),
        Err(_) => Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "The request body did not arrive within {} seconds.",
                timeout.as_secs()
            ),
        )),
    }
}

/// Turns any error that escaped the handlers into a problem response.
fn problem_from_error(err: poem::Error) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        if api.status().is_server_error() {
            tracing::error!(status = api.status().as_u16(), "server error");
        }
        return api.to_response();
    }
    let status = err.status();
    let problem = if let Some(e) = err.downcast_ref::<ParseParamError>() {
        let (code, reason) = plain_reason(&e.reason);
        Problem::invalid(vec![InvalidParam::new(e.name, code, reason)])
    } else if let Some(e) = err.downcast_ref::<ParsePathError>() {
        let (code, reason) = plain_reason(&e.reason);
        Problem::invalid(vec![InvalidParam::new(e.name, code, reason)])
    } else if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        Problem::invalid(vec![InvalidParam::new(
            "body",
            "invalid",
            format!("The request body is not valid: {}", e.reason),
        )])
    } else if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        let detail = match e {
            ContentTypeError::ExpectContentType => {
                "The request has a body but no Content-Type; send application/json."
            }
            _ => "The request body's Content-Type is not supported; send application/json.",
        };
        Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail)
    } else {
        problem_for_status(status)
    };
    if status.is_server_error() {
        // The detail of an internal error goes to the log, never to the caller.
        tracing::error!(error = %err, "unhandled error");
    }
    problem.into_response()
}

/// poem-openapi's reason for a parameter it could not parse or that failed
/// a declared bound (`verification failed. maximum(200, exclusive: false)`,
/// `failed to parse "optional_integer(uint32)": invalid digit found in
/// string`) in plain words, with a stable code.
pub(crate) fn plain_reason(reason: &str) -> (&'static str, String) {
    let bound = |name: &str| {
        let start = reason.find(&format!("{name}("))? + name.len() + 1;
        let rest = &reason[start..];
        let end = rest.find([',', ')'])?;
        Some(rest[..end].trim().trim_end_matches(".0").to_owned())
    };
    if let Some(n) = bound("maximum") {
        return ("too_large", format!("Must be at most {n}."));
    }
    if let Some(n) = bound("minimum") {
        return ("too_small", format!("Must be at least {n}."));
    }
    if let Some(n) = bound("max_length") {
        return ("too_long", format!("At most {n} characters."));
    }
    if let Some(n) = bound("min_length") {
        return ("too_short", format!("At least {n} characters."));
    }
    if reason.contains("pattern(") {
        return (
            "invalid",
            "Does not have the form the spec gives.".to_owned(),
        );
    }
    let what = reason.split('"').nth(1).unwrap_or("").to_ascii_lowercase();
    let expected = if what.contains("uuid") {
        "Must be a UUID, such as 01937c4e-8a5f-7b2e-9c1d-3f6a2b8e4d10."
    } else if what.contains("date-time") || what.contains("date_time") {
        "Must be a date and time with an offset (RFC 3339), such as 2026-11-28T09:30:00Z."
    } else if what.contains("date") {
        "Must be a calendar date, YYYY-MM-DD."
    } else if what.contains("integer") {
        "Must be a whole number."
    } else if what.contains("bool") {
        "Must be true or false."
    } else if reason.contains("required") || reason.contains("missing") {
        return ("required", "This parameter is required.".to_owned());
    } else {
        "Not one of the values the spec allows for this parameter."
    };
    ("invalid", expected.to_owned())
}

/// The generic problem of a status, for errors that carry no detail of their own.
pub(crate) fn problem_for_status(status: StatusCode) -> Problem {
    let detail = match status.as_u16() {
        400 => "The request is not valid.",
        401 => "Authentication is required: send a valid bearer token.",
        403 => "This account may not do this.",
        404 => "There is no resource at this address.",
        405 => "This resource does not support this method.",
        406 => "The service cannot produce the requested media type; ask for application/json.",
        413 => "The request body is larger than the limit of 1 MiB.",
        415 => "The request body's Content-Type is not supported; send application/json.",
        s if s >= 500 => "The service could not complete the request; the request id identifies it in the service's log.",
        _ => "The request could not be completed.",
    };
    let status = if status.is_client_error() || status.is_server_error() {
        status
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    Problem::new(status, detail)
}

/// A 4xx or 5xx answer that is not problem+json yet becomes one.
fn ensure_problem(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_JSON));
    if is_problem {
        return resp;
    }
    let mut replacement = problem_for_status(status).into_response();
    // keep headers that carry meaning for the caller (Retry-After, Allow, CORS, ...)
    for (name, value) in resp.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    replacement
}

/// Sets `instance` on a problem body to the request id.
async fn with_instance(resp: Response, request_id: &str) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = body.into_bytes().await else {
        return Response::from_parts(parts, poem::Body::empty());
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert(
                "instance".to_owned(),
                serde_json::Value::String(format!("urn:casedesk:request:{request_id}")),
            );
            serde_json::Value::Object(map).to_string().into()
        }
        _ => bytes,
    };
    let mut resp = Response::from_parts(parts, poem::Body::from(body));
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp
}

fn set_headers(resp: &mut Response, request_id: &str) {
    let busy = matches!(resp.status().as_u16(), 429 | 503);
    let headers = resp.headers_mut();
    // every 429 and 503 says when to come back; one second unless the
    // answer knows better (a sign-in lock knows its end)
    if busy && !headers.contains_key(header::RETRY_AFTER) {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    let fixed: [(&str, &str); 6] = [
        ("api-version", API_VERSION),
        ("cache-control", "no-store"),
        ("content-security-policy", "frame-ancestors 'none'"),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(
            poem::http::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
}
