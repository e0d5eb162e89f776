//! Webhook delivery from the outbox, shared by any number of replicas.
//!
//! Each round: (1) fan out new outbox events into one delivery row per
//! matching subscription (the subscription row is locked `FOR UPDATE SKIP
//! LOCKED`, so one replica does each); (2) claim due deliveries, again with
//! `SKIP LOCKED`, and lease them by moving their next attempt past the
//! timeout, so no other replica sends the same delivery meanwhile; (3) send
//! them, signed, and record the outcome: delivered, retried later with
//! exponential backoff and jitter, or failed after the last attempt.
//! Delivery is at least once; a receiver tells repeats apart by the event id.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{stream, StreamExt};
use rand::Rng;
use sea_orm::{
    sea_query::{Expr, LockBehavior, LockType, Query},
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::{
    outbox::EventBody,
    shapes::NotificationFormat,
    subscriptions::{matches, Channel},
};
use crate::{
    config::Webhooks,
    db::begin_write,
    entities::{outbox_events, webhook_deliveries, webhook_subscriptions},
    keyring::{webhook_authorization_aad, webhook_secret_aad},
    AppState,
};

pub use super::store::{DELIVERED, FAILED, PENDING};

/// Deliveries claimed per round, and sent at once at most.
const CLAIM_BATCH: u64 = 64;
const PARALLEL_SENDS: usize = 16;
/// Events fanned out per subscription per round.
const FAN_OUT_BATCH: u64 = 500;

pub use super::outbox::wake;

/// The wait before attempt `attempts + 1`: the base times 3^(attempts-1),
/// give or take a fifth so that replicas and receivers do not move in step.
/// With the defaults (60 s, 8 attempts) the retries span about 18 hours.
pub fn backoff(base: TimeDelta, attempts: u32) -> TimeDelta {
    let factor = 3_i64.saturating_pow(attempts.saturating_sub(1).min(12));
    let millis = base.num_milliseconds().saturating_mul(factor);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    TimeDelta::milliseconds((millis as f64 * jitter) as i64)
}

/// Runs delivery rounds until the task is dropped.
pub async fn run(state: AppState) {
    let config = state.config.webhooks.clone();
    let client = match reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        // every name is checked on the addresses it resolves to now (DNS
        // rebinding), and no proxy stands between that check and the receiver
        .no_proxy()
        .dns_resolver(Arc::new(super::destination::GuardedResolver {
            private_networks: Arc::new(config.private_networks.clone()),
        }))
        .user_agent(concat!("Casedesk-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook delivery cannot start");
            return;
        }
    };
    loop {
        let busy = match round(&state, &client, &config).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "webhook delivery round failed; trying again");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            _ = super::outbox::woken() => {
                // the waking transaction commits right after; give it a moment
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            _ = tokio::time::sleep(config.poll_interval) => {}
        }
    }
}

/// One round; returns how many deliveries were attempted or created.
pub async fn round(
    state: &AppState,
    client: &reqwest::Client,
    config: &Webhooks,
) -> Result<usize, DbErr> {
    let fanned = fan_out(state).await?;
    let claimed = claim(state, config).await?;
    let sent = claimed.len();
    let results: Vec<Result<(), DbErr>> = stream::iter(claimed)
        .map(|job| send(state, client, config, job))
        .buffer_unordered(PARALLEL_SENDS)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(fanned + sent)
}

fn lock_skip<Q: QuerySelect>(q: Q, backend: DbBackend) -> Q {
    if backend == DbBackend::Postgres {
        q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
    } else {
        q // SQLite: the IMMEDIATE write transaction already excludes other writers
    }
}

