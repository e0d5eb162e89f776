//! The audit trail: append-only, hash-chained events naming only ids.
//!
//! Every event stores the hash of its predecessor; appending takes a lock
//! (PostgreSQL: a transaction-scoped advisory lock; SQLite: the write
//! transaction itself) so that replicas writing at once still build one chain.

pub mod api;

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entities::audit_events;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Staff(Uuid),
    Client(Uuid),
}

impl Actor {
    fn parts(self) -> (&'static str, Uuid) {
        match self {
            Actor::Staff(id) => ("staff", id),
            Actor::Client(id) => ("client", id),
        }
    }
}

/// The request an event belongs to.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub actor: Option<Actor>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    /// The caller's `X-Audit-Reason`.
    pub reason: Option<String>,
}

/// What happened. Resource ids only: never names, e-mail addresses, secrets.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub action: &'a str,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<String>,
    pub outcome: u16,
    /// For changes: the names of the fields that changed, never their values.
    pub changed_fields: Vec<&'a str>,
}

impl<'a> Event<'a> {
    pub fn new(action: &'a str, outcome: u16) -> Self {
        Self {
            action,
            resource_type: None,
            resource_id: None,
            outcome,
            changed_fields: Vec::new(),
        }
    }

    pub fn fields(mut self, names: Vec<&'a str>) -> Self {
        self.changed_fields = names;
        self
    }

    pub fn on(mut self, resource_type: &'a str, id: impl ToString) -> Self {
        self.resource_type = Some(resource_type);
        self.resource_id = Some(id.to_string());
        self
    }
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The hash of an event: SHA-256 over a JSON array of every field and the
/// previous hash, so no field can change without breaking the chain.
pub fn event_hash(e: &audit_events::Model) -> String {
    let canonical = serde_json::json!([
        e.seq,
        e.id.to_string(),
        format_time(e.occurred_at),
        e.actor_type,
        e.actor_id.map(|a| a.to_string()),
        e.action,
        e.resource_type,
        e.resource_id,
        e.outcome,
        e.request_id,
        e.client_ip,
        e.reason,
        e.changed_fields,
        e.prev_hash,
    ]);
    crate::crypto::sha256_hex(canonical.to_string().as_bytes())
}

/// Appends an event inside the caller's write transaction, so the event
/// commits if and only if the change it records commits.
pub async fn record(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    ctx: &Context,
    event: Event<'_>,
) -> Result<Uuid, DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7261002)")
            .await?;
    }
    let last = audit_events::Entity::find()
        .order_by_desc(audit_events::Column::Seq)
        .limit(1)
        .one(txn)
        .await?;
    let (seq, prev_hash) = match last {
        Some(l) => (l.seq + 1, l.hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let (actor_type, actor_id) = match ctx.actor.map(Actor::parts) {
        Some((t, id)) => (Some(t.to_owned()), Some(id)),
        None => (None, None),
    };
    let mut model = audit_events::Model {
        seq,
        id: Uuid::now_v7(),
        occurred_at: now,
        actor_type,
        actor_id,
        action: event.action.to_owned(),
        resource_type: event.resource_type.map(str::to_owned),
        resource_id: event.resource_id,
        outcome: i32::from(event.outcome),
        request_id: ctx.request_id.clone(),
        client_ip: ctx.client_ip.clone(),
        reason: ctx.reason.clone(),
        changed_fields: (!event.changed_fields.is_empty()).then(|| event.changed_fields.join(",")),
        prev_hash,
        hash: String::new(),
    };
    model.hash = event_hash(&model);
    let id = model.id;
    let active = audit_events::ActiveModel {
        seq: Set(model.seq),
        id: Set(model.id),
        occurred_at: Set(model.occurred_at),
        actor_type: Set(model.actor_type),
        actor_id: Set(model.actor_id),
        action: Set(model.action),
        resource_type: Set(model.resource_type),
        resource_id: Set(model.resource_id),
        outcome: Set(model.outcome),
        request_id: Set(model.request_id),
        client_ip: Set(model.client_ip),
        reason: Set(model.reason),
        changed_fields: Set(model.changed_fields),
        prev_hash: Set(model.prev_hash),
        hash: Set(model.hash),
    };
    audit_events::Entity::insert(active)
        .exec_without_returning(txn)
        .await?;
    Ok(id)
}

/// Appends an event in a transaction of its own (for events that record no change).
pub async fn record_alone(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    ctx: &Context,
    event: Event<'_>,
) -> Result<Uuid, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let id = record(&txn, now, ctx, event).await?;
    txn.commit().await?;
    Ok(id)
}

/// The result of recomputing the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub checked: u64,
    pub first_broken: Option<(i64, Uuid)>,
}

/// Recomputes the whole chain in batches, in sequence order.
pub async fn verify(db: &impl ConnectionTrait) -> Result<Verification, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let mut checked = 0_u64;
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut expected_seq = 1_i64;
    loop {
        let batch = audit_events::Entity::find()
            .filter(audit_events::Column::Seq.gte(expected_seq))
            .order_by_asc(audit_events::Column::Seq)
            .limit(1000)
            .all(db)
            .await?;
        if batch.is_empty() {
            return Ok(Verification {
                checked,
                first_broken: None,
            });
        }
        for e in batch {
            let intact = e.seq == expected_seq
                && crate::crypto::constant_time_eq(
                    e.prev_hash.as_bytes(),
                    expected_prev.as_bytes(),
                )
                && crate::crypto::constant_time_eq(event_hash(&e).as_bytes(), e.hash.as_bytes());
            if !intact {
                return Ok(Verification {
                    checked,
                    first_broken: Some((e.seq, e.id)),
                });
            }
            checked += 1;
            expected_prev = e.hash;
            expected_seq += 1;
        }
    }
}
