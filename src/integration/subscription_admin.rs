//! A webhook subscription made and changed as the handlers call it: the
//! callback URL and channels checked (every problem at once), the signing
//! secret made and sealed, and the row written with its audit event. A new
//! or reactivated subscription starts from the events of now, not from the
//! backlog.

use std::collections::BTreeMap;

use sea_orm::ActiveValue::Set;
use uuid::Uuid;

use super::{
    outbox::{last_seq, Kanaal},
    shapes::NotificationFormat,
    store,
    subscriptions::{parse_callback_url, parse_channels, streams_of},
    views::{NewSubscription, PingOutcome, SubscriptionChannel, SubscriptionUpdate},
};
use crate::{
    accounts::{access::Caller, model::ActorKind},
    audit::{self, Event},
    crypto,
    db::begin_write,
    entities::webhook_subscriptions,
    http::{
        if_match_version,
        problem::{ApiError, InvalidParam, ProblemType},
    },
    keyring::{webhook_authorization_aad, webhook_secret_aad},
    versioned::Changes,
    AppState,
};

/// The channels of a body as stored (JSON), every problem collected.
pub(crate) fn checked_channels(
    input: &[SubscriptionChannel],
    problems: &mut Vec<InvalidParam>,
) -> Result<String, ApiError> {
    let pairs: Vec<(Kanaal, BTreeMap<String, String>)> = input
        .iter()
        .map(|c| (c.kanaal, c.filters.clone()))
        .collect();
    let channels = parse_channels(&pairs, "channels", problems);
    // a list of plain strings always serialises; an error is still an error
    serde_json::to_string(&channels).map_err(|_| ApiError::internal())
}

/// A delivery's `Authorization` value, sealed under the master key.
fn seal_authorization(state: &AppState, id: Uuid, value: &str) -> String {
    state
        .keys
        .master
        .encrypt(value.as_bytes(), &webhook_authorization_aad(id))
}

/// A callback URL that passes the service's rules, every problem collected.
pub(crate) fn checked_url(
    state: &AppState,
    text: &str,
    problems: &mut Vec<InvalidParam>,
) -> String {
    parse_callback_url(
        text,
        &state.config.webhooks.allowed_hosts,
        &state.config.webhooks.private_networks,
    )
    .map_err(|reason| problems.push(InvalidParam::new("callbackUrl", "invalid", reason)))
    .unwrap_or_default()
}

/// The API client `caller` is, if it is one: the owner of what it makes
/// and the only subscriptions it sees.
pub(crate) fn client_of(caller: &Caller) -> Option<Uuid> {
    (caller.actor_kind() == ActorKind::Client).then_some(caller.actor_id)
}