/// Creates the deliveries of events that active subscriptions have not seen yet.
async fn fan_out(state: &AppState) -> Result<usize, DbErr> {
    let last = super::outbox::last_seq(&state.db).await?;
    let behind: Vec<Uuid> = webhook_subscriptions::Entity::find()
        .select_only()
        .column(webhook_subscriptions::Column::Id)
        .filter(webhook_subscriptions::Column::Active.eq(true))
        .filter(webhook_subscriptions::Column::FannedOutSeq.lt(last))
        .into_tuple()
        .all(&state.db)
        .await?;
    let backend = state.db.get_database_backend();
    let mut created = 0;
    for id in behind {
        let txn = begin_write(&state.db).await?;
        let q = webhook_subscriptions::Entity::find_by_id(id);
        let Some(sub) = lock_skip(q, backend).one(&txn).await? else {
            continue; // another replica has it
        };
        if !sub.active {
            continue;
        }
        // channels that do not read back must not skip events: the
        // subscription stays where it is, and says so in the log
        let Ok(channels) = serde_json::from_str::<Vec<Channel>>(&sub.channels) else {
            tracing::error!(subscription = %sub.id, "stored channels do not parse; its events wait");
            continue;
        };
        let events = outbox_events::Entity::find()
            .filter(outbox_events::Column::Seq.gt(sub.fanned_out_seq))
            .order_by_asc(outbox_events::Column::Seq)
            .limit(FAN_OUT_BATCH)
            .all(&txn)
            .await?;
        // an event whose attributes do not read back holds the subscription
        // just before it (logged), rather than being skipped as unmatched
        let mut readable = Vec::with_capacity(events.len());
        for e in &events {
            match matches(&channels, e) {
                Ok(wanted) => readable.push((e, wanted)),
                Err(corrupt) => {
                    tracing::error!(subscription = %sub.id, event = e.seq, %corrupt, "an event does not read back; the subscription's events wait");
                    break;
                }
            }
        }
        let Some(upto) = readable.last().map(|(e, _)| e.seq) else {
            continue;
        };
        let now = state.clock.now();
        let rows: Vec<webhook_deliveries::ActiveModel> = readable
            .into_iter()
            .filter(|(_, wanted)| *wanted)
            .map(|(e, _)| webhook_deliveries::ActiveModel {
                id: Set(Uuid::now_v7()),
                subscription_id: Set(sub.id),
                event_seq: Set(e.seq),
                status: Set(PENDING.to_owned()),
                attempts: Set(0),
                next_attempt_at: Set(now),
                last_attempt_at: Set(None),
                last_status_code: Set(None),
                last_error: Set(None),
                delivered_at: Set(None),
                created_at: Set(now),
            })
            .collect();
        created += rows.len();
        if !rows.is_empty() {
            webhook_deliveries::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        webhook_subscriptions::Entity::update_many()
            .col_expr(
                webhook_subscriptions::Column::FannedOutSeq,
                Expr::value(upto),
            )
            .filter(webhook_subscriptions::Column::Id.eq(sub.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
    }
    Ok(created)
}

struct Job {
    delivery: webhook_deliveries::Model,
    callback_url: String,
    secret: zeroize::Zeroizing<Vec<u8>>,
    /// The body, content type and headers of the subscription's shape.
    shaped: super::shapes::Rendered,
    /// The receiver's own `Authorization` value, when it gave one.
    authorization: Option<zeroize::Zeroizing<Vec<u8>>>,
    event_id: Uuid,
}

/// Claims due deliveries of active subscriptions and leases them past the
/// timeout, so that no other replica sends them meanwhile.
async fn claim(state: &AppState, config: &Webhooks) -> Result<Vec<Job>, DbErr> {
    let now = state.clock.now();
    let backend = state.db.get_database_backend();
    let txn = begin_write(&state.db).await?;
    let active = Query::select()
        .column(webhook_subscriptions::Column::Id)
        .from(webhook_subscriptions::Entity)
        .and_where(webhook_subscriptions::Column::Active.eq(true))
        .to_owned();
    let q = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::Status.eq(PENDING))
        .filter(webhook_deliveries::Column::NextAttemptAt.lte(now))
        .filter(webhook_deliveries::Column::SubscriptionId.in_subquery(active))
        .order_by_asc(webhook_deliveries::Column::NextAttemptAt)
        .limit(CLAIM_BATCH);
    let due = lock_skip(q, backend).all(&txn).await?;
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let lease = TimeDelta::from_std(config.timeout).unwrap_or(TimeDelta::seconds(60))
        + TimeDelta::seconds(30);
    let ids: Vec<Uuid> = due.iter().map(|d| d.id).collect();
    webhook_deliveries::Entity::update_many()
        .col_expr(
            webhook_deliveries::Column::NextAttemptAt,
            Expr::value(now + lease),
        )
        .filter(webhook_deliveries::Column::Id.is_in(ids))
        .exec(&txn)
        .await?;
    let seqs: Vec<i64> = due.iter().map(|d| d.event_seq).collect();
    let events = outbox_events::Entity::find()
        .filter(outbox_events::Column::Seq.is_in(seqs))
        .all(&txn)
        .await?;
    let sub_ids: Vec<Uuid> = due.iter().map(|d| d.subscription_id).collect();
    let subs = webhook_subscriptions::Entity::find()
        .filter(webhook_subscriptions::Column::Id.is_in(sub_ids))
        .all(&txn)
        .await?;
    txn.commit().await?;
    let mut jobs = Vec::with_capacity(due.len());
    for delivery in due {
        let (Some(event), Some(sub)) = (
            events.iter().find(|e| e.seq == delivery.event_seq),
            subs.iter().find(|s| s.id == delivery.subscription_id),
        ) else {
            continue;
        };
        let Some(body) = EventBody::from_row(event, &state.config.public_url) else {
            continue;
        };
        let Ok(secret) = state
            .keys
            .master
            .decrypt(&sub.secret_enc, &webhook_secret_aad(sub.id))
        else {
            tracing::error!(subscription = %sub.id, "webhook secret does not decrypt; delivery skipped");
            continue;
        };
        let Some(format) = NotificationFormat::parse(&sub.format) else {
            tracing::error!(subscription = %sub.id, "unknown delivery format; delivery skipped");
            continue;
        };
        let authorization = match &sub.authorization_enc {
            Some(sealed) => match state
                .keys
                .master
                .decrypt(sealed, &webhook_authorization_aad(sub.id))
            {
                Ok(value) => Some(value),
                Err(_) => {
                    tracing::error!(subscription = %sub.id, "webhook Authorization does not decrypt; delivery skipped");
                    continue;
                }
            },
            None => None,
        };
        let source = crate::http::resource_url(&state.config.public_url, "");
        jobs.push(Job {
            event_id: event.id,
            shaped: super::shapes::render(format, &body, &source),
            authorization,
            callback_url: sub.callback_url.clone(),
            secret,
            delivery,
        });
    }
    Ok(jobs)
}

/// The headers a receiver checks.
pub const SIGNATURE_HEADER: &str = "Casedesk-Signature";
pub const EVENT_ID_HEADER: &str = "Casedesk-Event-Id";
pub const DELIVERY_ID_HEADER: &str = "Casedesk-Delivery-Id";
/// Which attempt of the delivery this is: 1, 2, ...
pub const ATTEMPT_HEADER: &str = "Casedesk-Delivery-Attempt";

async fn send(
    state: &AppState,
    client: &reqwest::Client,
    config: &Webhooks,
    job: Job,
) -> Result<(), DbErr> {
    let timestamp = state.clock.now().timestamp();
    let signature =
        crate::crypto::webhook_signature(&job.secret, timestamp, job.shaped.body.as_bytes());
    let attempt = job.delivery.attempts + 1;
    // an address written into the URL is checked here too: the allowed
    // networks may have changed since the subscription was made
    let literal_refused = url::Url::parse(&job.callback_url)
        .ok()
        .and_then(|u| match u.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        })
        .is_some_and(|ip| !super::destination::allowed(ip, &config.private_networks));
    if literal_refused {
        return record_outcome(
            &state.db,
            state.clock.now(),
            config,
            &job.delivery,
            None,
            Some(NOT_ALLOWED.to_owned()),
        )
        .await;
    }
    let mut request = client
        .post(&job.callback_url)
        .header("content-type", job.shaped.content_type)
        .header(SIGNATURE_HEADER, format!("t={timestamp},v1={signature}"))
        .header(EVENT_ID_HEADER, job.event_id.to_string())
        .header(DELIVERY_ID_HEADER, job.delivery.id.to_string())
        .header(ATTEMPT_HEADER, attempt.to_string());
    for (name, value) in &job.shaped.headers {
        request = request.header(*name, value);
    }
    if let Some(value) = &job.authorization {
        match reqwest::header::HeaderValue::from_bytes(value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                request = request.header(reqwest::header::AUTHORIZATION, v);
            }
            Err(_) => tracing::error!("a webhook Authorization value is not a header value"),
        }
    }
    let outcome = request.body(job.shaped.body).send().await;
    let (status_code, error) = match outcome {
        Ok(resp) if resp.status().is_success() => (Some(resp.status().as_u16()), None),
        Ok(resp) => (
            Some(resp.status().as_u16()),
            Some(format!("the receiver answered {}", resp.status().as_u16())),
        ),
        Err(e) if refused_destination(&e) => (None, Some(NOT_ALLOWED.to_owned())),
        Err(e) if e.is_timeout() => (None, Some("the receiver did not answer in time".to_owned())),
        Err(e) if e.is_connect() => (None, Some("could not connect to the receiver".to_owned())),
        Err(_) => (None, Some("the request to the receiver failed".to_owned())),
    };
    record_outcome(
        &state.db,
        state.clock.now(),
        config,
        &job.delivery,
        status_code,
        error,
    )
    .await
}

