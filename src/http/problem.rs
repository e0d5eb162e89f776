//! RFC 9457 problem details: the one shape of every 4xx and 5xx answer.

use poem::{http::StatusCode, Response};

use crate::versioned::WriteError;
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

/// Every problem type the service answers with: a client branches on
/// `type`, never on `title` or `detail`. The spec's `Problem` schema and the
/// README list them with their meaning (a test holds the README to this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    InvalidInput,
    UnreadableRequest,
    Unauthenticated,
    InvalidCredentials,
    Forbidden,
    PasswordChangeRequired,
    MfaEnrolmentRequired,
    InsufficientScope,
    CoordinatorOnly,
    SelfGrant,
    FourEyes,
    CrossOrigin,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    RequestTimeout,
    Conflict,
    IllegalTransition,
    OverQuota,
    WaitingPeriod,
    SeparationOfDuties,
    LegalHold,
    IdempotencyKeyInUse,
    FeedCursorExpired,
    StaleVersion,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    IfMatchRequired,
    TooManyAttempts,
    TooManyRequests,
    InternalError,
    Unavailable,
}

impl ProblemType {
    pub const ALL: [ProblemType; 33] = [
        Self::InvalidInput,
        Self::UnreadableRequest,
        Self::Unauthenticated,
        Self::InvalidCredentials,
        Self::Forbidden,
        Self::PasswordChangeRequired,
        Self::MfaEnrolmentRequired,
        Self::InsufficientScope,
        Self::CoordinatorOnly,
        Self::SelfGrant,
        Self::FourEyes,
        Self::CrossOrigin,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::NotAcceptable,
        Self::RequestTimeout,
        Self::Conflict,
        Self::IllegalTransition,
        Self::OverQuota,
        Self::WaitingPeriod,
        Self::SeparationOfDuties,
        Self::LegalHold,
        Self::IdempotencyKeyInUse,
        Self::FeedCursorExpired,
        Self::StaleVersion,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::IdempotencyKeyReused,
        Self::IfMatchRequired,
        Self::TooManyAttempts,
        Self::TooManyRequests,
        Self::InternalError,
        Self::Unavailable,
    ];

