//! Reading and verifying the audit trail (auditor only).

use poem::{web::Data, Request};
use poem_openapi::{param::Query, payload::Json, ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use crate::{
    accounts::access::Caller,
    audit::{
        chain::{Checkpoint, Fault},
        checkpoints, reason, record_alone, Event,
    },
    entities::audit_events,
    http::types::Timestamp,
    http::{
        body::JsonBody,
        pagination::PageRequest,
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
    /// Whether the caller gave an `X-Audit-Reason`.
    pub reason_given: bool,
    /// The caller's `X-Audit-Reason` (stored sealed). Absent when none was
    /// given, and when it was about a defender who has since been erased.
    #[oai(validator(max_length = 2000))]
    pub reason: Option<String>,
    /// For changes: the names of the fields that changed.
    pub changed_fields: Vec<String>,
    /// For refusals of callers who were not signed in, counted per address
    /// and interval: how many requests this event stands for.
    pub occurrences: Option<i32>,
    /// The previous event's hash (64 zeros for the first).
    #[oai(validator(max_length = 64))]
    pub prev_hash: String,
    /// HMAC-SHA256 under the chain key (SHA-256 for events written before
    /// the chain was keyed).
    #[oai(validator(max_length = 64))]
    pub hash: String,
}

impl AuditEvent {
    fn from_model(m: audit_events::Model, reason: Option<String>) -> Self {
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
            reason_given: m.reason.is_some(),
            reason,
            changed_fields: m
                .changed_fields
                .map(|f| f.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            occurrences: m.occurrences,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

/// The reasons of a page of events, opened: under the reason key, or under
/// each defender's data key while that key exists.
async fn opened_reasons(
    state: &AppState,
    rows: &[audit_events::Model],
) -> Result<Vec<Option<String>>, ApiError> {
    let key_ids: Vec<Uuid> = rows
        .iter()
        .filter_map(|r| match r.reason.as_deref().map(reason::parse) {
            Some(reason::Stored::Defender(id, _)) => Some(id),
            _ => None,
        })
        .collect();
    let mut data_keys = std::collections::HashMap::new();
    for row in crate::audit::store::data_keys(&state.db, key_ids).await? {
        if let Ok(key) = state
            .keys
            .master
            .unwrap_key(&row.wrapped, &crate::keyring::data_key_aad(row.id))
        {
            data_keys.insert(row.id, key);
        }
    }
    Ok(rows
        .iter()
        .map(|r| match r.reason.as_deref().map(reason::parse) {
            None => None,
            Some(reason::Stored::Plain(text)) => Some(text.to_owned()),
            Some(reason::Stored::General(sealed)) => {
                reason::open(state.keys.audit.reason_key(), r.id, sealed)
            }
            // an erased defender's key is gone, and the reason with it
            Some(reason::Stored::Defender(key_id, sealed)) => data_keys
                .get(&key_id)
                .and_then(|key| reason::open(key, r.id, sealed)),
        })
        .collect())
}

crate::list_types!(
    AuditEventPage,
    AuditEventList,
    AuditEvent,
    "audit events, newest first"
);

/// A signed statement of the chain's head. Keep copies outside the system:
/// a later verification against one finds a chain cut or rewritten since.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditCheckpoint {
    /// The sequence number of the head event.
    pub seq: i64,
    /// The head event's hash.
    #[oai(validator(max_length = 64))]
    pub hash: String,
    pub created_at: Timestamp,
    /// The Ed25519 public key that signed it (base64); the same for every
    /// checkpoint of a deployment.
    #[oai(validator(max_length = 64))]
    pub public_key: String,
    /// Ed25519 (base64) over the text `casedesk audit checkpoint v1\nseq=<seq>\nhash=<hash>\ncreated=<createdAt, microseconds, Z>`.
    #[oai(validator(max_length = 128))]
    pub signature: String,
}

impl From<Checkpoint> for AuditCheckpoint {
    fn from(c: Checkpoint) -> Self {
        Self {
            seq: c.seq,
            hash: c.hash,
            created_at: c.created_at.into(),
            public_key: c.public_key,
            signature: c.signature,
        }
    }
}

impl From<&AuditCheckpoint> for Checkpoint {
    fn from(c: &AuditCheckpoint) -> Self {
        Self {
            seq: c.seq,
            hash: c.hash.clone(),
            created_at: c.created_at.0,
            public_key: c.public_key.clone(),
            signature: c.signature.clone(),
        }
    }
}

crate::list_types!(
    AuditCheckpointPage,
    AuditCheckpointList,
    AuditCheckpoint,
    "audit checkpoints, newest first"
);

/// Why the chain does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ChainFault {
    /// A sequence number is missing or out of order.
    Sequence,
    /// An event does not link to its predecessor's hash.
    Link,
    /// An event's content does not give its hash: it was altered.
    Hash,
    /// A checkpoint is not signed by this deployment's key.
    CheckpointSignature,
    /// The event at a checkpoint's sequence number has another hash.
    CheckpointMismatch,
    /// The chain ends before a checkpoint: events were removed from its end.
    TailCut,
    /// The point the trail was pruned to is not signed by this deployment's key.
    PruneSignature,
}

impl From<Fault> for ChainFault {
    fn from(f: Fault) -> Self {
        match f {
            Fault::Sequence => Self::Sequence,
            Fault::Link => Self::Link,
            Fault::Hash => Self::Hash,
            Fault::CheckpointSignature => Self::CheckpointSignature,
            Fault::CheckpointMismatch => Self::CheckpointMismatch,
            Fault::TailCut => Self::TailCut,
            Fault::PruneSignature => Self::PruneSignature,
        }
    }
}

/// The result of verifying the chain.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChainVerification {
    /// True when every event's hash and link are intact and every checkpoint agrees.
    pub ok: bool,
    /// How many events verified before the first broken one (or all).
    pub checked: u64,
    /// Where the chain broke: the first event that does not verify, or the
    /// checkpoint the chain does not reach.
    pub first_broken_seq: Option<i64>,
    pub first_broken_event_id: Option<Uuid>,
    pub fault: Option<ChainFault>,
    /// How many checkpoints were compared.
    pub checkpoints_checked: u64,
    /// The latest checkpoint stored.
    pub latest_checkpoint: Option<AuditCheckpoint>,
}

impl From<crate::audit::Verification> for ChainVerification {
    fn from(v: crate::audit::Verification) -> Self {
        Self {
            ok: v.broken.is_none(),
            checked: v.checked,
            first_broken_seq: v.broken.as_ref().map(|b| b.seq),
            first_broken_event_id: v.broken.as_ref().and_then(|b| b.event_id),
            fault: v.broken.as_ref().map(|b| b.fault.into()),
            checkpoints_checked: v.checkpoints,
            latest_checkpoint: v.latest_checkpoint.map(Into::into),
        }
    }
}

#[derive(ApiResponse)]
pub enum VerificationResponse {
    /// The outcome of the check (a broken chain is reported here, not as an error).
    #[oai(status = 200)]
    Ok(Json<ChainVerification>),
}

#[derive(ApiResponse)]
pub enum CheckpointResponse {
    /// A new checkpoint of the head.
    #[oai(status = 201)]
    Created(Json<AuditCheckpoint>),
    /// The head has not moved since the latest checkpoint, which is returned.
    #[oai(status = 200)]
    Existing(Json<AuditCheckpoint>),
}

async fn audited_verification(
    state: &AppState,
    caller: &Caller,
    result: crate::audit::Verification,
) -> ApiResult<VerificationResponse> {
    let outcome = Event::new(
        if result.broken.is_some() {
            "audit.verified.broken"
        } else {
            "audit.verified.ok"
        },
        200,
    );
    record_alone(&state.audit, state.clock.now(), &caller.audit, outcome).await?;
    Ok(VerificationResponse::Ok(Json(result.into())))
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
        let filter = crate::audit::store::EventFilter {
            actor_id: actor_id.0,
            action: action.0,
            resource_type: resource_type.0,
            resource_id: resource_id.0,
            occurred_from: occurred_from.0.map(|t| t.0),
            occurred_to: occurred_to.0.map(|t| t.0),
        };
        let rows =
            crate::audit::store::list_events(&state.db, &filter, page.after, page.fetch_limit())
                .await?;
        let rows = page.cut(rows, |r| r.seq)?;
        let reasons = opened_reasons(&state, &rows.rows).await?;
        record_alone(
            &state.audit,
            state.clock.now(),
            &caller.audit,
            Event::new("audit.listed", 200),
        )
        .await?;
        let mut reasons = reasons.into_iter();
        let items = rows.map(|m| AuditEvent::from_model(m, reasons.next().flatten()));
        Ok(AuditEventList::page(
            items,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Recompute the hash chain, compare it with every stored checkpoint, and
    /// report the first break, if any.
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
        let result = crate::audit::verify(&state.db, &state.keys.audit).await?;
        audited_verification(&state, &caller, result).await
    }

    /// List the signed checkpoints of the chain's head, newest first.
    #[oai(
        path = "/audit-checkpoints",
        method = "get",
        operation_id = "listAuditCheckpoints"
    )]
    async fn list_audit_checkpoints(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<AuditCheckpointList> {
        let page = PageRequest::<i64>::parse(limit.0, cursor.0.as_deref())?;
        let rows = crate::audit::store::list_checkpoints(&state.db, page.after, page.fetch_limit())
            .await?;
        let rows = page.cut(rows, |r| r.seq)?;
        Ok(AuditCheckpointList::page(
            rows.map(|m| Checkpoint::from(m).into()),
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Sign a checkpoint of the chain's head now.
    ///
    /// Checkpoints are also made every `CASEDESK_AUDIT_CHECKPOINT_SECONDS`
    /// when the head moved. Returns the latest one if the head has not moved.
    #[oai(
        path = "/audit-checkpoints",
        method = "post",
        operation_id = "createAuditCheckpoint"
    )]
    async fn create_audit_checkpoint(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
    ) -> ApiResult<CheckpointResponse> {
        let now = state.clock.now();
        // the request's own event first, so that the checkpoint covers it
        record_alone(
            &state.audit,
            now,
            &caller.audit,
            Event::new("audit.checkpoint_requested", 201),
        )
        .await?;
        let (checkpoint, new) = checkpoints::make(&state.db, &state.keys.audit, now)
            .await?
            .ok_or_else(ApiError::internal)?;
        Ok(if new {
            CheckpointResponse::Created(Json(checkpoint.into()))
        } else {
            CheckpointResponse::Existing(Json(checkpoint.into()))
        })
    }

    /// Verify the chain against a checkpoint kept outside the system.
    ///
    /// The checkpoint must be signed by this deployment's key; the chain is
    /// recomputed and must contain it (and every stored checkpoint). A chain
    /// cut or rewritten since the checkpoint was taken is reported.
    #[oai(
        path = "/audit-checkpoints/verifications",
        method = "post",
        operation_id = "verifyAuditCheckpoint"
    )]
    async fn verify_audit_checkpoint(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<AuditCheckpoint>,
    ) -> ApiResult<VerificationResponse> {
        let outside = Checkpoint::from(&*body);
        let result = crate::audit::verify_with(&state.db, &state.keys.audit, Some(outside)).await?;
        audited_verification(&state, &caller, result).await
    }
}
