//! The audit trail: append-only, hash-chained events naming only ids.
//!
//! Every event stores the hash of its predecessor (keyed: see [`chain`]);
//! appending takes a lock (PostgreSQL: a transaction-scoped advisory lock;
//! SQLite: the write transaction itself) so that replicas writing at once
//! still build one chain.

pub mod chain;
pub mod checkpoints;
pub mod export;
pub mod prune;
pub(crate) mod reason;
pub(crate) mod store;

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

pub use chain::{AuditKeys, GENESIS_HASH};

use crate::{crypto::DataKey, entities::audit_events};

/// The lock that orders appends (and checkpoints) across replicas.
pub const CHAIN_LOCK: crate::db::AdvisoryLock = crate::db::AdvisoryLock::WriteOrder;

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

/// The request an event belongs to, and the keys its event is written with.
#[derive(Debug, Clone)]
pub struct Context {
    pub keys: AuditKeys,
    pub actor: Option<Actor>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    /// The caller's `X-Audit-Reason`, sealed when an event is written.
    reason: Option<reason::Reason>,
}

impl Context {
    /// A context without a request (the command line, the bootstrap).
    pub fn new(keys: AuditKeys) -> Self {
        Self {
            keys,
            actor: None,
            request_id: None,
            client_ip: None,
            reason: None,
        }
    }

    /// The caller's reason (read only once the caller is authenticated).
    pub fn with_reason(mut self, text: Option<String>) -> Self {
        self.reason = text.map(reason::Reason::new);
        self
    }

    pub fn has_reason(&self) -> bool {
        self.reason.is_some()
    }

    /// The same context for events about one defender: its reason is sealed
    /// under that defender's data key, so that erasure shreds it.
    pub fn about_defender(&self, key_id: Option<Uuid>, key: &DataKey) -> Context {
        let mut ctx = self.clone();
        if let (Some(r), Some(id)) = (&self.reason, key_id) {
            ctx.reason = Some(r.about_defender(id, key));
        }
        ctx
    }
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
    /// For aggregated refusals: how many requests this event stands for.
    pub occurrences: Option<i32>,
}

impl<'a> Event<'a> {
    pub fn new(action: &'a str, outcome: u16) -> Self {
        Self {
            action,
            resource_type: None,
            resource_id: None,
            outcome,
            changed_fields: Vec::new(),
            occurrences: None,
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

/// Takes the chain's lock (PostgreSQL; SQLite's write transaction is it).
pub async fn lock_chain(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&CHAIN_LOCK.xact_sql()).await?;
    }
    Ok(())
}

/// The chain's head, read under the lock: the last sequence number and hash.
pub async fn last_event(txn: &impl ConnectionTrait) -> Result<Option<(i64, String)>, DbErr> {
    let last: Option<(i64, String)> = audit_events::Entity::find()
        .select_only()
        .column(audit_events::Column::Seq)
        .column(audit_events::Column::Hash)
        .order_by_desc(audit_events::Column::Seq)
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?;
    Ok(last)
}

/// The next sequence number and the previous hash, under the lock.
async fn head(txn: &DatabaseTransaction) -> Result<(i64, String), DbErr> {
    lock_chain(txn).await?;
    Ok(match last_event(txn).await? {
        Some((seq, hash)) => (seq + 1, hash),
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
    let id = Uuid::now_v7();
    let mut model = audit_events::Model {
        seq,
        id,
        occurred_at: now,
        actor_type,
        actor_id,
        action: event.action.to_owned(),
        resource_type: event.resource_type.map(str::to_owned),
        resource_id: event.resource_id.clone(),
        outcome: i32::from(event.outcome),
        request_id: ctx.request_id.clone(),
        client_ip: ctx.client_ip.clone(),
        reason: ctx.reason.as_ref().map(|r| r.seal(&ctx.keys, id)),
        changed_fields: (!event.changed_fields.is_empty()).then(|| event.changed_fields.join(",")),
        occurrences: event.occurrences,
        prev_hash,
        hash: String::new(),
    };
    model.hash = ctx.keys.chain().hash(&model);
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
    occurrences: Option<i32>,
    done: tokio::sync::oneshot::Sender<Result<Uuid, DbErr>>,
}

/// Appends events that record no change (reads, refusals, exports) with
/// group commit: requests that arrive while a transaction is being written
/// share the next one, so a hundred concurrent reads cost a few transactions
/// instead of a hundred serialised ones. Each caller still waits until its
/// event is committed, so a read's event is written before the data leaves.
///
/// The queue is bounded ([`QUEUE_CAPACITY`]): when the database falls behind,
/// callers wait to enqueue (back-pressure) instead of memory growing without
/// limit. The task is supervised: a panic fails the events of the group it
/// was writing (their callers get an error, never a silent success), and the
/// task is restarted; `/health/ready` reports it ([`Appender::status`]).
#[derive(Clone)]
pub struct Appender {
    queue: tokio::sync::mpsc::Sender<Pending>,
    liveness: std::sync::Arc<crate::supervise::Liveness>,
}

/// Events written in one transaction at most.
const GROUP_MAX: usize = 256;

/// Events waiting at most; a caller beyond it waits for room.
pub const QUEUE_CAPACITY: usize = 4 * GROUP_MAX;

/// The appender as `/health/ready` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppenderStatus {
    /// Whether its task runs (false while it restarts after a crash).
    pub running: bool,
    /// Events waiting to be written.
    pub queued: usize,
    pub capacity: usize,
    /// Crashes since the service started.
    pub restarts: u64,
}

impl Appender {
    /// Starts the appender's task, supervised, on the current runtime.
    pub fn start(db: DatabaseConnection) -> Self {
        let (queue, rx) = tokio::sync::mpsc::channel::<Pending>(QUEUE_CAPACITY);
        // the receiver outlives a crashed run: the restarted one takes it up
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        let (liveness, _) = crate::supervise::supervise(
            "audit appender",
            std::time::Duration::from_secs(1),
            move || run_appender(db.clone(), rx.clone()),
        );
        Self { queue, liveness }
    }

    pub fn status(&self) -> AppenderStatus {
        AppenderStatus {
            running: self.liveness.running() && !self.queue.is_closed(),
            queued: self.queue.max_capacity() - self.queue.capacity(),
            capacity: self.queue.max_capacity(),
            restarts: self.liveness.restarts(),
        }
    }
}

/// One run of the appender: groups of waiting events, each in one
/// transaction, until every sender is gone.
async fn run_appender(
    db: DatabaseConnection,
    rx: std::sync::Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Pending>>>,
) {
    let mut rx = rx.lock().await;
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
            occurrences: p.occurrences,
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
            occurrences: event.occurrences,
            done,
        })
        .await
        .map_err(|_| DbErr::Custom("the audit appender has stopped".to_owned()))?;
    committed
        .await
        .map_err(|_| DbErr::Custom("the audit appender has stopped".to_owned()))?
}

