//! The API conventions (`../shared/design/API.md`) as shared machinery:
//! problem+json, request ids and headers, validated JSON bodies, keyset
//! pagination, and the completion of the OpenAPI document.

pub mod body;
pub mod conventions;
pub mod csv;
pub mod json;
pub mod pagination;
pub mod problem;
pub mod server;
pub mod spec;
pub mod types;

/// The full semantic version of the API; `info.version` and `API-Version`.
pub const API_VERSION: &str = "1.0.0";

/// Where the versioned API is mounted.
pub const API_BASE: &str = "/api/v1";

use poem::http::StatusCode;
use poem_openapi::Tags;

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
}

/// The `ETag` of a resource version, as `If-Match` expects it back.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// The version an `If-Match` header names: 428 when it is missing, 412 when
/// it cannot name any version.
pub fn if_match_version(header: Option<&str>) -> Result<i32, ApiError> {
    let Some(value) = header else {
        return Err(ApiError::typed(
            StatusCode::PRECONDITION_REQUIRED,
            "if-match-required",
            "If-Match required",
            "Send the resource's current ETag in If-Match to change it.",
        ));
    };
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    value
        .trim_matches('"')
        .parse::<i32>()
        .map_err(|_| stale_version())
}

pub fn stale_version() -> ApiError {
    ApiError::typed(
        StatusCode::PRECONDITION_FAILED,
        "stale-version",
        "Stale version",
        "The resource changed since the version in If-Match; fetch it again. Nothing was written.",
    )
}
