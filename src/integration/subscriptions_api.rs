//! Webhook subscriptions (admin only) and their failed deliveries.

use std::collections::BTreeMap;

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

use super::{
    delivery::{FAILED, PENDING},
    outbox::{last_seq, Actie, Kanaal},
    store,
    subscriptions::{parse_callback_url, parse_channels, Channel},
    views::{
        CreatedSubscription, FailedDelivery, FailedDeliveryList, NewSubscription, QueuedDelivery,
        Subscription, SubscriptionChannel, SubscriptionList, SubscriptionUpdate,
    },
};
use crate::{
    accounts::access::Caller,
    crypto,
    db::begin_write,
    entities::webhook_subscriptions,
    http::{
        body::JsonBody,
        etag, if_match_version,
        pagination::{paginate, PageRequest},
        problem::{ApiError, ApiResult, InvalidParam},
        Tag,
    },
    keyring::webhook_secret_aad,
    text::{stored_json, Corrupt},
    versioned::Changes,
    AppState,
};

#[derive(ApiResponse)]
pub enum SubscriptionResponse {
    /// The subscription.
    #[oai(status = 200)]
    Ok(Json<Subscription>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum SubscriptionCreated {
    /// The subscription and its signing secret, shown only here.
    #[oai(status = 201)]
    Created(
        Json<CreatedSubscription>,
        /// The subscription's address.
        #[oai(header = "Location")]
        String,
        /// The version, for `If-Match`.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum SubscriptionDeleted {
    /// Deleted, with its pending and failed deliveries.
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
pub enum DeliveryQueued {
    /// The delivery will be sent again shortly.
    #[oai(status = 202)]
    Accepted(Json<QueuedDelivery>),
}

/// The subscription as shown. Channels that do not read back are an
/// internal error (logged), not a subscription that seems to want nothing.
fn subscription_view(m: webhook_subscriptions::Model) -> Result<Subscription, ApiError> {
    let corrupt = Corrupt {
        column: "webhook_subscriptions.channels",
    };
    let stored: Vec<Channel> = stored_json(&m.channels, corrupt.column)?;
    let channels = stored
        .into_iter()
        .map(|c| {
            Ok(SubscriptionChannel {
                kanaal: Kanaal::parse(&c.kanaal).ok_or(corrupt)?,
                filters: c.filters,
            })
        })
        .collect::<Result<_, Corrupt>>()?;
    Ok(Subscription {
        id: m.id,
        callback_url: m.callback_url,
        channels,
        active: m.active,
        created_at: m.created_at.into(),
        updated_at: m.updated_at.into(),
        version: m.version,
    })
}

fn checked_channels(
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

fn checked_url(state: &AppState, text: &str, problems: &mut Vec<InvalidParam>) -> String {
    parse_callback_url(
        text,
        &state.config.webhooks.allowed_hosts,
        &state.config.webhooks.private_networks,
    )
    .map_err(|reason| problems.push(InvalidParam::new("callbackUrl", "invalid", reason)))
    .unwrap_or_default()
}

async fn find(
    db: &impl sea_orm::ConnectionTrait,
    id: Uuid,
) -> Result<webhook_subscriptions::Model, ApiError> {
    store::find_subscription(db, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

pub struct SubscriptionsApi;

#[OpenApi(tag = "Tag::Integration")]
impl SubscriptionsApi {
    /// List webhook subscriptions, newest first.
    #[oai(
        path = "/subscriptions",
        method = "get",
        operation_id = "listSubscriptions"
    )]
    async fn list_subscriptions(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<SubscriptionList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let rows = store::list_subscriptions(&state.db, page.after, page.fetch_limit()).await?;
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        Ok(SubscriptionList::page(
            rows.into_iter()
                .map(subscription_view)
                .collect::<Result<_, _>>()?,
            next,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Subscribe a receiver to channels. It gets events committed from now
    /// on, each POSTed with a `Casedesk-Signature` made with the secret in
    /// the answer (shown only there).
    #[oai(
        path = "/subscriptions",
        method = "post",
        operation_id = "createSubscription"
    )]
    async fn create_subscription(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<NewSubscription>,
    ) -> ApiResult<SubscriptionCreated> {
        let state = *state;
        let mut problems = Vec::new();
        let url = checked_url(state, &body.callback_url, &mut problems);
        let channels = checked_channels(&body.channels, &mut problems)?;
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let now = state.clock.now();
        let id = Uuid::now_v7();
        let (secret, _) = crypto::new_token("whsec");
        let sealed = state
            .keys
            .master
            .encrypt(secret.as_bytes(), &webhook_secret_aad(id));
        let txn = begin_write(&state.db).await?;
        crate::keyring::fence(&txn, &state.keys).await?;
        let from = last_seq(&txn).await?;
        let row = webhook_subscriptions::ActiveModel {
            id: Set(id),
            callback_url: Set(url),
            channels: Set(channels),
            secret_enc: Set(sealed),
            active: Set(true),
            fanned_out_seq: Set(from),
            created_by: Set(caller.actor_id),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let m = store::insert_subscription(&txn, &caller.audit, now, row).await?;
        txn.commit().await?;
        let tag = etag(m.version);
        Ok(SubscriptionCreated::Created(
            Json(CreatedSubscription {
                subscription: subscription_view(m)?,
                secret: secret.to_string(),
            }),
            crate::http::resource_url(&state.config.public_url, &format!("/subscriptions/{id}")),
            tag,
        ))
    }

    /// Show a subscription (never its secret).
    #[oai(
        path = "/subscriptions/:id",
        method = "get",
        operation_id = "getSubscription"
    )]
    async fn get_subscription(
        &self,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<SubscriptionResponse> {
        let m = find(&state.db, id.0).await?;
        let tag = etag(m.version);
        Ok(SubscriptionResponse::Ok(Json(subscription_view(m)?), tag))
    }

    /// Change a subscription's URL or channels, or pause and resume it
    /// (needs `If-Match`). A resumed subscription starts from new events.
    #[oai(
        path = "/subscriptions/:id",
        method = "patch",
        operation_id = "updateSubscription"
    )]
    async fn update_subscription(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the version being changed.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<SubscriptionUpdate>,
    ) -> ApiResult<SubscriptionResponse> {
        let state = *state;
        let mut problems = Vec::new();
        let mut changes = Changes::<webhook_subscriptions::Entity>::new();
        if let Some(u) = &body.callback_url {
            let url = checked_url(state, u, &mut problems);
            changes.set(
                "callbackUrl",
                webhook_subscriptions::Column::CallbackUrl,
                url,
            );
        }
        if let Some(c) = &body.channels {
            let channels = checked_channels(c, &mut problems)?;
            changes.set(
                "channels",
                webhook_subscriptions::Column::Channels,
                channels,
            );
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let m = find(&txn, id.0).await?;
        let expected = if_match_version(if_match.0.as_deref(), m.version)?;
        if let Some(active) = body.active.filter(|a| *a != m.active) {
            changes.set("active", webhook_subscriptions::Column::Active, active);
            if active {
                // events from now on, not the backlog of the pause
                let from = last_seq(&txn).await?;
                changes.also(webhook_subscriptions::Column::FannedOutSeq, from);
            }
        }
        let m = store::update_subscription(&txn, &caller.audit, now, m.id, expected, changes)
            .await?
            .unwrap_or(m);
        txn.commit().await?;
        let tag = etag(m.version);
        Ok(SubscriptionResponse::Ok(Json(subscription_view(m)?), tag))
    }

    /// Delete a subscription and its queued and failed deliveries (needs `If-Match`).
    #[oai(
        path = "/subscriptions/:id",
        method = "delete",
        operation_id = "deleteSubscription"
    )]
    async fn delete_subscription(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the version being deleted.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<SubscriptionDeleted> {
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let m = find(&txn, id.0).await?;
        if_match_version(if_match.0.as_deref(), m.version)?;
        store::delete_subscription(&txn, &caller.audit, now, m.id).await?;
        txn.commit().await?;
        Ok(SubscriptionDeleted::Done)
    }

    /// Deliveries of this subscription that failed every attempt, newest first.
    #[oai(
        path = "/subscriptions/:id/failed-deliveries",
        method = "get",
        operation_id = "listFailedDeliveries"
    )]
    async fn list_failed_deliveries(
        &self,
        state: Data<&AppState>,
        req: &Request,
        id: Path<Uuid>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<FailedDeliveryList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        find(&state.db, id.0).await?;
        let (rows, events) =
            store::failed_deliveries(&state.db, id.0, page.after, page.fetch_limit()).await?;
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        let items = rows
            .into_iter()
            .filter_map(|d| {
                let e = events.iter().find(|e| e.seq == d.event_seq)?;
                Some(FailedDelivery {
                    id: d.id,
                    event_id: e.id,
                    kanaal: Kanaal::parse(&e.kanaal)?,
                    actie: Actie::parse(&e.actie)?,
                    attempts: d.attempts,
                    last_attempt_at: d.last_attempt_at.map(Into::into),
                    last_status_code: d.last_status_code,
                    last_error: d.last_error,
                    created_at: d.created_at.into(),
                })
            })
            .collect();
        Ok(FailedDeliveryList::page(
            items,
            next,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Send a failed delivery again, with a fresh set of attempts.
    #[oai(
        path = "/subscriptions/:id/failed-deliveries/:deliveryId/retries",
        method = "post",
        operation_id = "retryFailedDelivery"
    )]
    async fn retry_failed_delivery(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        #[oai(name = "deliveryId")] delivery_id: Path<Uuid>,
    ) -> ApiResult<DeliveryQueued> {
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let d = store::find_delivery(&txn, id.0, delivery_id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if d.status != FAILED {
            return Err(ApiError::conflict(
                "Only a failed delivery can be retried; this one is still queued or was delivered.",
            ));
        }
        let event_id = store::retry_delivery(&txn, &caller.audit, now, &d).await?;
        txn.commit().await?;
        super::delivery::wake();
        Ok(DeliveryQueued::Accepted(Json(QueuedDelivery {
            id: d.id,
            event_id,
            status: PENDING.to_owned(),
        })))
    }
}
