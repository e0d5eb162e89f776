//! Routes outside the API (the spec, the docs page, health): served from
//! shared bytes, gzipped once, and answering other methods with 405 and
//! `Allow`.
//!
//! The spec is about 1.5 MB. Copied into every answer, 100 connections that
//! asked for it four times each and never read held 95 to 233 MiB; now each
//! answer holds a reference to one copy (and one gzipped copy, about a
//! tenth of it, for clients that accept gzip).

use std::io::Write;

use bytes::Bytes;
use poem::{
    http::{header, HeaderValue, Method, StatusCode},
    Endpoint, IntoResponse, Request, Response,
};

/// A body fixed at start: its bytes and their gzip, shared by every answer.
#[derive(Clone)]
pub(crate) struct StaticBody {
    content_type: &'static str,
    plain: Bytes,
    gzipped: Option<Bytes>,
    extra: Vec<(&'static str, &'static str)>,
}

impl StaticBody {
    pub(crate) fn new(content_type: &'static str, body: &[u8]) -> Self {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // writing to memory fails only if memory does: then the plain body serves
        let gzipped = encoder
            .write_all(body)
            .and_then(|()| encoder.finish())
            .ok()
            .map(Bytes::from);
        Self {
            content_type,
            plain: Bytes::copy_from_slice(body),
            gzipped,
            extra: Vec::new(),
        }
    }

    /// The same body with one more header on every answer.
    pub(crate) fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.extra.push((name, value));
        self
    }

    fn answer(&self, req: &Request) -> Response {
        let accepts_gzip = super::encoding::accepts_gzip(req);
        let mut builder = Response::builder()
            .content_type(self.content_type)
            .header(header::VARY, "Accept-Encoding");
        for (name, value) in &self.extra {
            builder = builder.header(*name, *value);
        }
        match (&self.gzipped, accepts_gzip) {
            (Some(gz), true) => builder
                .header(header::CONTENT_ENCODING, "gzip")
                .body(gz.clone()),
            _ => builder.body(self.plain.clone()),
        }
    }
}

impl Endpoint for StaticBody {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        Ok(self.answer(&req))
    }
}

/// `GET` (and `HEAD`) of `ep`; any other method is a 405 that names them
/// in `Allow` (the problem body is added by the conventions layer).
pub(crate) fn get_only<E: Endpoint + 'static>(ep: E) -> impl Endpoint<Output = Response> {
    GetOnly(ep)
}

struct GetOnly<E>(E);

impl<E: Endpoint> Endpoint for GetOnly<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let method = req.method().clone();
        if method != Method::GET && method != Method::HEAD {
            let mut resp = StatusCode::METHOD_NOT_ALLOWED.into_response();
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Ok(resp);
        }
        let resp = self.0.call(req).await?.into_response();
        if method == Method::HEAD {
            let (parts, _) = resp.into_parts();
            return Ok(Response::from_parts(parts, poem::Body::empty()));
        }
        Ok(resp)
    }
}
