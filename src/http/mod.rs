//! The API conventions (`../shared/design/API.md`) as shared machinery:
//! problem+json, request ids and headers, validated JSON bodies, keyset
//! pagination, and the completion of the OpenAPI document.

pub(crate) mod body;
pub(crate) mod conventions;
pub(crate) mod csv;
pub(crate) mod deprecation;
pub(crate) mod encoding;
pub(crate) mod formats;
pub(crate) mod idempotency;
pub(crate) mod json;
pub(crate) mod pagination;
pub mod problem;
pub(crate) mod server;
pub(crate) mod spec;
pub(crate) mod static_body;
pub(crate) mod types;

/// The full semantic version of the API; `info.version` and `API-Version`.
pub const API_VERSION: &str = "1.0.0";

/// Where the versioned API is mounted.
pub const API_BASE: &str = "/api/v1";

use poem_openapi::Tags;

/// An area's APIs, in spec order, named once: the type `Apis` and the value
/// `APIS` that `lib.rs` mounts. (poem-openapi implements `OpenApi` for
/// tuples of two or more; an area with one API is that API.)
macro_rules! area_apis {
    ($api:ident) => {
        /// This area's API.
        pub(crate) type Apis = $api;
        /// This area's API.
        pub(crate) const APIS: Apis = $api;
    };
    ($($api:ident),+ $(,)?) => {
        /// This area's APIs, in spec order.
        pub(crate) type Apis = ($($api,)+);
        /// This area's APIs, in spec order.
        pub(crate) const APIS: Apis = ($($api,)+);
    };
}
pub(crate) use area_apis;

use problem::ApiError;

/// The groups of operations in the spec.
#[derive(Tags)]
pub enum Tag {
    /// Signing in and out.
    Sessions,
    /// Staff accounts, one's own account and its second factor.
    Staff,
    /// The tamper-evident audit trail.
    Audit,
    /// Shelter City: defenders (by codename) and their publicity consents.
    Defenders,
    /// Shelter City: stays, their lifecycle and assignments.
    Stays,
    /// Shelter City: notes, risk assessments, activities and after-care check-ins of stays.
    StayRecords,
    /// International exchange: institutions, agreements, participants and placements.
    Exchange,
    /// The council's statistics (aggregates only; small Shelter City counts suppressed).
    Statistics,
    /// Integration: API clients, webhook subscriptions and the event feed.
    Integration,
    /// Records lifecycle: retention rules, the archiving index, legal holds,
    /// destruction lists and their reports (metadata only, never a name).
    Records,
}

/// The absolute address of a resource of this API (`path` as in the spec,
/// `/placements/{id}`), under `CASEDESK_PUBLIC_URL` with any path prefix it
/// has: what `Location` and `Link` give.
pub fn resource_url(public_url: &url::Url, path: &str) -> String {
    format!(
        "{}{API_BASE}{path}",
        public_url.as_str().trim_end_matches('/')
    )
}

/// The `ETag` of a resource version, as `If-Match` expects it back.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// Checks `If-Match` against the resource's `current` version and gives
/// the version the write expects: 428 when the header is missing, 412 when
/// no entity tag in it is the current one. `*` matches any current version
/// (RFC 9110, 13.1.1), and a list matches when one of its tags does.
pub fn if_match_version(header: Option<&str>, current: i32) -> Result<i32, ApiError> {
    let Some(value) = header else {
        return Err(ApiError::typed(
            crate::http::problem::ProblemType::IfMatchRequired,
            "Send the resource's current ETag in If-Match to change it.",
        ));
    };
    let matches = value.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag.trim_matches('"').parse::<i32>() == Ok(current)
    });
    if matches {
        Ok(current)
    } else {
        Err(stale_version())
    }
}

pub use problem::stale_version;