/// Why a delivery to an internal address was not sent.
const NOT_ALLOWED: &str =
    "the receiver's address is not public (see CASEDESK_WEBHOOK_PRIVATE_NETWORKS); nothing was sent";

/// Whether a request failed because the guarded resolver refused every address.
fn refused_destination(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<super::destination::NotAllowed>() {
            return true;
        }
        source = err.source();
    }
    false
}

async fn record_outcome(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    config: &Webhooks,
    d: &webhook_deliveries::Model,
    status_code: Option<u16>,
    error: Option<String>,
) -> Result<(), DbErr> {
    let attempts = d.attempts + 1;
    let mut update = webhook_deliveries::Entity::update_many()
        .col_expr(webhook_deliveries::Column::Attempts, Expr::value(attempts))
        .col_expr(
            webhook_deliveries::Column::LastAttemptAt,
            Expr::value(Some(now)),
        )
        .col_expr(
            webhook_deliveries::Column::LastStatusCode,
            Expr::value(status_code.map(i32::from)),
        )
        .col_expr(
            webhook_deliveries::Column::LastError,
            Expr::value(error.clone()),
        );
    update = match error {
        None => update
            .col_expr(webhook_deliveries::Column::Status, Expr::value(DELIVERED))
            .col_expr(
                webhook_deliveries::Column::DeliveredAt,
                Expr::value(Some(now)),
            ),
        Some(_) if attempts >= config.max_attempts as i32 => {
            tracing::warn!(delivery = %d.id, subscription = %d.subscription_id, attempts, "webhook delivery failed for good");
            update.col_expr(webhook_deliveries::Column::Status, Expr::value(FAILED))
        }
        Some(_) => update.col_expr(
            webhook_deliveries::Column::NextAttemptAt,
            Expr::value(now + backoff(config.retry_base, attempts as u32)),
        ),
    };
    // only if nobody changed it meanwhile (an administrator's retry, a deletion)
    update
        .filter(webhook_deliveries::Column::Id.eq(d.id))
        .filter(webhook_deliveries::Column::Status.eq(PENDING))
        .filter(webhook_deliveries::Column::Attempts.eq(d.attempts))
        .exec(db)
        .await?;
    Ok(())
}

