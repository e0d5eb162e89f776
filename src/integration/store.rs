//! Queries and writes of the integration area: API clients and their keys,
//! webhook subscriptions and their deliveries, and the event feed.

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::Expr, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{
    accounts::store::create_client_key,
    audit::{self, Event},
    db::newest_first,
    entities::{
        api_client_keys, api_clients, outbox_events, webhook_deliveries, webhook_subscriptions,
    },
    versioned::{self, Changes, WriteError},
};

/// Delivery states.
pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

// --- API clients --------------------------------------------------------------

/// A page of API clients, newest first, before `before`.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_clients(
    db: &impl ConnectionTrait,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<api_clients::Model>, DbErr> {
    newest_first(
        api_clients::Entity::find(),
        api_clients::Column::Id,
        before,
        fetch,
    )
    .all(db)
    .await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn find_client(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<api_clients::Model>, DbErr> {
    api_clients::Entity::find_by_id(id).one(db).await
}

/// The unexpired keys of several clients in one query, oldest first.
#[tracing::instrument(skip_all)]
pub(crate) async fn live_keys_of(
    db: &impl ConnectionTrait,
    client_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<api_client_keys::Model>, DbErr> {
    api_client_keys::Entity::find()
        .filter(api_client_keys::Column::ClientId.is_in(client_ids.iter().copied()))
        .filter(
            Condition::any()
                .add(api_client_keys::Column::ExpiresAt.is_null())
                .add(api_client_keys::Column::ExpiresAt.gt(now)),
        )
        .order_by_asc(api_client_keys::Column::Id)
        .all(db)
        .await
}

/// Inserts a client with its first key and records it. Returns the key
/// (shown once) and its row.
#[tracing::instrument(skip_all)]
pub(crate) async fn insert_client(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: api_clients::ActiveModel,
) -> Result<(Zeroizing<String>, api_client_keys::Model), DbErr> {
    let client = versioned::insert(txn, audit, now, row, |m| {
        Event::new("api_client.created", 201)
            .on("api_client", m.id)
            .fields(vec!["scopes"])
    })
    .await?;
    create_client_key(txn, client.id, now).await
}

/// Changes a client's name, scopes or expiry at version `expected`.
#[tracing::instrument(skip_all)]
pub(crate) async fn update_client(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    changes: Changes<api_clients::Entity>,
) -> Result<Option<api_clients::Model>, WriteError> {
    let event = Event::new("api_client.updated", 200).on("api_client", id);
    versioned::update(txn, audit, now, id, expected, changes, event).await
}

/// Revokes client `m` (every key stops at once) and records it.
#[tracing::instrument(skip_all)]
pub(crate) async fn revoke_client(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    m: &api_clients::Model,
) -> Result<api_clients::Model, WriteError> {
    let mut changes = Changes::<api_clients::Entity>::new();
    changes.set("revokedAt", api_clients::Column::RevokedAt, Some(now));
    let event = Event::new("api_client.revoked", 200).on("api_client", m.id);
    versioned::update(txn, audit, now, m.id, m.version, changes, event)
        .await?
        .ok_or(WriteError::Stale)
}

/// Issues a new key to client `m`; its older keys stop at `old_keys_end`
/// (or earlier, as they were). Returns the key, shown once, and its row.
#[tracing::instrument(skip_all)]
pub(crate) async fn rotate_key(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    m: &api_clients::Model,
    old_keys_end: DateTime<Utc>,
) -> Result<(Zeroizing<String>, api_client_keys::Model), WriteError> {
    api_client_keys::Entity::update_many()
        .col_expr(
            api_client_keys::Column::ExpiresAt,
            Expr::value(Some(old_keys_end)),
        )
        .filter(api_client_keys::Column::ClientId.eq(m.id))
        .filter(
            Condition::any()
                .add(api_client_keys::Column::ExpiresAt.is_null())
                .add(api_client_keys::Column::ExpiresAt.gt(old_keys_end)),
        )
        .exec(txn)
        .await?;
    let issued = create_client_key(txn, m.id, now).await?;
    let mut changes = Changes::<api_clients::Entity>::new();
    changes.touch("keys");
    let event = Event::new("api_client.key_issued", 201).on("api_client", m.id);
    versioned::update(txn, audit, now, m.id, m.version, changes, event)
        .await?
        .ok_or(WriteError::Stale)?;
    Ok(issued)
}

// --- webhook subscriptions ----------------------------------------------------

#[tracing::instrument(skip_all)]
pub(crate) async fn list_subscriptions(
    db: &impl ConnectionTrait,
    client: Option<Uuid>,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<webhook_subscriptions::Model>, DbErr> {
    let mut q = webhook_subscriptions::Entity::find();
    if let Some(client) = client {
        q = q.filter(webhook_subscriptions::Column::ClientId.eq(client));
    }
    newest_first(q, webhook_subscriptions::Column::Id, before, fetch)
        .all(db)
        .await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn find_subscription(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<webhook_subscriptions::Model>, DbErr> {
    webhook_subscriptions::Entity::find_by_id(id).one(db).await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn insert_subscription(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: webhook_subscriptions::ActiveModel,
) -> Result<webhook_subscriptions::Model, DbErr> {
    versioned::insert(txn, audit, now, row, |m| {
        Event::new("subscription.created", 201).on("subscription", m.id)
    })
    .await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn update_subscription(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    changes: Changes<webhook_subscriptions::Entity>,
) -> Result<Option<webhook_subscriptions::Model>, WriteError> {
    let event = Event::new("subscription.updated", 200).on("subscription", id);
    versioned::update(txn, audit, now, id, expected, changes, event).await
}

/// Replaces subscription `m`'s signing secret with `sealed` at version
/// `m.version`; the current one keeps signing until `previous_until`.
#[tracing::instrument(skip_all)]
pub(crate) async fn rotate_subscription_secret(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    m: &webhook_subscriptions::Model,
    sealed: String,
    previous_until: DateTime<Utc>,
) -> Result<Option<webhook_subscriptions::Model>, WriteError> {
    use webhook_subscriptions::Column as C;
    let mut changes = Changes::<webhook_subscriptions::Entity>::new();
    changes.touch("secret");
    changes.also(C::SecretEnc, sealed);
    changes.also(C::PreviousSecretEnc, Some(m.secret_enc.clone()));
    changes.also(C::PreviousSecretExpiresAt, Some(previous_until));
    let event = Event::new("subscription.secret_rotated", 201).on("subscription", m.id);
    versioned::update(txn, audit, now, m.id, m.version, changes, event).await
}

/// Deletes a subscription with its pending and failed deliveries and
/// records it.
#[tracing::instrument(skip_all)]
pub(crate) async fn delete_subscription(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<(), DbErr> {
    webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::SubscriptionId.eq(id))
        .exec(txn)
        .await?;
    webhook_subscriptions::Entity::delete_by_id(id)
        .exec(txn)
        .await?;
    audit::record(
        txn,
        now,
        audit,
        Event::new("subscription.deleted", 204).on("subscription", id),
    )
    .await?;
    Ok(())
}

/// A page of a subscription's failed deliveries, newest first, with the
/// events they carry.
#[tracing::instrument(skip_all)]
pub(crate) async fn failed_deliveries(
    db: &impl ConnectionTrait,
    subscription_id: Uuid,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<(Vec<webhook_deliveries::Model>, Vec<outbox_events::Model>), DbErr> {
    let q = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::SubscriptionId.eq(subscription_id))
        .filter(webhook_deliveries::Column::Status.eq(FAILED));
    let rows = newest_first(q, webhook_deliveries::Column::Id, before, fetch)
        .all(db)
        .await?;
    let seqs: Vec<i64> = rows.iter().map(|r| r.event_seq).collect();
    let events = outbox_events::Entity::find()
        .filter(outbox_events::Column::Seq.is_in(seqs))
        .all(db)
        .await?;
    Ok((rows, events))
}

#[tracing::instrument(skip_all)]
pub(crate) async fn find_delivery(
    db: &impl ConnectionTrait,
    subscription_id: Uuid,
    id: Uuid,
) -> Result<Option<webhook_deliveries::Model>, DbErr> {
    webhook_deliveries::Entity::find_by_id(id)
        .filter(webhook_deliveries::Column::SubscriptionId.eq(subscription_id))
        .one(db)
        .await
}

/// Queues delivery `d` again from its first attempt and records it.
/// Returns the id of the event it carries.
#[tracing::instrument(skip_all)]
pub(crate) async fn retry_delivery(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    d: &webhook_deliveries::Model,
) -> Result<Uuid, DbErr> {
    webhook_deliveries::Entity::update_many()
        .col_expr(webhook_deliveries::Column::Status, Expr::value(PENDING))
        .col_expr(webhook_deliveries::Column::Attempts, Expr::value(0))
        .col_expr(webhook_deliveries::Column::NextAttemptAt, Expr::value(now))
        .filter(webhook_deliveries::Column::Id.eq(d.id))
        .exec(txn)
        .await?;
    let event_id = outbox_events::Entity::find_by_id(d.event_seq)
        .one(txn)
        .await?
        .map(|e| e.id)
        .ok_or_else(|| DbErr::RecordNotFound("the delivery's event".into()))?;
    audit::record(
        txn,
        now,
        audit,
        Event::new("delivery.retried", 202).on("delivery", d.id),
    )
    .await?;
    Ok(event_id)
}

// --- the event feed -------------------------------------------------------

/// Removes outbox events made before `before` that every active
/// subscription has fanned out and no delivery row refers to (a pending or
/// failed delivery keeps its event), except the newest event of each
/// stream, which marks how far the feed has come (sequence numbers, global
/// and per stream, continue from it). A subscription deactivated holds
/// nothing back: reactivated, it resumes from the events still kept.
#[tracing::instrument(skip_all)]
pub(crate) async fn prune_outbox(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use sea_orm::sea_query::Query;
    let Some(newest) = outbox_events::Entity::find()
        .order_by_desc(outbox_events::Column::Seq)
        .one(db)
        .await?
    else {
        return Ok(0);
    };
    let behind: Option<i64> = webhook_subscriptions::Entity::find()
        .select_only()
        .column(webhook_subscriptions::Column::FannedOutSeq)
        .filter(webhook_subscriptions::Column::Active.eq(true))
        .order_by_asc(webhook_subscriptions::Column::FannedOutSeq)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let done = outbox_events::Entity::delete_many()
        .filter(outbox_events::Column::CreatedAt.lt(before))
        .filter(outbox_events::Column::Seq.lt(newest.seq))
        .filter(outbox_events::Column::Seq.lte(behind.unwrap_or(i64::MAX)))
        .filter(
            outbox_events::Column::Seq.not_in_subquery(
                Query::select()
                    .column(webhook_deliveries::Column::EventSeq)
                    .from(webhook_deliveries::Entity)
                    .to_owned(),
            ),
        )
        .filter(
            outbox_events::Column::Seq.not_in_subquery(
                Query::select()
                    .expr(sea_orm::sea_query::Func::max(
                        sea_orm::sea_query::Expr::col(outbox_events::Column::Seq),
                    ))
                    .from(outbox_events::Entity)
                    .group_by_col(outbox_events::Column::Stream)
                    .to_owned(),
            ),
        )
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

/// The first number still kept in a stream (older events were pruned).
pub(crate) async fn oldest_in_stream(
    db: &impl ConnectionTrait,
    stream: super::outbox::Stream,
) -> Result<Option<i64>, DbErr> {
    Ok(outbox_events::Entity::find()
        .filter(outbox_events::Column::Stream.eq(stream.as_str()))
        .order_by_asc(outbox_events::Column::StreamSeq)
        .one(db)
        .await?
        .map(|e| e.stream_seq))
}

/// A stream's events after number `after`, of these channels, in order.
pub(crate) async fn feed(
    db: &impl ConnectionTrait,
    stream: super::outbox::Stream,
    after: i64,
    kanalen: Vec<&str>,
    fetch: u64,
) -> Result<Vec<outbox_events::Model>, DbErr> {
    outbox_events::Entity::find()
        .filter(outbox_events::Column::Stream.eq(stream.as_str()))
        .filter(outbox_events::Column::StreamSeq.gt(after))
        .filter(outbox_events::Column::Kanaal.is_in(kanalen))
        .order_by_asc(outbox_events::Column::StreamSeq)
        .limit(fetch)
        .all(db)
        .await
}