/// Subscription `id` as `caller` may manage it: an administrator any, an
/// API client only its own; anything else answers 404, as if it did not
/// exist (a client learns nothing of another's subscriptions).
pub(crate) async fn find(
    db: &impl sea_orm::ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> Result<webhook_subscriptions::Model, ApiError> {
    let m = store::find_subscription(db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    match client_of(caller) {
        Some(client) if m.client_id != Some(client) => Err(ApiError::not_found()),
        _ => Ok(m),
    }
}

/// An API client subscribes only to channels its read scopes cover, as it
/// reads the feed; an administrator to any.
fn check_readable(caller: &Caller, channels: &[SubscriptionChannel]) -> Result<(), ApiError> {
    if client_of(caller).is_none() {
        return Ok(());
    }
    let streams = streams_of(&caller.scopes);
    match channels
        .iter()
        .find(|c| !streams.contains(&c.kanaal.stream()))
    {
        Some(c) => Err(ApiError::typed(
            ProblemType::InsufficientScope,
            format!(
                "The {} channel needs the {} scope.",
                c.kanaal.as_str(),
                c.kanaal.stream().read_scope().as_str()
            ),
        )),
        None => Ok(()),
    }
}

/// Makes a subscription as `caller`; answers it and its signing secret,
/// which is shown only this once.
pub(crate) async fn create(
    state: &AppState,
    caller: &Caller,
    body: &NewSubscription,
) -> Result<(webhook_subscriptions::Model, String), ApiError> {
    check_readable(caller, &body.channels)?;
    let mut problems = Vec::new();
    let url = checked_url(state, &body.callback_url, &mut problems);
    let channels = checked_channels(&body.channels, &mut problems)?;
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let (secret, _) = crypto::new_token("whsec");
    let aad = webhook_secret_aad(id);
    let sealed = state.keys.master.encrypt(secret.as_bytes(), &aad);
    let authorization = body
        .authorization
        .as_deref()
        .map(|a| seal_authorization(state, id, a));
    let txn = begin_write(&state.db).await?;
    crate::keyring::fence(&txn, &state.keys).await?;
    let from = last_seq(&txn).await?;
    let row = webhook_subscriptions::ActiveModel {
        id: Set(id),
        callback_url: Set(url),
        channels: Set(channels),
        secret_enc: Set(sealed),
        format: Set(body
            .format
            .unwrap_or(NotificationFormat::Casedesk)
            .as_str()
            .to_owned()),
        authorization_enc: Set(authorization),
        active: Set(true),
        fanned_out_seq: Set(from),
        created_by: Set(caller.actor_id),
        client_id: Set(client_of(caller)),
        previous_secret_enc: Set(None),
        previous_secret_expires_at: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let m = store::insert_subscription(&txn, &caller.audit, now, row).await?;
    txn.commit().await?;
    Ok((m, secret.to_string()))
}

/// Changes subscription `id` at the version `if_match` names, as `caller`.
pub(crate) async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    if_match: Option<&str>,
    body: &SubscriptionUpdate,
) -> Result<webhook_subscriptions::Model, ApiError> {
    use webhook_subscriptions::Column as C;
    if let Some(c) = &body.channels {
        check_readable(caller, c)?;
    }
    let mut problems = Vec::new();
    let mut changes = Changes::<webhook_subscriptions::Entity>::new();
    if let Some(u) = &body.callback_url {
        changes.set(
            "callbackUrl",
            C::CallbackUrl,
            checked_url(state, u, &mut problems),
        );
    }
    if let Some(c) = &body.channels {
        changes.set("channels", C::Channels, checked_channels(c, &mut problems)?);
    }
    if let Some(f) = body.format {
        changes.set("format", C::Format, f.as_str());
    }
    if let Some(a) = body.authorization.as_opt_deref() {
        let sealed = a.map(|a| seal_authorization(state, id, a));
        changes.set("authorization", C::AuthorizationEnc, sealed);
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let m = find(&txn, caller, id).await?;
    let expected = if_match_version(if_match, m.version)?;
    if let Some(active) = body.active.filter(|a| *a != m.active) {
        changes.set("active", C::Active, active);
        if active {
            // events from now on, not the backlog of the pause
            changes.also(C::FannedOutSeq, last_seq(&txn).await?);
        }
    }
    let m = store::update_subscription(&txn, &caller.audit, now, m.id, expected, changes)
        .await?
        .unwrap_or(m);
    txn.commit().await?;
    Ok(m)
}

/// The overlap of a secret rotation when the request names none.
const DEFAULT_OVERLAP_HOURS: u32 = 24;

/// Gives subscription `id` a new signing secret, as `caller`; the current
/// one keeps signing beside it for `overlap_hours` (default 24, at most
/// 720), and a secret an earlier rotation replaced stops at once. Answers
/// the subscription and the new secret, shown only this once.
pub(crate) async fn rotate_secret(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    overlap_hours: Option<u32>,
) -> Result<(webhook_subscriptions::Model, String), ApiError> {
    let overlap = chrono::TimeDelta::hours(i64::from(
        overlap_hours.unwrap_or(DEFAULT_OVERLAP_HOURS).min(720),
    ));
    let now = state.clock.now();
    let (secret, _) = crypto::new_token("whsec");
    let sealed = state
        .keys
        .master
        .encrypt(secret.as_bytes(), &webhook_secret_aad(id));
    let txn = begin_write(&state.db).await?;
    crate::keyring::fence(&txn, &state.keys).await?;
    let m = find(&txn, caller, id).await?;
    let m = store::rotate_subscription_secret(&txn, &caller.audit, now, &m, sealed, now + overlap)
        .await?
        .ok_or_else(|| ApiError::conflict("The subscription changed meanwhile; rotate again."))?;
    txn.commit().await?;
    Ok((m, secret.to_string()))
}

/// Test deliveries under way at once in this process, at most.
const PINGS_AT_ONCE: usize = 4;
static PINGS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PINGS_AT_ONCE);

/// Sends subscription `id` a test delivery (a ping) now, as `caller`, in
/// its shape, signed and with its `Authorization` as every delivery, and
/// answers what the receiver said. The ping carries no event and no data
/// and is audited; a paused subscription may be pinged (to test before
/// resuming).
pub(crate) async fn ping(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<PingOutcome, ApiError> {
    let Ok(_permit) = PINGS.try_acquire() else {
        return Err(ApiError::unavailable(
            "Other test deliveries are under way; try again in a few seconds.",
        )
        .with_retry_after(5));
    };
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let m = find(&txn, caller, id).await?;
    audit::record(
        &txn,
        now,
        &caller.audit,
        Event::new("subscription.pinged", 200).on("subscription", m.id),
    )
    .await?;
    txn.commit().await?;
    super::delivery::ping(state, &m)
        .await
        .ok_or_else(ApiError::internal)
}
