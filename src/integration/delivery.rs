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
    outbox::{EventBody, Stream},
    shapes::NotificationFormat,
    subscriptions::{entitled_streams, in_streams, matches, Channel, Owner},
    views::PingOutcome,
};
use crate::{
    config::Webhooks,
    db::begin_write,
    entities::{api_clients, outbox_events, webhook_deliveries, webhook_subscriptions},
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
    let client = match http_client(&config) {
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

/// The HTTP client deliveries are sent with: the configured timeout, no
/// redirects, no proxy, and every name checked on the addresses it resolves
/// to at the moment of sending.
fn http_client(config: &Webhooks) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
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
}

/// The owner rows of the client-managed subscriptions among `subs`.
async fn owners(
    db: &impl sea_orm::ConnectionTrait,
    subs: &[&webhook_subscriptions::Model],
) -> Result<Vec<api_clients::Model>, DbErr> {
    let ids: Vec<Uuid> = subs.iter().filter_map(|s| s.client_id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    api_clients::Entity::find()
        .filter(api_clients::Column::Id.is_in(ids))
        .all(db)
        .await
}

/// What `sub` may be sent now (see [`entitled_streams`]).
fn entitled(
    sub: &webhook_subscriptions::Model,
    owners: &[api_clients::Model],
    now: DateTime<Utc>,
) -> Vec<Stream> {
    let owner = match sub.client_id {
        None => Owner::Staff,
        Some(id) => Owner::Client(owners.iter().find(|c| c.id == id)),
    };
    entitled_streams(owner, now)
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
        // a client's subscription gets only what the client may read now:
        // events of a time it could not are passed over, never held back
        let streams = entitled(&sub, &owners(&txn, &[&sub]).await?, state.clock.now());
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
            .filter(|(e, wanted)| *wanted && in_streams(&streams, e))
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
    /// The current secret, and the one it replaced while that still signs.
    secrets: Vec<zeroize::Zeroizing<Vec<u8>>>,
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
    // a delivery made while its client could read the event, and due when
    // it no longer may (revoked, expired, a scope taken away), is not sent:
    // it is removed, and so is not listed among failed deliveries either
    let owners = owners(&txn, &subs.iter().collect::<Vec<_>>()).await?;
    let (due, withheld): (Vec<_>, Vec<_>) = due.into_iter().partition(|d| {
        let sub = subs.iter().find(|s| s.id == d.subscription_id);
        let event = events.iter().find(|e| e.seq == d.event_seq);
        match (sub, event) {
            (Some(sub), Some(event)) => in_streams(&entitled(sub, &owners, now), event),
            _ => true, // skipped below, as before
        }
    });
    if !withheld.is_empty() {
        tracing::info!(
            deliveries = withheld.len(),
            "deliveries withheld: their subscriptions' clients may no longer read the events"
        );
        webhook_deliveries::Entity::delete_many()
            .filter(webhook_deliveries::Column::Id.is_in(withheld.iter().map(|d| d.id)))
            .exec(&txn)
            .await?;
    }
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
        let Some(target) = Target::of(state, sub, now) else {
            continue;
        };
        let source = crate::http::resource_url(&state.config.public_url, "");
        jobs.push(Job {
            event_id: event.id,
            shaped: super::shapes::render(target.format, &body, &source),
            authorization: target.authorization,
            callback_url: sub.callback_url.clone(),
            secrets: target.secrets,
            delivery,
        });
    }
    Ok(jobs)
}

/// What a subscription's deliveries are sent with, opened.
struct Target {
    format: NotificationFormat,
    secrets: Vec<zeroize::Zeroizing<Vec<u8>>>,
    authorization: Option<zeroize::Zeroizing<Vec<u8>>>,
}

impl Target {
    /// `sub`'s shape, secrets (the current one, and the one it replaced
    /// while that still signs) and `Authorization` value; `None` (logged)
    /// when a sealed value does not open or the shape is unknown, so that
    /// nothing is sent unsigned or in a wrong shape.
    fn of(
        state: &AppState,
        sub: &webhook_subscriptions::Model,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let open = |sealed: &str, aad: &str, what: &str| {
            let opened = state.keys.master.decrypt(sealed, aad);
            if opened.is_err() {
                tracing::error!(subscription = %sub.id, "webhook {what} does not decrypt; delivery skipped");
            }
            opened.ok()
        };
        let aad = webhook_secret_aad(sub.id);
        let mut secrets = vec![open(&sub.secret_enc, &aad, "secret")?];
        if let (Some(previous), Some(until)) =
            (&sub.previous_secret_enc, sub.previous_secret_expires_at)
        {
            if until > now {
                secrets.push(open(previous, &aad, "previous secret")?);
            }
        }
        let Some(format) = NotificationFormat::parse(&sub.format) else {
            tracing::error!(subscription = %sub.id, "unknown delivery format; delivery skipped");
            return None;
        };
        let authorization = match &sub.authorization_enc {
            Some(sealed) => Some(open(
                sealed,
                &webhook_authorization_aad(sub.id),
                "Authorization",
            )?),
            None => None,
        };
        Some(Target {
            format,
            secrets,
            authorization,
        })
    }
}

/// The `Casedesk-Signature` value of `body` at `timestamp`: one `v1=` per
/// secret, the current one first.
fn signature_header(
    secrets: &[zeroize::Zeroizing<Vec<u8>>],
    timestamp: i64,
    body: &[u8],
) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&crate::crypto::webhook_signature(secret, timestamp, body));
    }
    header
}