/// Delivered rows are kept `CASEDESK_WEBHOOK_DELIVERED_KEEP_DAYS` for
/// inspection, then removed; outbox events older than the feed window
/// that no delivery needs any more go too (see [`super::store::prune_outbox`]).
pub async fn prune(
    db: &impl sea_orm::ConnectionTrait,
    now: DateTime<Utc>,
    config: &crate::config::Webhooks,
) -> Result<(u64, u64), DbErr> {
    let delivered = webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::Status.eq(DELIVERED))
        .filter(webhook_deliveries::Column::DeliveredAt.lt(now - config.delivered_keep))
        .exec(db)
        .await?
        .rows_affected;
    // failed deliveries stay for a retry for a while, then go
    let failed = webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::Status.eq(FAILED))
        .filter(webhook_deliveries::Column::LastAttemptAt.lt(now - config.failed_keep))
        .exec(db)
        .await?
        .rows_affected;
    // a deactivated subscription's deliveries are not attempted: once as old
    // as a failed one may get, they go too (and stop holding events back)
    let stale = webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::Status.eq(PENDING))
        .filter(webhook_deliveries::Column::CreatedAt.lt(now - config.failed_keep))
        .filter(
            webhook_deliveries::Column::SubscriptionId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(webhook_subscriptions::Column::Id)
                    .from(webhook_subscriptions::Entity)
                    .and_where(webhook_subscriptions::Column::Active.eq(false))
                    .to_owned(),
            ),
        )
        .exec(db)
        .await?
        .rows_affected;
    let events = super::store::prune_outbox(db, now - config.feed_window).await?;
    Ok((delivered + failed + stale, events))
}

/// Starts the worker when this process delivers (supervised: a panic
/// restarts it; an attempt cut short is leased and sent again).
pub fn spawn(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    state.config.webhooks.worker.then(|| {
        let state = state.clone();
        let (_, handle) = crate::supervise::supervise(
            "webhook delivery",
            std::time::Duration::from_secs(1),
            move || run(state.clone()),
        );
        handle
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_threefold_with_jitter_and_spans_about_a_day() {
        let base = TimeDelta::seconds(60);
        let mut total = TimeDelta::zero();
        for attempt in 1..8 {
            let wait = backoff(base, attempt);
            let nominal = 60_000.0 * 3_f64.powi(attempt as i32 - 1);
            let ms = wait.num_milliseconds() as f64;
            assert!(
                ms >= nominal * 0.8 - 1.0 && ms <= nominal * 1.2 + 1.0,
                "{attempt}: {ms}"
            );
            total += wait;
        }
        let hours = total.num_minutes() as f64 / 60.0;
        assert!((14.0..23.0).contains(&hours), "{hours} h");
    }
}
