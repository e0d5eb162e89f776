//! Cheaper reads for a client that can use them: a JSON answer of at least
//! [`MIN_GZIP`] bytes is gzipped for a client that accepts gzip, and a read
//! whose `ETag` the client already holds (`If-None-Match`) is a 304 without
//! a body. Only successful `GET`s: problems, writes and the streamed CSV
//! export go out as they are.
//!
//! Compression of answers that mix a secret with text a third party chose
//! (BREACH) needs a victim's browser to send authenticated requests the
//! attacker shapes: a bearer token is never sent by a browser on its own,
//! so no such request exists here.

use std::io::Write;

use poem::{
    http::{header, HeaderValue, Method, StatusCode},
    Body, Endpoint, IntoResponse, Request, Response, Result,
};

/// Smaller answers are sent as they are: gzip would save too little.
pub(crate) const MIN_GZIP: usize = 1024;

/// Whether the request's `Accept-Encoding` admits gzip.
pub(crate) fn accepts_gzip(req: &Request) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Whether `if_none_match` names `etag` (weak comparison, RFC 9110 13.1.2).
fn matches(if_none_match: &str, etag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let etag = opaque(etag);
    if_none_match.trim() == "*" || if_none_match.split(',').any(|t| opaque(t) == etag)
}

/// The middleware, around the API.
pub(crate) async fn negotiate<E: Endpoint>(next: E, req: Request) -> Result<Response> {
    if req.method() != Method::GET {
        return Ok(next.call(req).await?.into_response());
    }
    let gzip = accepts_gzip(&req);
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut resp = next.call(req).await?.into_response();
    if resp.status() != StatusCode::OK {
        return Ok(resp);
    }
    let etag = resp
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok());
    if let (Some(wanted), Some(etag)) = (if_none_match.as_deref(), etag) {
        if matches(wanted, etag) {
            resp.set_status(StatusCode::NOT_MODIFIED);
            resp.headers_mut().remove(header::CONTENT_TYPE);
            resp.headers_mut().remove(header::CONTENT_LENGTH);
            resp.set_body(Body::empty());
            return Ok(resp);
        }
    }
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !json || resp.headers().contains_key(header::CONTENT_ENCODING) {
        return Ok(resp);
    }
    resp.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if !gzip {
        return Ok(resp);
    }
    let body = resp.take_body().into_bytes().await?;
    if body.len() < MIN_GZIP {
        resp.set_body(body);
        return Ok(resp);
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    match encoder.write_all(&body).and_then(|()| encoder.finish()) {
        Ok(gzipped) => {
            resp.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            resp.headers_mut().remove(header::CONTENT_LENGTH);
            resp.set_body(gzipped);
        }
        // memory failed: the plain body serves
        Err(_) => resp.set_body(body),
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_lists() {
        assert!(matches("\"3\"", "\"3\""));
        assert!(matches("W/\"3\"", "\"3\""));
        assert!(matches("\"1\", \"3\"", "\"3\""));
        assert!(matches("*", "\"3\""));
        assert!(!matches("\"4\"", "\"3\""));
    }

    #[test]
    fn gzip_is_accepted_unless_refused() {
        let with =
            |v: &str| accepts_gzip(&Request::builder().header("accept-encoding", v).finish());
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, gzip;q=0.8"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br"));
        assert!(!accepts_gzip(&Request::builder().finish()));
    }
}