/// Sends `sub` a test delivery now and answers what the receiver said;
/// `None` when the subscription's sealed values do not open (logged).
pub(crate) async fn ping(
    state: &AppState,
    sub: &webhook_subscriptions::Model,
) -> Option<PingOutcome> {
    let config = &state.config.webhooks;
    let now = state.clock.now();
    let target = Target::of(state, sub, now)?;
    let client = match http_client(config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the webhook client cannot be built");
            return None;
        }
    };
    let id = Uuid::now_v7();
    let url = crate::http::resource_url(
        &state.config.public_url,
        &format!("/subscriptions/{}", sub.id),
    );
    let source = crate::http::resource_url(&state.config.public_url, "");
    let shaped = super::shapes::render_ping(target.format, id, &url, &source, &now.into());
    let started = std::time::Instant::now();
    let (status_code, error) = post(
        &client,
        config,
        Outgoing {
            callback_url: &sub.callback_url,
            secrets: &target.secrets,
            authorization: target.authorization.as_deref().map(Vec::as_slice),
            shaped,
            event_id: id,
            delivery_id: id,
            attempt: 1,
            timestamp: now.timestamp(),
        },
    )
    .await;
    Some(PingOutcome {
        event_id: id,
        delivered: error.is_none(),
        status_code: status_code.map(i32::from),
        error,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    })
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
    let (status_code, error) = post(
        client,
        config,
        Outgoing {
            callback_url: &job.callback_url,
            secrets: &job.secrets,
            authorization: job.authorization.as_deref().map(Vec::as_slice),
            shaped: job.shaped,
            event_id: job.event_id,
            delivery_id: job.delivery.id,
            attempt: job.delivery.attempts + 1,
            timestamp: state.clock.now().timestamp(),
        },
    )
    .await;
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

/// One request to a receiver, as every delivery and ping is sent.
struct Outgoing<'a> {
    callback_url: &'a str,
    secrets: &'a [zeroize::Zeroizing<Vec<u8>>],
    authorization: Option<&'a [u8]>,
    shaped: super::shapes::Rendered,
    event_id: Uuid,
    delivery_id: Uuid,
    attempt: i32,
    timestamp: i64,
}

/// Sends `out`; answers the receiver's status, if it answered, and why it
/// does not count as delivered (`None`: delivered).
async fn post(
    client: &reqwest::Client,
    config: &Webhooks,
    out: Outgoing<'_>,
) -> (Option<u16>, Option<String>) {
    let signature = signature_header(out.secrets, out.timestamp, out.shaped.body.as_bytes());
    // an address written into the URL is checked here too: the allowed
    // networks may have changed since the subscription was made
    let literal_refused = url::Url::parse(out.callback_url)
        .ok()
        .and_then(|u| match u.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        })
        .is_some_and(|ip| !super::destination::allowed(ip, &config.private_networks));
    if literal_refused {
        return (None, Some(NOT_ALLOWED.to_owned()));
    }
    let mut request = client
        .post(out.callback_url)
        .header("content-type", out.shaped.content_type)
        .header(SIGNATURE_HEADER, signature)
        .header(EVENT_ID_HEADER, out.event_id.to_string())
        .header(DELIVERY_ID_HEADER, out.delivery_id.to_string())
        .header(ATTEMPT_HEADER, out.attempt.to_string());
    for (name, value) in &out.shaped.headers {
        request = request.header(*name, value);
    }
    if let Some(value) = out.authorization {
        match reqwest::header::HeaderValue::from_bytes(value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                request = request.header(reqwest::header::AUTHORIZATION, v);
            }
            Err(_) => tracing::error!("a webhook Authorization value is not a header value"),
        }
    }
    match request.body(out.shaped.body).send().await {
        Ok(resp) if resp.status().is_success() => (Some(resp.status().as_u16()), None),
        Ok(resp) => (
            Some(resp.status().as_u16()),
            Some(format!("the receiver answered {}", resp.status().as_u16())),
        ),
        Err(e) if refused_destination(&e) => (None, Some(NOT_ALLOWED.to_owned())),
        Err(e) if e.is_timeout() => (None, Some("the receiver did not answer in time".to_owned())),
        Err(e) if e.is_connect() => (None, Some("could not connect to the receiver".to_owned())),
        Err(_) => (None, Some("the request to the receiver failed".to_owned())),
    }
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
