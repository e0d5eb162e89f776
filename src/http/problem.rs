//! RFC 9457 problem details: the one shape of every 4xx and 5xx answer.

use poem::{http::StatusCode, Response};
use poem_openapi::{
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{ToJSON, Type},
    ApiResponse, Object,
};

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One reason why a request was refused, pointing at the parameter or body field.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename_all = "camelCase")]
pub struct InvalidParam {
    /// The parameter or JSON pointer-like path of the field (`body.email`, `limit`).
    #[oai(validator(max_length = 200))]
    pub name: String,
    /// A stable, machine-readable code (`required`, `too_long`, `unknown_field`, ...).
    #[oai(validator(max_length = 64))]
    pub code: String,
    /// A human-readable explanation.
    #[oai(validator(max_length = 500))]
    pub reason: String,
}

impl InvalidParam {
    pub fn new(name: impl Into<String>, code: &str, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            code: code.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Problem details (RFC 9457).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
#[oai(rename = "Problem")]
pub struct Problem {
    /// A URI reference that identifies the problem type.
    #[oai(rename = "type", validator(max_length = 200))]
    pub kind: String,
    /// A short summary of the problem type.
    #[oai(validator(max_length = 200))]
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// An explanation specific to this occurrence; never contains personal data.
    #[oai(validator(max_length = 2000))]
    pub detail: String,
    /// Identifies this occurrence: the request id.
    #[oai(skip_serializing_if_is_none, validator(max_length = 200))]
    pub instance: Option<String>,
    /// Every problem with the input, for 400 answers.
    #[oai(default, skip_serializing_if_is_empty)]
    pub invalid_params: Vec<InvalidParam>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            invalid_params: Vec::new(),
        }
    }

    /// A problem with its own type (a stable URN) and title.
    pub fn typed(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:casedesk:problem:{kind}"),
            title: title.to_owned(),
            ..Self::new(status, detail)
        }
    }

    pub fn invalid(params: Vec<InvalidParam>) -> Self {
        let detail = if params.len() == 1 {
            "The request has 1 invalid parameter; see invalidParams.".to_owned()
        } else {
            format!(
                "The request has {} invalid parameters; see invalidParams.",
                params.len()
            )
        };
        Self {
            invalid_params: params,
            ..Self::typed(
                StatusCode::BAD_REQUEST,
                "invalid-input",
                "Invalid input",
                detail,
            )
        }
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn into_response(self) -> Response {
        let status = self.status_code();
        let body = self.to_json_string();
        Response::builder()
            .status(status)
            .content_type(PROBLEM_JSON)
            .body(body)
    }
}

/// The error half of every operation's result: a problem response.
///
/// Its OpenAPI description lists every status a client can get from an
/// operation; [`crate::http::spec`] trims the ones an operation cannot give
/// (no body: no 413/415; no authentication: no 401/403).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub problem: Box<Problem>,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem::new(status, detail).into()
    }
    pub fn typed(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem::typed(status, kind, title, detail).into()
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "The resource does not exist.")
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::typed(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The service could not complete the request; the request id identifies it in the service's log.",
        )
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }
    pub fn invalid(params: Vec<InvalidParam>) -> Self {
        Problem::invalid(params).into()
    }
    /// One invalid field.
    pub fn field(name: &str, code: &str, reason: impl Into<String>) -> Self {
        Self::invalid(vec![InvalidParam::new(name, code, reason)])
    }
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }
    pub fn status(&self) -> StatusCode {
        self.problem.status_code()
    }
    pub fn to_response(&self) -> Response {
        let mut resp = (*self.problem).clone().into_response();
        if let Some(seconds) = self.retry_after {
            if let Ok(v) = poem::http::HeaderValue::from_str(&seconds.to_string()) {
                resp.headers_mut()
                    .insert(poem::http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self {
            problem: Box::new(p),
            retry_after: None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.problem.status, self.problem.title)
    }
}

impl std::error::Error for ApiError {}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.problem.status_code()
    }
    fn as_response(&self) -> Response {
        self.to_response()
    }
}

/// Statuses every operation may document, with their descriptions.
pub const DOCUMENTED_ERRORS: &[(u16, &str)] = &[
    (400, "Invalid input: malformed JSON, failed validation (all problems listed in invalidParams)."),
    (401, "Not authenticated: the bearer token is missing, unknown or expired."),
    (403, "Authenticated, but this account may not do this now (for example: it must change its password first)."),
    (404, "The resource does not exist, or the caller may not know that it exists."),
    (408, "The request body did not arrive in time."),
    (409, "Conflict with the current state (duplicate, illegal transition)."),
    (412, "The If-Match version is stale; nothing was written."),
    (413, "The request body is larger than 1 MiB."),
    (415, "The request body is not application/json."),
    (428, "This change needs an If-Match header."),
    (429, "Too many requests; see Retry-After."),
    (500, "The service failed; the request id identifies the failure in its log."),
    (503, "The service cannot reach its database right now; try again later."),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED_ERRORS
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_JSON,
                        schema: Problem::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

/// The result type of every operation.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        crate::db::classify_error(&err)
    }
}
