//! Who may do what: one table of rules, keyed by operation id, enforced by
//! one guard in front of every operation. An operation without a rule is
//! refused to everyone (deny by default), and the route-by-role test walks
//! the spec to prove the table and the guard agree.

use std::sync::OnceLock;

use chrono::TimeDelta;
use poem::{http::Method, Endpoint, IntoResponse, Request, Response, Result};
use uuid::Uuid;

use super::{
    model::{ActorKind, Role, Scope},
    store,
};
use crate::{
    audit::{self, Actor, Context, Event},
    http::{
        conventions::RequestId,
        problem::{ApiError, InvalidParam, Problem},
    },
    AppState,
};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allow {
    /// No authentication (login).
    Public,
    /// Any signed-in staff member.
    Staff,
    /// Staff holding at least one of these roles.
    Roles(&'static [Role]),
}

/// Operations still allowed while an account must first do something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Allowed while the password must be changed.
    PasswordChange,
    /// Allowed while TOTP enrolment is required.
    MfaEnrolment,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub operation: &'static str,
    pub allow: Allow,
    pub open_during: &'static [Gate],
    /// Refused callers get 404, as if the resource did not exist (need to know).
    pub hidden: bool,
    /// API clients holding any of these scopes may call it; none: no client may.
    pub scopes: &'static [Scope],
}

impl Rule {
    /// The same rule, opened to API clients with any of `scopes`.
    const fn or_scopes(self, scopes: &'static [Scope]) -> Rule {
        Rule { scopes, ..self }
    }
}

const ADMIN: &[Role] = &[Role::Admin];
/// Who may decide role grants (each role's own deciders: `four_eyes::deciders`).
const GRANT_DECIDERS: &[Role] = &[
    Role::Admin,
    Role::ShelterCoordinator,
    Role::ExchangeCoordinator,
];
const AUDITOR: &[Role] = &[Role::Auditor];
/// Records officers: retention rules, the archiving index, destruction lists.
const RECORDS: &[Role] = &[Role::RecordsOfficer];
/// Who sees destruction lists: their records officers, and the coordinators
/// who review the items of their programme.
const DESTRUCTION: &[Role] = &[
    Role::RecordsOfficer,
    Role::ShelterCoordinator,
    Role::ExchangeCoordinator,
];
const DESTRUCTION_REVIEWERS: &[Role] = &[Role::ShelterCoordinator, Role::ExchangeCoordinator];
/// The Shelter City roles; to everyone else its routes do not exist.
pub(crate) const SHELTER: &[Role] = &[Role::ShelterCoordinator, Role::ShelterCaseworker];
const COORDINATOR: &[Role] = &[Role::ShelterCoordinator];
/// The exchange roles.
const EXCHANGE: &[Role] = &[Role::ExchangeCoordinator, Role::ExchangeOfficer];
const EXCHANGE_COORDINATOR: &[Role] = &[Role::ExchangeCoordinator];
/// Who may read the council's statistics.
const STATISTICS: &[Role] = &[
    Role::Analyst,
    Role::ExchangeCoordinator,
    Role::ShelterCoordinator,
];
const BOTH_GATES: &[Gate] = &[Gate::PasswordChange, Gate::MfaEnrolment];
const EXCHANGE_READ: &[Scope] = &[Scope::ExchangeRead];
const EXCHANGE_WRITE: &[Scope] = &[Scope::ExchangeWrite];
const STAYS_READ: &[Scope] = &[Scope::StaysRead];
const STATISTICS_READ: &[Scope] = &[Scope::StatisticsRead];
const EVENTS_READ: &[Scope] = &[Scope::EventsRead];
const WEBHOOKS_MANAGE: &[Scope] = &[Scope::WebhooksManage];

const fn public(operation: &'static str) -> Rule {
    Rule {
        operation,
        allow: Allow::Public,
        open_during: &[],
        hidden: false,
        scopes: &[],
    }
}
const fn staff(operation: &'static str, open_during: &'static [Gate]) -> Rule {
    Rule {
        operation,
        allow: Allow::Staff,
        open_during,
        hidden: false,
        scopes: &[],
    }
}
const fn roles(operation: &'static str, roles: &'static [Role]) -> Rule {
    Rule {
        operation,
        allow: Allow::Roles(roles),
        open_during: &[],
        hidden: false,
        scopes: &[],
    }
}
/// For API clients only: no staff role may call it.
const fn clients(operation: &'static str, scopes: &'static [Scope]) -> Rule {
    Rule {
        operation,
        allow: Allow::Roles(&[]),
        open_during: &[],
        hidden: false,
        scopes,
    }
}
const fn hidden(operation: &'static str, roles: &'static [Role]) -> Rule {
    Rule {
        operation,
        allow: Allow::Roles(roles),
        open_during: &[],
        hidden: true,
        scopes: &[],
    }
}