    /// (slug, status, title, meaning)
    pub const fn describe(self) -> (&'static str, u16, &'static str, &'static str) {
        use ProblemType::*;
        match self {
            InvalidInput => ("invalid-input", 400, "Invalid input", "The request failed validation; `invalidParams` lists every problem (parameter, header or body field) at once."),
            UnreadableRequest => ("unreadable-request", 400, "Unreadable request", "The request body could not be read completely."),
            Unauthenticated => ("unauthenticated", 401, "Unauthenticated", "No valid bearer token: missing, unknown, expired or revoked."),
            InvalidCredentials => ("invalid-credentials", 401, "Invalid credentials", "Sign-in refused: wrong e-mail address, password or one-time code (one answer for all, by design)."),
            Forbidden => ("forbidden", 403, "Forbidden", "The caller's roles do not allow this operation."),
            PasswordChangeRequired => ("password-change-required", 403, "Password change required", "The account must change its one-time password first (PUT /staff/me/password)."),
            MfaEnrolmentRequired => ("mfa-enrolment-required", 403, "Second factor required", "The account's roles require a second factor: enrol (POST /staff/me/totp) and confirm it. An account that must change its password does that first."),
            InsufficientScope => ("insufficient-scope", 403, "Insufficient scope", "The API client's scopes do not cover this operation or channel."),
            CoordinatorOnly => ("coordinator-only", 403, "Coordinators only", "Only a coordinator of the programme may make this change."),
            SelfGrant => ("self-grant", 403, "Self-grant", "Nobody asks a role that needs a second person for their own account, or through an account it made (or reset)."),
            FourEyes => ("four-eyes", 403, "Second person required", "A role grant is approved by an independent person who decides grants of that role: not its requester or its account, nor an account made (or reset) by either or that made theirs."),
            CrossOrigin => ("cross-origin", 403, "Origin not allowed", "A browser sent this request from an origin that is not this service's and not in CASEDESK_CORS_ALLOWED_ORIGINS."),
            NotFound => ("not-found", 404, "Not Found", "No resource at this address, or the caller may not know that it exists."),
            MethodNotAllowed => ("method-not-allowed", 405, "Method Not Allowed", "The path exists, but not with this method; `Allow` lists its methods."),
            NotAcceptable => ("not-acceptable", 406, "Not Acceptable", "The service cannot answer in the media type asked for."),
            RequestTimeout => ("request-timeout", 408, "Request Timeout", "The request body did not arrive in time."),
            Conflict => ("conflict", 409, "Conflict", "The request conflicts with the current state (a duplicate, say)."),
            IllegalTransition => ("illegal-transition", 409, "Illegal transition", "The status change is not allowed from the current status; `detail` lists the allowed ones."),
            OverQuota => ("over-quota", 409, "Over quota", "Accepting the placement would exceed the agreement's quota; a coordinator may override."),
            WaitingPeriod => ("waiting-period", 409, "Waiting period", "A destruction list is executed only once its waiting period has passed; `detail` says when."),
            SeparationOfDuties => ("separation-of-duties", 409, "Separation of duties", "Author, reviewer and archivist of one destruction list are different people, whatever roles one account holds."),
            LegalHold => ("legal-hold", 409, "A legal hold stands", "The record, or a stay or placement it holds, is under a legal hold: it is neither erased nor destroyed until the hold is lifted (AVG art. 17(3)(e))."),
            IdempotencyKeyInUse => ("idempotency-key-in-use", 409, "Idempotency key in use", "The first request with this `Idempotency-Key` is still under way; retry after `Retry-After` seconds to get its answer."),
            FeedCursorExpired => ("feed-cursor-expired", 410, "Feed cursor expired", "The events after this cursor are older than the feed window and were removed; read from the start of the feed (no cursor) and reconcile by fetching the resources."),
            StaleVersion => ("stale-version", 412, "Stale version", "`If-Match` does not name the current version; nothing was written."),
            PayloadTooLarge => ("payload-too-large", 413, "Payload Too Large", "The request body is larger than 1 MiB."),
            UnsupportedMediaType => ("unsupported-media-type", 415, "Unsupported Media Type", "The request body is not application/json."),
            IfMatchRequired => ("if-match-required", 428, "If-Match required", "This change needs the resource's ETag in `If-Match`."),
            IdempotencyKeyReused => ("idempotency-key-reused", 422, "Idempotency key reused", "This `Idempotency-Key` was sent in the last 24 hours with another request (another operation or body); nothing was written. Use a new key for a new request."),
            TooManyAttempts => ("too-many-attempts", 429, "Too many attempts", "Too many failed sign-ins; wait `Retry-After` seconds."),
            TooManyRequests => ("too-many-requests", 429, "Too Many Requests", "Too many requests; wait `Retry-After` seconds."),
            InternalError => ("internal-error", 500, "Internal Server Error", "The service failed; the request id (`instance`) names the failure in its log."),
            Unavailable => ("unavailable", 503, "Service Unavailable", "The service cannot serve this now (database unreachable, sign-ins queued, the transaction collided with another and was rolled back, a replica fenced after a key rotation); nothing was written; see `Retry-After`."),
        }
    }

    pub fn slug(self) -> &'static str {
        self.describe().0
    }

    /// The `type` URI: `urn:casedesk:problem:<slug>`.
    pub fn uri(self) -> String {
        format!("urn:casedesk:problem:{}", self.slug())
    }

    /// The generic type of a status, for answers that have no more specific one.
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::UnreadableRequest,
            401 => Self::Unauthenticated,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            406 => Self::NotAcceptable,
            408 => Self::RequestTimeout,
            409 => Self::Conflict,
            410 => Self::FeedCursorExpired,
            412 => Self::StaleVersion,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            428 => Self::IfMatchRequired,
            429 => Self::TooManyRequests,
            503 => Self::Unavailable,
            _ => Self::InternalError,
        }
    }

    /// The list as Markdown, for the spec's `Problem` description and the README.
    pub fn table() -> String {
        let mut out = String::from("| `type` | status | meaning |\n|---|---|---|\n");
        for t in Self::ALL {
            let (slug, status, _, meaning) = t.describe();
            out.push_str(&format!(
                "| `urn:casedesk:problem:{slug}` | {status} | {meaning} |\n"
            ));
        }
        out
    }
}

