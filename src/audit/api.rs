//! Reading and verifying the audit trail (auditor only).

use poem::{web::Data, Request};
use poem_openapi::{param::Query, payload::Json, ApiResponse, Object, OpenApi};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{record_alone, Event};
use crate::{
    accounts::access::Caller,
    entities::audit_events,
    http::types::Timestamp,
    http::{
        pagination::{paginate, PageRequest},
        problem::{ApiError, ApiResult},
        Tag,
    },
    AppState,
};

/// One event of the audit trail. It names ids only, never personal data.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: Uuid,
    /// Position in the chain, from 1.
    pub seq: i64,
    pub occurred_at: Timestamp,
    /// `staff` or `client`; absent when the caller was not authenticated.
    #[oai(validator(max_length = 16))]
    pub actor_type: Option<String>,
    pub actor_id: Option<Uuid>,
    /// What happened, such as `login.succeeded`, `staff.updated`, `access.denied`.
    #[oai(validator(max_length = 64))]
    pub action: String,
    #[oai(validator(max_length = 64))]
    pub resource_type: Option<String>,
    #[oai(validator(max_length = 64))]
    pub resource_id: Option<String>,
    /// The HTTP status the request was answered with.
    pub outcome: i32,
    #[oai(validator(max_length = 128))]
    pub request_id: Option<String>,
    #[oai(validator(max_length = 64))]
    pub client_ip: Option<String>,
    /// The caller's `X-Audit-Reason`.
    #[oai(validator(max_length = 2000))]
    pub reason: Option<String>,
    /// For changes: the names of the fields that changed.
    pub changed_fields: Vec<String>,
    /// SHA-256 of the previous event (64 zeros for the first).
    #[oai(validator(max_length = 64))]
    pub prev_hash: String,
    #[oai(validator(max_length = 64))]
    pub hash: String,
}

impl From<audit_events::Model> for AuditEvent {
    fn from(m: audit_events::Model) -> Self {
        Self {
            id: m.id,
            seq: m.seq,
            occurred_at: m.occurred_at.into(),
            actor_type: m.actor_type,
            actor_id: m.actor_id,
            action: m.action,
            resource_type: m.resource_type,
            resource_id: m.resource_id,
            outcome: m.outcome,
            request_id: m.request_id,
            client_ip: m.client_ip,
            reason: m.reason,
            changed_fields: m
                .changed_fields
                .map(|f| f.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

crate::list_types!(
    AuditEventPage,
    AuditEventList,
    AuditEvent,
    "audit events, newest first"
);

/// The result of recomputing the hash chain.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChainVerification {
    /// True when every event's hash and link are intact.
    pub ok: bool,
    /// How many events verified before the first broken one (or all).
    pub checked: u64,
    /// The first event whose hash or link does not match.
    pub first_broken_event_id: Option<Uuid>,
    pub first_broken_seq: Option<i64>,
}

#[derive(ApiResponse)]
pub enum VerificationResponse {
    /// The outcome of the check (a broken chain is reported here, not as an error).
    #[oai(status = 200)]
    Ok(Json<ChainVerification>),
}

pub struct AuditApi;

#[OpenApi(tag = "Tag::Audit")]
impl AuditApi {
    /// List audit events, newest first.
    #[oai(
        path = "/audit-events",
        method = "get",
        operation_id = "listAuditEvents"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_audit_events(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        /// Only events of this actor (staff or client id).
        #[oai(name = "actorId")]
        actor_id: Query<Option<Uuid>>,
        /// Only events with this action.
        #[oai(validator(max_length = 64))]
        action: Query<Option<String>>,
        /// Only events about this kind of resource.
        #[oai(name = "resourceType", validator(max_length = 64))]
        resource_type: Query<Option<String>>,
        /// Only events about this resource id.
        #[oai(name = "resourceId", validator(max_length = 64))]
        resource_id: Query<Option<String>>,
        /// Only events at or after this time.
        #[oai(name = "occurredFrom")]
        occurred_from: Query<Option<Timestamp>>,
        /// Only events before this time.
        #[oai(name = "occurredTo")]
        occurred_to: Query<Option<Timestamp>>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<AuditEventList> {
        let page = PageRequest::<i64>::parse(limit.0, cursor.0.as_deref())?;
        let mut q = audit_events::Entity::find();
        if let Some(a) = actor_id.0 {
            q = q.filter(audit_events::Column::ActorId.eq(a));
        }
        if let Some(a) = &action.0 {
            q = q.filter(audit_events::Column::Action.eq(a.as_str()));
        }
        if let Some(t) = &resource_type.0 {
            q = q.filter(audit_events::Column::ResourceType.eq(t.as_str()));
        }
        if let Some(r) = &resource_id.0 {
            q = q.filter(audit_events::Column::ResourceId.eq(r.as_str()));
        }
        if let Some(from) = occurred_from.0 {
            q = q.filter(audit_events::Column::OccurredAt.gte(from.0));
        }
        if let Some(to) = occurred_to.0 {
            q = q.filter(audit_events::Column::OccurredAt.lt(to.0));
        }
        if let Some(after) = page.after {
            q = q.filter(audit_events::Column::Seq.lt(after));
        }
        let rows = q
            .order_by_desc(audit_events::Column::Seq)
            .limit(page.fetch_limit())
            .all(&state.db)
            .await?;
        let (rows, next) = paginate(rows, page.limit, |r| r.seq);
        record_alone(
            &state.audit,
            state.clock.now(),
            &caller.audit,
            Event::new("audit.listed", 200),
        )
        .await?;
        let items = rows.into_iter().map(AuditEvent::from).collect();
        Ok(AuditEventList::page(
            items,
            next,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Recompute the hash chain and report the first broken event, if any.
    #[oai(
        path = "/audit-events/verification",
        method = "get",
        operation_id = "verifyAuditChain"
    )]
    async fn verify_audit_chain(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
    ) -> ApiResult<VerificationResponse> {
        let result = super::verify(&state.db).await.map_err(ApiError::from)?;
        let outcome = Event::new(
            if result.first_broken.is_some() {
                "audit.verified.broken"
            } else {
                "audit.verified.ok"
            },
            200,
        );
        record_alone(&state.audit, state.clock.now(), &caller.audit, outcome).await?;
        Ok(VerificationResponse::Ok(Json(ChainVerification {
            ok: result.first_broken.is_none(),
            checked: result.checked,
            first_broken_event_id: result.first_broken.map(|b| b.1),
            first_broken_seq: result.first_broken.map(|b| b.0),
        })))
    }
}