/// Refusals of callers who are not signed in (no token, an unknown one, a
/// throttled or refused sign-in), counted instead of written one by one: a
/// flood of 24,478 such requests in 10 s used to become 24,478 events. The
/// first refusal of an action from an address in an interval is written at
/// once (so a single probe is visible immediately); the rest of that
/// interval become one event whose `occurrences` says how many requests it
/// stands for, written when the interval ends (or at shutdown).
#[derive(Clone)]
pub struct Aggregator {
    buckets: Arc<std::sync::Mutex<HashMap<(String, String), Bucket>>>,
    appender: Appender,
    pub interval: TimeDelta,
}

struct Bucket {
    since: DateTime<Utc>,
    /// Refusals after the first, not yet written.
    more: i32,
    /// The context and event of the last of them (its request id, operation).
    ctx: Context,
    action: String,
    resource: Option<(String, String)>,
    outcome: u16,
}

/// Addresses counted separately at most; beyond this every other address
/// shares one bucket, so a spray of addresses cannot grow memory.
const MAX_BUCKETS: usize = 10_000;
const EVERY_OTHER_ADDRESS: &str = "*";

impl Aggregator {
    pub fn new(appender: Appender, interval: TimeDelta) -> Self {
        Self {
            buckets: Arc::default(),
            appender,
            interval,
        }
    }

    /// Records an anonymous refusal: at once if it is the first of its kind
    /// from its address in this interval, otherwise as a count.
    pub async fn refused(
        &self,
        now: DateTime<Utc>,
        ctx: &Context,
        event: Event<'_>,
    ) -> Result<(), DbErr> {
        let first = {
            let Ok(mut buckets) = self.buckets.lock() else {
                return Err(DbErr::Custom("the refusal counter is poisoned".to_owned()));
            };
            let mut address = ctx.client_ip.clone().unwrap_or_default();
            let mut key = (event.action.to_owned(), address.clone());
            if !buckets.contains_key(&key) && buckets.len() >= MAX_BUCKETS {
                address = EVERY_OTHER_ADDRESS.to_owned();
                key = (event.action.to_owned(), address);
            }
            match buckets.get_mut(&key) {
                Some(bucket) => {
                    bucket.more = bucket.more.saturating_add(1);
                    bucket.ctx = ctx.clone();
                    bucket.resource = event
                        .resource_type
                        .zip(event.resource_id.clone())
                        .map(|(t, id)| (t.to_owned(), id));
                    false
                }
                None => {
                    buckets.insert(
                        key,
                        Bucket {
                            since: now,
                            more: 0,
                            ctx: ctx.clone(),
                            action: event.action.to_owned(),
                            resource: None,
                            outcome: event.outcome,
                        },
                    );
                    true
                }
            }
        };
        if first {
            record_alone(&self.appender, now, ctx, event).await?;
        }
        Ok(())
    }

