//! The audit trail: append-only, hash-chained events naming only ids.
//!
//! Every event stores the hash of its predecessor; appending takes a lock
//! (PostgreSQL: a transaction-scoped advisory lock; SQLite: the write
//! transaction itself) so that replicas writing at once still build one chain.

pub mod api;

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    QueryOrder, QuerySelect,
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

/// The chain's head: the next sequence number and the previous hash, read
/// under the write-order lock (PostgreSQL; SQLite's write transaction is
/// the lock).
async fn head(txn: &DatabaseTransaction) -> Result<(i64, String), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7261002)")
            .await?;
    }
    let last = audit_events::Entity::find()
        .order_by_desc(audit_events::Column::Seq)
        .limit(1)
        .one(txn)
        .await?;
    Ok(match last {
        Some(l) => (l.seq + 1, l.hash),
        None => (1, GENESIS_HASH.to_owned()),
    })
}

/// The stored row of an event, hashed over the previous one.
fn chained(
    seq: i64,
    prev_hash: String,
    now: DateTime<Utc>,
    ctx: &Context,
    event: &Event<'_>,
) -> audit_events::Model {
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
        resource_id: event.resource_id.clone(),
        outcome: i32::from(event.outcome),
        request_id: ctx.request_id.clone(),
        client_ip: ctx.client_ip.clone(),
        reason: ctx.reason.clone(),
        changed_fields: (!event.changed_fields.is_empty()).then(|| event.changed_fields.join(",")),
        prev_hash,
        hash: String::new(),
    };
    model.hash = event_hash(&model);
    model
}

async fn insert(txn: &DatabaseTransaction, rows: Vec<audit_events::Model>) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    audit_events::Entity::insert_many(rows.into_iter().map(audit_events::ActiveModel::from))
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// Appends an event inside the caller's write transaction, so the event
/// commits if and only if the change it records commits.
pub async fn record(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    ctx: &Context,
    event: Event<'_>,
) -> Result<Uuid, DbErr> {
    let (seq, prev_hash) = head(txn).await?;
    let row = chained(seq, prev_hash, now, ctx, &event);
    let id = row.id;
    insert(txn, vec![row]).await?;
    Ok(id)
}

/// An event waiting for the appender.
struct Pending {
    now: DateTime<Utc>,
    ctx: Context,
    action: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    outcome: u16,
    changed_fields: Vec<String>,
    done: tokio::sync::oneshot::Sender<Result<Uuid, DbErr>>,
}

/// Appends events that record no change (reads, refusals, exports) with
/// group commit: requests that arrive while a transaction is being written
/// share the next one, so a hundred concurrent reads cost a few transactions
/// instead of a hundred serialised ones. Each caller still waits until its
/// event is committed, so a read's event is written before the data leaves.
#[derive(Clone)]
pub struct Appender {
    queue: tokio::sync::mpsc::UnboundedSender<Pending>,
}

/// Events written in one transaction at most.
const GROUP_MAX: usize = 256;

impl Appender {
    /// Starts the appender's task on the current runtime.
    pub fn start(db: DatabaseConnection) -> Self {
        let (queue, mut rx) = tokio::sync::mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut group = vec![first];
                while group.len() < GROUP_MAX {
                    match rx.try_recv() {
                        Ok(p) => group.push(p),
                        Err(_) => break,
                    }
                }
                match append_group(&db, &group).await {
                    Ok(ids) => {
                        for (p, id) in group.into_iter().zip(ids) {
                            let _ = p.done.send(Ok(id));
                        }
                    }
                    Err(e) => {
                        for p in group {
                            let _ = p.done.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Self { queue }
    }
}

async fn append_group(db: &DatabaseConnection, group: &[Pending]) -> Result<Vec<Uuid>, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let (mut seq, mut prev_hash) = head(&txn).await?;
    let mut rows = Vec::with_capacity(group.len());
    for p in group {
        let event = Event {
            action: &p.action,
            resource_type: p.resource_type.as_deref(),
            resource_id: p.resource_id.clone(),
            outcome: p.outcome,
            changed_fields: p.changed_fields.iter().map(String::as_str).collect(),
        };
        let row = chained(seq, prev_hash, p.now, &p.ctx, &event);
        seq += 1;
        prev_hash = row.hash.clone();
        rows.push(row);
    }
    let ids = rows.iter().map(|r| r.id).collect();
    insert(&txn, rows).await?;
    txn.commit().await?;
    Ok(ids)
}

/// Appends an event in a transaction of its own (for events that record no
/// change), and returns once it is committed.
pub async fn record_alone(
    appender: &Appender,
    now: DateTime<Utc>,
    ctx: &Context,
    event: Event<'_>,
) -> Result<Uuid, DbErr> {
    let (done, committed) = tokio::sync::oneshot::channel();
    appender
        .queue
        .send(Pending {
            now,
            ctx: ctx.clone(),
            action: event.action.to_owned(),
            resource_type: event.resource_type.map(str::to_owned),
            resource_id: event.resource_id,
            outcome: event.outcome,
            changed_fields: event
                .changed_fields
                .iter()
                .map(|f| (*f).to_owned())
                .collect(),
            done,
        })
        .map_err(|_| DbErr::Custom("the audit appender has stopped".to_owned()))?;
    committed
        .await
        .map_err(|_| DbErr::Custom("the audit appender has stopped".to_owned()))?
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
