//! The audit trail's reads for the auditor's endpoints. Appending is the
//! appender's (`audit::record`), never a store function's.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entities::{audit_checkpoints, audit_events, data_keys};

/// Which events a listing covers; `None` is every value.
#[derive(Debug, Default, Clone)]
pub(crate) struct EventFilter {
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// At or after.
    pub occurred_from: Option<DateTime<Utc>>,
    /// Before.
    pub occurred_to: Option<DateTime<Utc>>,
}

/// Up to `limit` events before `before_seq` (or from the head), newest first.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_events(
    db: &impl ConnectionTrait,
    f: &EventFilter,
    before_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<audit_events::Model>, DbErr> {
    use audit_events::Column as C;
    let mut q = audit_events::Entity::find();
    if let Some(a) = f.actor_id {
        q = q.filter(C::ActorId.eq(a));
    }
    if let Some(a) = &f.action {
        q = q.filter(C::Action.eq(a.as_str()));
    }
    if let Some(t) = &f.resource_type {
        q = q.filter(C::ResourceType.eq(t.as_str()));
    }
    if let Some(r) = &f.resource_id {
        q = q.filter(C::ResourceId.eq(r.as_str()));
    }
    if let Some(from) = f.occurred_from {
        q = q.filter(C::OccurredAt.gte(from));
    }
    if let Some(to) = f.occurred_to {
        q = q.filter(C::OccurredAt.lt(to));
    }
    if let Some(after) = before_seq {
        q = q.filter(C::Seq.lt(after));
    }
    q.order_by_desc(C::Seq).limit(limit).all(db).await
}

/// Up to `limit` checkpoints before `before_seq` (or from the newest),
/// newest first.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_checkpoints(
    db: &impl ConnectionTrait,
    before_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<audit_checkpoints::Model>, DbErr> {
    let mut q = audit_checkpoints::Entity::find();
    if let Some(after) = before_seq {
        q = q.filter(audit_checkpoints::Column::Seq.lt(after));
    }
    q.order_by_desc(audit_checkpoints::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// The wrapped data keys of these defenders that still exist (an erased
/// defender's key is gone).
#[tracing::instrument(skip_all)]
pub(crate) async fn data_keys(
    db: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<Vec<data_keys::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    data_keys::Entity::find()
        .filter(data_keys::Column::Id.is_in(ids))
        .all(db)
        .await
}