/// Problem details (RFC 9457).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
#[oai(rename = "Problem")]
pub struct Problem {
    /// The problem type, a URI (`urn:casedesk:problem:<slug>`) a client can
    /// branch on; the spec's description of `Problem` lists every one.
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
    /// This occurrence: `urn:casedesk:request:<X-Request-Id>`, which names
    /// the request in the service's log.
    #[oai(skip_serializing_if_is_none, validator(max_length = 200))]
    pub instance: Option<String>,
    /// Every problem with the input: all of them on a 400, empty otherwise.
    pub invalid_params: Vec<InvalidParam>,
}

impl Problem {
    /// A problem of the generic type of its status.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let mut p = Self::typed(ProblemType::for_status(status), detail);
        p.status = status.as_u16();
        p
    }

    /// A problem of a registered type, with its status and title.
    pub fn typed(kind: ProblemType, detail: impl Into<String>) -> Self {
        let (_, status, title, _) = kind.describe();
        Self {
            kind: kind.uri(),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            instance: None,
            invalid_params: Vec::new(),
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
            ..Self::typed(ProblemType::InvalidInput, detail)
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
    pub fn typed(kind: ProblemType, detail: impl Into<String>) -> Self {
        Problem::typed(kind, detail).into()
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "The resource does not exist.")
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::typed(ProblemType::Conflict, detail)
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
    (410, "The feed cursor is older than the feed window: the events after it were removed."),
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
        from_db_error(&err)
    }
}

/// What a database failure means to the caller: unavailable (503) when the
/// database cannot be reached, otherwise an internal error (500). The error
/// itself goes to the log, never to the caller.
pub fn from_db_error(err: &sea_orm::DbErr) -> ApiError {
    if matches!(err, sea_orm::DbErr::Custom(m) if m == crate::db::ROTATED) {
        ApiError::unavailable(
            "This replica started before the master key was rotated; it writes nothing sealed until it restarts with the new key.",
        )
        .with_retry_after(5)
    } else if crate::db::is_unique_violation(err) {
        // the database's message names the value: it stays out of the log
        tracing::info!("unique constraint refused a write");
        ApiError::conflict("Another record already has this value; nothing was written.")
    } else if crate::db::is_unavailable(err) {
        tracing::warn!(error = %err, "database unavailable");
        ApiError::unavailable("The database is unavailable; try again shortly.").with_retry_after(5)
    } else {
        tracing::error!(error = %err, "database error");
        ApiError::internal()
    }
}

/// A unique violation as a 409 that says what is taken; any other error as
/// [`from_db_error`] answers it. The constraint, not a check before the
/// insert, decides: two concurrent creates cannot both pass.
pub fn taken(message: &'static str) -> impl FnOnce(sea_orm::DbErr) -> ApiError {
    move |err| {
        if crate::db::is_unique_violation(&err) {
            ApiError::conflict(message)
        } else {
            from_db_error(&err)
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Stale => stale_version(),
            WriteError::Db(e) => e.into(),
        }
    }
}

/// The 412 of a write based on a version that is no longer current.
pub fn stale_version() -> ApiError {
    ApiError::typed(
        ProblemType::StaleVersion,
        "The resource changed since the version in If-Match; fetch it again. Nothing was written.",
    )
}

/// A versioned write's failure as an [`ApiError`], with a unique violation
/// said as `message` (a 409).
pub fn write_taken(message: &'static str) -> impl FnOnce(WriteError) -> ApiError {
    move |e| match e {
        WriteError::Db(e) => taken(message)(e),
        e => e.into(),
    }
}

impl From<crate::text::Corrupt> for ApiError {
    fn from(e: crate::text::Corrupt) -> Self {
        tracing::error!(column = e.column, "a stored value does not decode");
        ApiError::internal()
    }
}