/// The permission of every operation in the spec. Row-level need to know
/// (a caseworker's assigned stays) is decided in `shelter::sight`.
pub(crate) const RULES: &[Rule] = &[
    public("createSession"),
    public("createEnrolment"),
    staff("deleteCurrentSession", BOTH_GATES),
    staff("getMe", BOTH_GATES),
    staff("changeMyPassword", &[Gate::PasswordChange]),
    staff("enrolTotp", &[Gate::MfaEnrolment]),
    staff("confirmTotp", &[Gate::MfaEnrolment]),
    staff("deactivateTotp", &[]),
    roles("listStaff", ADMIN),
    roles("createStaff", ADMIN),
    roles("getStaff", ADMIN),
    roles("updateStaff", ADMIN),
    roles("resetStaffPassword", ADMIN),
    roles("listRoleGrants", GRANT_DECIDERS),
    roles("approveRoleGrant", GRANT_DECIDERS),
    roles("rejectRoleGrant", GRANT_DECIDERS),
    roles("listAuditEvents", AUDITOR),
    roles("verifyAuditChain", AUDITOR),
    roles("listAuditCheckpoints", AUDITOR),
    roles("createAuditCheckpoint", AUDITOR),
    roles("verifyAuditCheckpoint", AUDITOR),
    // Shelter City
    hidden("listDefenders", SHELTER),
    hidden("createDefender", COORDINATOR),
    hidden("getDefender", SHELTER),
    hidden("updateDefender", COORDINATOR),
    hidden("eraseDefender", COORDINATOR),
    hidden("searchDefenders", COORDINATOR),
    hidden("listConsents", SHELTER),
    hidden("createConsent", COORDINATOR),
    hidden("revokeConsent", COORDINATOR),
    hidden("listStays", SHELTER),
    hidden("createStay", COORDINATOR),
    hidden("getStay", SHELTER),
    hidden("updateStay", SHELTER),
    hidden("listStayStatusChanges", SHELTER),
    hidden("changeStayStatus", SHELTER),
    hidden("listAssignments", SHELTER),
    hidden("assignStaff", COORDINATOR),
    hidden("unassignStaff", COORDINATOR),
    hidden("listNotes", SHELTER),
    hidden("createNote", SHELTER),
    hidden("listRiskAssessments", SHELTER),
    hidden("createRiskAssessment", SHELTER),
    hidden("listOverdueRiskReviews", SHELTER),
    hidden("listActivities", SHELTER),
    hidden("createActivity", SHELTER),
    hidden("listCheckIns", SHELTER),
    hidden("recordCheckIn", SHELTER),
    hidden("listStaySummaries", SHELTER).or_scopes(STAYS_READ),
    hidden("getStaySummary", SHELTER).or_scopes(STAYS_READ),
    // International exchange
    hidden("listInstitutions", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("createInstitution", EXCHANGE_COORDINATOR).or_scopes(EXCHANGE_WRITE),
    hidden("getInstitution", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("updateInstitution", EXCHANGE_COORDINATOR).or_scopes(EXCHANGE_WRITE),
    hidden("listAgreements", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("createAgreement", EXCHANGE_COORDINATOR).or_scopes(EXCHANGE_WRITE),
    hidden("getAgreement", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("updateAgreement", EXCHANGE_COORDINATOR).or_scopes(EXCHANGE_WRITE),
    hidden("listParticipants", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("createParticipant", EXCHANGE).or_scopes(EXCHANGE_WRITE),
    hidden("getParticipant", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("updateParticipant", EXCHANGE).or_scopes(EXCHANGE_WRITE),
    // a learner's duty of care: staff only, no API client
    hidden("getParticipantCare", EXCHANGE),
    hidden("replaceParticipantCare", EXCHANGE),
    hidden("searchParticipants", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("listPlacements", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("exportPlacements", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("createPlacement", EXCHANGE).or_scopes(EXCHANGE_WRITE),
    hidden("getPlacement", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("updatePlacement", EXCHANGE).or_scopes(EXCHANGE_WRITE),
    hidden("listPlacementStatusChanges", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("changePlacementStatus", EXCHANGE).or_scopes(EXCHANGE_WRITE),
    hidden("listGrantRates", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("createGrantRates", EXCHANGE_COORDINATOR),
    hidden("getGrantRates", EXCHANGE).or_scopes(EXCHANGE_READ),
    hidden("replaceGrantRates", EXCHANGE_COORDINATOR),
    // Statistics: aggregates only
    hidden("placementStatistics", STATISTICS).or_scopes(STATISTICS_READ),
    hidden("placementShareStatistics", STATISTICS).or_scopes(STATISTICS_READ),
    hidden("defendersHostedStatistics", STATISTICS).or_scopes(STATISTICS_READ),
    // Integration
    roles("listApiClients", ADMIN),
    roles("createApiClient", ADMIN),
    roles("getApiClient", ADMIN),
    roles("updateApiClient", ADMIN),
    roles("revokeApiClient", ADMIN),
    roles("createApiClientKey", ADMIN),
    roles("listSubscriptions", ADMIN).or_scopes(WEBHOOKS_MANAGE),
    roles("createSubscription", ADMIN).or_scopes(WEBHOOKS_MANAGE),
    roles("getSubscription", ADMIN).or_scopes(WEBHOOKS_MANAGE),
    roles("updateSubscription", ADMIN).or_scopes(WEBHOOKS_MANAGE),
    roles("deleteSubscription", ADMIN).or_scopes(WEBHOOKS_MANAGE),
    roles("listFailedDeliveries", ADMIN).or_scopes(WEBHOOKS_MANAGE),
    roles("retryFailedDelivery", ADMIN).or_scopes(WEBHOOKS_MANAGE),
    roles("createSubscriptionSecret", ADMIN).or_scopes(WEBHOOKS_MANAGE),
    roles("pingSubscription", ADMIN).or_scopes(WEBHOOKS_MANAGE),
    clients("listEvents", EVENTS_READ),
    // Records lifecycle: metadata only
    roles("listRetentionRules", RECORDS),
    roles("getRetentionRule", RECORDS),
    roles("updateRetentionRule", RECORDS),
    roles("listArchiveRecords", RECORDS),
    roles("getArchiveRecord", RECORDS),
    roles("updateArchiveRecord", RECORDS),
    roles("destructionTotals", RECORDS),
    hidden("listDestructionLists", DESTRUCTION),
    roles("createDestructionList", RECORDS),
    hidden("getDestructionList", DESTRUCTION),
    hidden("listDestructionListItems", DESTRUCTION),
    roles("changeDestructionListStatus", RECORDS),
    roles("deleteDestructionList", RECORDS),
    roles("removeDestructionListItem", RECORDS),
    hidden("reviewDestructionList", DESTRUCTION_REVIEWERS),
    roles("getDestructionReport", RECORDS),
];

pub(crate) fn rule(operation: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.operation == operation)
}

/// The authenticated caller of an operation, for handlers: a staff member
/// (with a session and roles) or an API client (with scopes).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The staff member's or the API client's id.
    pub actor_id: Uuid,
    pub actor: Actor,
    /// The staff member's session; `None` for API clients.
    pub session_id: Option<Uuid>,
    /// Empty for API clients.
    pub roles: Vec<Role>,
    /// Empty for staff.
    pub scopes: Vec<Scope>,
    pub audit: Context,
}

impl Caller {
    pub(crate) fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Staff or client, as stored beside the actor id.
    pub(crate) fn actor_kind(&self) -> ActorKind {
        match self.actor {
            Actor::Staff(_) => ActorKind::Staff,
            Actor::Client(_) => ActorKind::Client,
        }
    }
}

/// One operation of the spec, for matching requests to rules.
struct RouteEntry {
    method: Method,
    segments: Vec<Option<String>>, // None: a {parameter}
    operation: String,
}

fn routes() -> &'static Vec<RouteEntry> {
    static ROUTES: OnceLock<Vec<RouteEntry>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let doc = crate::spec_document();
        let mut out = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
            for (path, item) in paths {
                let segments: Vec<Option<String>> = path
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                for (method, op) in item.as_object().into_iter().flatten() {
                    let (Ok(method), Some(operation)) = (
                        method.to_ascii_uppercase().parse::<Method>(),
                        op.get("operationId").and_then(|o| o.as_str()),
                    ) else {
                        continue;
                    };
                    out.push(RouteEntry {
                        method,
                        segments: segments.clone(),
                        operation: operation.to_owned(),
                    });
                }
            }
        }
        // literal segments win over parameters (`/staff/me` before `/staff/{id}`)
        out.sort_by_key(|r| r.segments.iter().filter(|s| s.is_none()).count());
        out
    })
}

/// The operations of the path template the router chooses for `path`: of
/// the templates that match, the one whose first differing segment is a
/// literal (as poem's router: `/staff/me` over `/staff/{id}`, whatever the
/// method, so `PATCH /staff/me` is not `updateStaff` with the id `me`).
fn operations_at(path: &str) -> Vec<&'static RouteEntry> {
    let rest = path.strip_prefix(crate::http::API_BASE).unwrap_or(path);
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let matching = |r: &RouteEntry| {
        r.segments.len() == parts.len()
            && r.segments
                .iter()
                .zip(&parts)
                .all(|(seg, part)| seg.as_deref().is_none_or(|s| s == *part) && !part.is_empty())
    };
    // literal segments rank before parameters, segment by segment
    let rank = |r: &'static RouteEntry| r.segments.iter().map(Option::is_none);
    let mut chosen: Vec<&'static RouteEntry> = Vec::new();
    for r in routes().iter().filter(|r| matching(r)) {
        match chosen.first().map(|c| rank(r).cmp(rank(c))) {
            None | Some(std::cmp::Ordering::Equal) => chosen.push(r),
            Some(std::cmp::Ordering::Less) => chosen = vec![r],
            Some(std::cmp::Ordering::Greater) => {}
        }
    }
    chosen
}

/// The method a request is matched as: HEAD is GET without the body (poem
/// answers it with the GET handler, so it must pass the same rule).
fn matched_method(method: &Method) -> &Method {
    if method == Method::HEAD {
        &Method::GET
    } else {
        method
    }
}

fn find_operation(method: &Method, path: &str) -> Option<&'static str> {
    let method = matched_method(method);
    operations_at(path)
        .into_iter()
        .find(|r| r.method == method)
        .map(|r| r.operation.as_str())
}

/// The `Allow` header of a path: its operations' methods, HEAD with GET.
fn allowed_methods(path: &str) -> Option<String> {
    let mut methods: Vec<&str> = Vec::new();
    for r in operations_at(path) {
        let names: &[&str] = if r.method == Method::GET {
            &["GET", "HEAD"]
        } else {
            &[r.method.as_str()]
        };
        for name in names {
            if !methods.contains(name) {
                methods.push(name);
            }
        }
    }
    (!methods.is_empty()).then(|| methods.join(", "))
}

/// A request under the API that matches no operation is refused here,
/// before any handler runs: 405 with `Allow` when the path has other
/// methods, otherwise 404.
fn no_such_operation(path: &str) -> Response {
    use crate::http::conventions::problem_for_status;
    match allowed_methods(path) {
        Some(allow) => {
            let mut resp =
                problem_for_status(poem::http::StatusCode::METHOD_NOT_ALLOWED).into_response();
            if let Ok(v) = poem::http::HeaderValue::from_str(&allow) {
                resp.headers_mut().insert(poem::http::header::ALLOW, v);
            }
            resp
        }
        None => problem_for_status(poem::http::StatusCode::NOT_FOUND).into_response(),
    }
}

pub(crate) const AUDIT_REASON_HEADER: &str = "x-audit-reason";
pub(crate) const AUDIT_REASON_MAX: usize = crate::audit::reason::MAX_CHARS;

/// The caller's `X-Audit-Reason`, read only once the caller is authenticated
/// (an anonymous request's reason is never stored): visible ASCII, or UTF-8
/// in RFC 8187's percent-encoded form (`audit::reason::from_header`).
fn audit_reason(req: &Request) -> std::result::Result<Option<String>, ApiError> {
    use crate::audit::reason::{from_header, HeaderRefusal};
    let Some(v) = req.headers().get(AUDIT_REASON_HEADER) else {
        return Ok(None);
    };
    from_header(v.as_bytes()).map_err(|refusal| {
        let (code, reason) = match refusal {
            HeaderRefusal::TooLong => (
                "too_long",
                format!("At most {AUDIT_REASON_MAX} characters as sent."),
            ),
            HeaderRefusal::Invalid => (
                "invalid",
                "Visible ASCII, or UTF-8 sent as UTF-8'' followed by its percent-encoded bytes (RFC 8187), without control characters.".to_owned(),
            ),
        };
        ApiError::invalid(vec![InvalidParam::new("X-Audit-Reason", code, reason)])
    })
}

fn request_context(state: &AppState, req: &Request) -> Context {
    let mut ctx = Context::new(state.keys.audit.clone());
    ctx.request_id = req.data::<RequestId>().map(|r| r.0.clone());
    ctx.client_ip = req
        .data::<crate::http::conventions::ClientAddr>()
        .and_then(|a| a.0)
        .map(|ip| ip.to_string());
    ctx
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

/// Refuses a request, writing the denial to the audit trail first.
async fn deny(state: &AppState, ctx: &Context, operation: &str, problem: Problem) -> Response {
    let event = Event::new("access.denied", problem.status).on("operation", operation);
    match audit::record_alone(&state.audit, state.clock.now(), ctx, event).await {
        Ok(_) => problem.into_response(),
        Err(e) => crate::http::problem::from_db_error(&e).to_response(),
    }
}

/// Refuses a caller that is not signed in: counted per address and interval
/// in the audit trail (see [`audit::Aggregator`]), so a flood of anonymous
/// requests cannot grow it without bound.
async fn deny_anonymous(state: &AppState, ctx: &Context, operation: &str) -> Response {
    let problem = Problem::typed(crate::http::problem::ProblemType::Unauthenticated,
        "Send a valid session token or API key as `Authorization: Bearer <token>`; it may have expired or been revoked.",
    );
    let event = Event::new("access.denied", problem.status).on("operation", operation);
    match state.refusals.refused(state.clock.now(), ctx, event).await {
        Ok(()) => with_challenge(problem.into_response()),
        Err(e) => crate::http::problem::from_db_error(&e).to_response(),
    }
}

/// Operations that refuse a request without an `X-Audit-Reason` (the spec
/// declares the header required on them).
pub(crate) const REASON_REQUIRED: &[&str] = &["eraseDefender", "updateArchiveRecord"];

/// Checks what the handler does not see once the caller is authenticated:
/// query keys the operation does not declare (a misspelt filter would
/// otherwise return everything), and the caller's `X-Audit-Reason`, which
/// is attached to the audit context.
fn admit(req: &Request, ctx: Context, operation: &str) -> std::result::Result<Context, ApiError> {
    let mut problems = unknown_query_keys(req, operation);
    let ctx = match audit_reason(req) {
        Ok(r) => ctx.with_reason(r),
        Err(e) => {
            problems.extend(e.problem.invalid_params.iter().cloned());
            ctx
        }
    };
    if REASON_REQUIRED.contains(&operation) && !ctx.has_reason() && problems.is_empty() {
        problems.push(InvalidParam::new(
            "X-Audit-Reason",
            "required",
            "This operation needs a reason in the X-Audit-Reason header.",
        ));
    }
    if problems.is_empty() {
        Ok(ctx)
    } else {
        Err(ApiError::invalid(problems))
    }
}

/// What the spec declares of an operation's parameters, read once.
struct Declared {
    query: Vec<String>,
    /// The path's parameters in order (poem-openapi calls them `param0`, ...).
    path: Vec<String>,
}

fn declared(operation: &str) -> Option<&'static Declared> {
    static KEYS: OnceLock<std::collections::HashMap<String, Declared>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let doc = crate::spec_document();
        let mut map = std::collections::HashMap::new();
        for (template, item) in doc["paths"].as_object().into_iter().flatten() {
            let path: Vec<String> = template
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .map(str::to_owned)
                .collect();
            for op in item.as_object().into_iter().flat_map(|o| o.values()) {
                let Some(id) = op["operationId"].as_str() else {
                    continue;
                };
                let query = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect();
                map.insert(
                    id.to_owned(),
                    Declared {
                        query,
                        path: path.clone(),
                    },
                );
            }
        }
        map
    })
    .get(operation)
}

/// Calls the operation; a path parameter it cannot parse is named as the
/// spec names it (`id`), not as poem-openapi does internally (`param0`).
async fn call<E: Endpoint>(next: E, req: Request, operation: &str) -> Result<Response> {
    match next.call(req).await {
        Ok(r) => Ok(r.into_response()),
        Err(err) => {
            let Some(e) = err.downcast_ref::<poem_openapi::error::ParsePathError>() else {
                return Err(err);
            };
            let name = e
                .name
                .strip_prefix("param")
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|i| declared(operation)?.path.get(i).cloned())
                .unwrap_or_else(|| e.name.to_owned());
            let (code, reason) = crate::http::conventions::plain_reason(&e.reason);
            Ok(ApiError::field(&name, code, reason).to_response())
        }
    }
}

fn unknown_query_keys(req: &Request, operation: &str) -> Vec<InvalidParam> {
    let Some(query) = req.uri().query() else {
        return Vec::new();
    };
    let declared = declared(operation).map(|d| &d.query);
    let mut seen: Vec<String> = Vec::new();
    for (key, _) in url::form_urlencoded::parse(query.as_bytes()) {
        let known = declared.is_some_and(|d| d.iter().any(|k| *k == key));
        if !known && !seen.iter().any(|s| *s == key) {
            seen.push(key.into_owned());
        }
    }
    seen.into_iter()
        .map(|key| {
            let takes = match declared {
                Some(d) if !d.is_empty() => format!("it takes: {}", d.join(", ")),
                _ => "it takes none".to_owned(),
            };
            let name: String = key.chars().take(64).collect();
            InvalidParam::new(
                name,
                "unknown_parameter",
                format!("This operation has no such query parameter; {takes}."),
            )
        })
        .collect()
}

/// The guard in front of every operation.
pub(crate) async fn guard<E: Endpoint>(next: std::sync::Arc<E>, req: Request) -> Result<Response> {
    let mut answer = admit_and_call(next.clone(), req).await?;
    let Some(replay) = answer.extensions_mut().remove::<Replay>() else {
        return Ok(answer);
    };
    // a repeated create: what the first one made, read through the guard
    let Some(read) = replay.request.lock().ok().and_then(|mut r| r.take()) else {
        return Ok(ApiError::internal().to_response());
    };
    let mut resp = admit_and_call(next, read).await?;
    if resp.status() == poem::http::StatusCode::OK {
        let status = poem::http::StatusCode::from_u16(replay.status)
            .unwrap_or(poem::http::StatusCode::CREATED);
        resp.set_status(status);
        if let Some(url) = replay.url {
            resp.headers_mut().insert(poem::http::header::LOCATION, url);
        }
        resp.headers_mut().insert(
            crate::http::idempotency::REPLAYED,
            poem::http::HeaderValue::from_static("true"),
        );
    }
    Ok(resp)
}

/// A repeated create's read of what the first made: the request to run
/// through the guard, and what its answer then says.
#[derive(Clone)]
struct Replay {
    request: std::sync::Arc<std::sync::Mutex<Option<Request>>>,
    status: u16,
    url: Option<poem::http::HeaderValue>,
}

async fn admit_and_call<E: Endpoint>(
    next: std::sync::Arc<E>,
    mut req: Request,
) -> Result<Response> {
    let Some(state) = req.data::<AppState>().cloned() else {
        return Ok(ApiError::internal().to_response());
    };
    let Some(operation) = find_operation(req.method(), req.uri().path()) else {
        // deny by default: nothing reaches a handler without a rule
        return Ok(no_such_operation(req.uri().path()));
    };
    let mut ctx = request_context(&state, &req);
    let Some(rule) = rule(operation) else {
        tracing::error!(
            operation,
            "operation has no access rule: refused to everyone"
        );
        let problem = Problem::new(
            poem::http::StatusCode::FORBIDDEN,
            "This operation is not open to anyone.",
        );
        return Ok(deny(&state, &ctx, operation, problem).await);
    };
    if rule.allow == Allow::Public {
        let unknown = unknown_query_keys(&req, operation);
        if !unknown.is_empty() {
            return Ok(ApiError::invalid(unknown).to_response());
        }
        req.extensions_mut().insert(ctx);
        if operation != "createSession" {
            return call(next, req, operation).await;
        }
        // the sign-in's own answers (a refusal included) carry its limits
        let mut resp = match call(next, req, operation).await {
            Ok(resp) => resp,
            Err(e) => match e.downcast_ref::<ApiError>() {
                Some(refusal) => refusal.to_response(),
                None => return Err(e),
            },
        };
        super::throttle::rate_limit_headers(&mut resp);
        return Ok(resp);
    }

    let Some(token) = bearer(&req) else {
        return Ok(deny_anonymous(&state, &ctx, operation).await);
    };
    let now = state.clock.now();
    if token.starts_with(store::API_KEY_PREFIX) {
        return Ok(
            match client_access(&state, &mut ctx, rule, token, now).await {
                Ok(scopes) => {
                    let Some(Actor::Client(client_id)) = ctx.actor else {
                        return Ok(ApiError::internal().to_response());
                    };
                    let ctx = match admit(&req, ctx, operation) {
                        Ok(c) => c,
                        Err(e) => return Ok(e.to_response()),
                    };
                    req.extensions_mut().insert(Caller {
                        actor_id: client_id,
                        actor: Actor::Client(client_id),
                        session_id: None,
                        roles: Vec::new(),
                        scopes,
                        audit: ctx,
                    });
                    dispatch(&state, next, req, operation).await?
                }
                Err(Refusal::Unauthenticated) => deny_anonymous(&state, &ctx, operation).await,
                Err(Refusal::Denied(p)) => deny(&state, &ctx, operation, p).await,
                Err(Refusal::Failed(e)) => e.to_response(),
            },
        );
    }
    let found = match store::session_by_token(&state.db, token, now, &state.config).await {
        Ok(f) => f,
        Err(e) => return Ok(crate::http::problem::from_db_error(&e).to_response()),
    };
    let Some((session, staff, roles)) = found else {
        return Ok(deny_anonymous(&state, &ctx, operation).await);
    };
    ctx.actor = Some(Actor::Staff(staff.id));
    if now - session.last_seen_at > TimeDelta::seconds(60) {
        if let Err(e) = store::touch_session(&state.db, session.id, now).await {
            return Ok(crate::http::problem::from_db_error(&e).to_response());
        }
    }

    use crate::http::problem::ProblemType;
    if staff.must_change_password && !rule.open_during.contains(&Gate::PasswordChange) {
        let p = Problem::typed(
            ProblemType::PasswordChangeRequired,
            "This account must change its password first: PUT /api/v1/staff/me/password.",
        );
        return Ok(deny(&state, &ctx, operation, p).await);
    }
    let mfa_pending =
        !staff.totp_enabled && roles.iter().any(|r| state.second_factor_roles.contains(r));
    if mfa_pending && !staff.must_change_password && !rule.open_during.contains(&Gate::MfaEnrolment)
    {
        let p = Problem::typed(
            ProblemType::MfaEnrolmentRequired,
            "This account's roles require a second factor: enrol with POST /api/v1/staff/me/totp, then confirm it.",
        );
        return Ok(deny(&state, &ctx, operation, p).await);
    }
    if let Allow::Roles(allowed) = rule.allow {
        if !roles.iter().any(|r| allowed.contains(r)) {
            let p = if rule.hidden {
                crate::http::conventions::problem_for_status(poem::http::StatusCode::NOT_FOUND)
            } else {
                Problem::typed(
                    ProblemType::Forbidden,
                    "This account's roles do not allow this operation.",
                )
            };
            return Ok(deny(&state, &ctx, operation, p).await);
        }
    }
    let ctx = match admit(&req, ctx, operation) {
        Ok(c) => c,
        Err(e) => return Ok(e.to_response()),
    };
    req.extensions_mut().insert(Caller {
        actor_id: staff.id,
        actor: Actor::Staff(staff.id),
        session_id: Some(session.id),
        roles,
        scopes: Vec::new(),
        audit: ctx,
    });
    dispatch(&state, next, req, operation).await
}

/// Calls an admitted caller's operation. A create sent with an
/// `Idempotency-Key` runs once per key ([`crate::http::idempotency`]): a
/// repeat answers as the first did, by reading what it made through this
/// guard again (so with the caller's rights of the moment, and audited).
async fn dispatch<E: Endpoint>(
    state: &AppState,
    next: std::sync::Arc<E>,
    mut req: Request,
    operation: &str,
) -> Result<Response> {
    use crate::http::idempotency::{self as idem, Begin};
    let key = match idem::key_of(&req) {
        Ok(Some(key)) if req.method() == Method::POST => key,
        Ok(_) => return call(next, req, operation).await,
        Err(e) => return Ok(e.to_response()),
    };
    if !idem::OPERATIONS.contains(&operation) {
        let detail = "This operation does not take an Idempotency-Key; the spec declares it on the creates that do.";
        return Ok(ApiError::field("Idempotency-Key", "not_supported", detail).to_response());
    }
    let Some(caller) = req.extensions().get::<Caller>() else {
        return Ok(ApiError::internal().to_response());
    };
    let scope = format!("{}:{}", caller.actor_kind().as_str(), caller.actor_id);
    let index = &state.keys.index;
    let hash = idem::key_hash(index, &scope, &key);
    let body = req.take_body().into_bytes().await?;
    let fingerprint = idem::fingerprint(index, operation, req.uri().path(), &body);
    req.set_body(body);
    match idem::begin(&state.db, state.clock.now(), &hash, operation, &fingerprint).await {
        Err(e) => Ok(e.to_response()),
        Ok(Begin::Run) => {
            let answer = call(next, req, operation).await;
            let (status, location) = match &answer {
                Ok(r) => (
                    r.status().as_u16(),
                    r.headers()
                        .get(poem::http::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .and_then(idem::path_under_base),
                ),
                Err(_) => (500, None),
            };
            if let Err(e) = idem::finish(&state.db, &hash, status, location).await {
                tracing::error!(error = %e, operation, "the answer to an Idempotency-Key was not recorded: a retry with it runs again");
            }
            answer
        }
        Ok(Begin::Replay { status, location }) => {
            let Ok(uri) = location.parse::<poem::http::Uri>() else {
                return Ok(ApiError::internal().to_response());
            };
            req.set_method(Method::GET);
            *req.uri_mut() = uri;
            req.set_body(poem::Body::empty());
            for header in [
                poem::http::header::CONTENT_TYPE,
                poem::http::header::CONTENT_LENGTH,
            ] {
                req.headers_mut().remove(header);
            }
            req.headers_mut().remove(idem::HEADER);
            req.extensions_mut().remove::<Caller>();
            let url = crate::http::resource_url(&state.config.public_url, &location);
            let mut marker = Response::default();
            marker.extensions_mut().insert(Replay {
                request: std::sync::Arc::new(std::sync::Mutex::new(Some(req))),
                status,
                url: poem::http::HeaderValue::from_str(&url).ok(),
            });
            Ok(marker)
        }
    }
}

enum Refusal {
    Unauthenticated,
    Denied(Problem),
    Failed(ApiError),
}

/// Authenticates an API key and checks the operation's scopes; on success
/// the client is the audit actor and its scopes are returned.
async fn client_access(
    state: &AppState,
    ctx: &mut Context,
    rule: &Rule,
    key: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<Vec<Scope>, Refusal> {
    let found = store::client_by_key(&state.db, key, now)
        .await
        .map_err(|e| Refusal::Failed(crate::http::problem::from_db_error(&e)))?;
    let Some((client_id, scopes)) = found else {
        return Err(Refusal::Unauthenticated);
    };
    ctx.actor = Some(Actor::Client(client_id));
    if scopes.iter().any(|s| rule.scopes.contains(s)) {
        return Ok(scopes);
    }
    Err(Refusal::Denied(if rule.hidden {
        crate::http::conventions::problem_for_status(poem::http::StatusCode::NOT_FOUND)
    } else {
        Problem::typed(
            crate::http::problem::ProblemType::InsufficientScope,
            "This API client's scopes do not allow this operation.",
        )
    }))
}

fn with_challenge(mut resp: Response) -> Response {
    if resp.status() == poem::http::StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            "www-authenticate",
            poem::http::HeaderValue::from_static("Bearer realm=\"casedesk\""),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_in_the_spec_has_a_rule_and_every_rule_an_operation() {
        let ops: Vec<&str> = routes().iter().map(|r| r.operation.as_str()).collect();
        for op in &ops {
            assert!(rule(op).is_some(), "operation {op} has no access rule");
        }
        for r in RULES {
            assert!(
                ops.contains(&r.operation),
                "rule for unknown operation {}",
                r.operation
            );
        }
    }

    #[test]
    fn literal_segments_win() {
        assert_eq!(
            find_operation(&Method::GET, "/api/v1/staff/me"),
            Some("getMe")
        );
        assert_eq!(
            find_operation(
                &Method::GET,
                "/api/v1/staff/0190a000-0000-7000-8000-000000000000"
            ),
            Some("getStaff")
        );
        assert_eq!(find_operation(&Method::GET, "/api/v1/staff/"), None);
    }

    #[test]
    fn head_is_matched_as_get_and_other_methods_are_not_guessed() {
        assert_eq!(
            find_operation(&Method::HEAD, "/api/v1/defenders"),
            Some("listDefenders")
        );
        assert_eq!(find_operation(&Method::OPTIONS, "/api/v1/defenders"), None);
        assert_eq!(find_operation(&Method::TRACE, "/api/v1/defenders"), None);
        assert_eq!(
            allowed_methods("/api/v1/defenders").as_deref(),
            Some("GET, HEAD, POST")
        );
        assert_eq!(allowed_methods("/api/v1/nothing-here"), None);
        // the literal path is the router's choice for every method
        assert_eq!(find_operation(&Method::PATCH, "/api/v1/staff/me"), None);
        assert_eq!(
            allowed_methods("/api/v1/staff/me").as_deref(),
            Some("GET, HEAD")
        );
    }
}