    /// Writes the counts of intervals that ended by `now` (all of them with
    /// `everything`), one event per action and address.
    pub async fn flush(&self, now: DateTime<Utc>, everything: bool) -> Result<(), DbErr> {
        let due: Vec<Bucket> = {
            let Ok(mut buckets) = self.buckets.lock() else {
                return Err(DbErr::Custom("the refusal counter is poisoned".to_owned()));
            };
            let keys: Vec<(String, String)> = buckets
                .iter()
                .filter(|(_, b)| everything || now - b.since >= self.interval)
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| buckets.remove(k)).collect()
        };
        for b in due.into_iter().filter(|b| b.more > 0) {
            let mut event = Event::new(&b.action, b.outcome);
            if let Some((t, id)) = &b.resource {
                event = event.on(t, id);
            }
            event.occurrences = Some(b.more);
            record_alone(&self.appender, now, &b.ctx, event).await?;
        }
        Ok(())
    }

    /// Flushes every second, on the service's clock, until aborted
    /// (supervised: a panic restarts it).
    pub fn spawn_flusher(
        &self,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let (_, handle) = crate::supervise::supervise(
            "refusal counter flush",
            std::time::Duration::from_secs(1),
            move || {
                let (this, clock) = (this.clone(), clock.clone());
                async move {
                    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                    loop {
                        tick.tick().await;
                        if let Err(e) = this.flush(clock.now(), false).await {
                            tracing::warn!(error = %e, "writing counted refusals failed; trying again");
                        }
                    }
                }
            },
        );
        handle
    }
}

/// The result of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub checked: u64,
    pub broken: Option<chain::Broken>,
    pub checkpoints: u64,
    pub latest_checkpoint: Option<chain::Checkpoint>,
}

/// Recomputes the whole chain in batches, in sequence order, against every
/// checkpoint (each signed with this deployment's key).
pub async fn verify(db: &impl ConnectionTrait, keys: &AuditKeys) -> Result<Verification, DbErr> {
    verify_with(db, keys, None).await
}

/// [`verify`], also against a checkpoint kept outside the system.
pub async fn verify_with(
    db: &impl ConnectionTrait,
    keys: &AuditKeys,
    outside: Option<chain::Checkpoint>,
) -> Result<Verification, DbErr> {
    let mut checkpoints = checkpoints::all(db).await?;
    let latest = checkpoints.last().cloned();
    if let Some(c) = outside {
        if !checkpoints.contains(&c) {
            // a different statement about a stored checkpoint's place is a
            // mismatch to report, not one to drop
            checkpoints.retain(|k| k.seq != c.seq);
            checkpoints.push(c);
            checkpoints.sort_by_key(|k| k.seq);
        }
    }
    let pinned = keys.public_key();
    // a pruned trail begins after its signed prune point
    let pruned = prune::latest(db).await?;
    let start = match &pruned {
        Some(p) => (p.seq + 1, p.hash.clone()),
        None => (1, GENESIS_HASH.to_owned()),
    };
    checkpoints.retain(|c| c.seq >= start.0);
    let mut walk = chain::Walk::new(
        Some(keys.chain()),
        &checkpoints,
        &pinned,
        Some(start.clone()),
    );
    if let Some(p) = pruned.as_ref().filter(|p| !p.signed_by(&pinned)) {
        walk.broken = Some(chain::Broken {
            seq: p.seq,
            event_id: None,
            fault: chain::Fault::PruneSignature,
        });
    }
    let mut from = start.0;
    'batches: loop {
        let batch = audit_events::Entity::find()
            .filter(audit_events::Column::Seq.gte(from))
            .order_by_asc(audit_events::Column::Seq)
            .limit(1000)
            .all(db)
            .await?;
        let Some(last) = batch.last().map(|e| e.seq) else {
            break;
        };
        for e in &batch {
            if !walk.step(e) {
                break 'batches;
            }
        }
        from = last + 1;
    }
    let walk = walk.finish(true);
    Ok(Verification {
        checked: walk.checked,
        broken: walk.broken.clone(),
        checkpoints: checkpoints.len() as u64,
        latest_checkpoint: latest,
    })
}
