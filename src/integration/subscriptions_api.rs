//! Webhook subscriptions and their failed deliveries: an administrator
//! manages every subscription, an API client with `webhooks.manage` its own
//! (another's answers 404).

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use uuid::Uuid;

use super::{
    delivery::{FAILED, PENDING},
    outbox::{Actie, Kanaal},
    shapes::NotificationFormat,
    store,
    subscription_admin::{self, client_of, find},
    subscriptions::Channel,
    views::{
        CreatedSubscription, FailedDelivery, FailedDeliveryList, NewSubscription,
        NewSubscriptionSecret, PingOutcome, QueuedDelivery, Subscription, SubscriptionChannel,
        SubscriptionList, SubscriptionUpdate,
    },
};
use crate::{
    accounts::access::Caller,
    db::begin_write,
    entities::webhook_subscriptions,
    http::{
        body::JsonBody,
        etag, if_match_version,
        pagination::{Page, PageRequest},
        problem::{ApiError, ApiResult},
        Tag,
    },
    text::{stored_json, Corrupt},
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
pub enum SecretRotated {
    /// The subscription and its new signing secret, shown only here.
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
pub enum Pinged {
    /// The test delivery was sent; what the receiver said.
    #[oai(status = 200)]
    Ok(Json<PingOutcome>),
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
fn subscription_view(
    m: webhook_subscriptions::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Subscription, ApiError> {
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
        format: NotificationFormat::stored(&m.format, "webhook_subscriptions.format")?,
        has_authorization: m.authorization_enc.is_some(),
        active: m.active,
        client_id: m.client_id,
        previous_secret_expires_at: m
            .previous_secret_expires_at
            .filter(|until| *until > now)
            .map(Into::into),
        created_at: m.created_at.into(),
        updated_at: m.updated_at.into(),
        version: m.version,
    })
}

/// A subscription with a secret shown this once, its address and its ETag:
/// the answer of a create and of a secret rotation.
fn with_secret(
    state: &AppState,
    m: webhook_subscriptions::Model,
    secret: String,
) -> Result<(Json<CreatedSubscription>, String, String), ApiError> {
    let location = crate::http::resource_url(
        &state.config.public_url,
        &format!("/subscriptions/{}", m.id),
    );
    let tag = etag(m.version);
    let subscription = subscription_view(m, state.clock.now())?;
    let created = CreatedSubscription {
        subscription,
        secret,
    };
    Ok((Json(created), location, tag))
}

pub struct SubscriptionsApi;

#[OpenApi(tag = "Tag::Integration")]
impl SubscriptionsApi {
    /// List webhook subscriptions, newest first: every one to an
    /// administrator, its own to an API client.
    #[oai(
        path = "/subscriptions",
        method = "get",
        operation_id = "listSubscriptions"
    )]
    async fn list_subscriptions(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<SubscriptionList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let rows = store::list_subscriptions(
            &state.db,
            client_of(&caller),
            page.after,
            page.fetch_limit(),
        )
        .await?;
        let rows = page.cut(rows, |r| r.id)?;
        let now = state.clock.now();
        Ok(SubscriptionList::page(
            rows.try_map(|m| subscription_view(m, now))?,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Subscribe a receiver to channels. It gets events committed from now
    /// on, each POSTed with a `Casedesk-Signature` made with the secret in
    /// the answer (shown only there). An API client subscribes only to
    /// channels its read scopes cover, and manages what it makes.
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
        let (m, secret) = subscription_admin::create(*state, &caller, &body).await?;
        let (created, location, tag) = with_secret(&state, m, secret)?;
        Ok(SubscriptionCreated::Created(created, location, tag))
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
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<SubscriptionResponse> {
        let m = find(&state.db, &caller, id.0).await?;
        let tag = etag(m.version);
        let view = subscription_view(m, state.clock.now())?;
        Ok(SubscriptionResponse::Ok(Json(view), tag))
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
        let m =
            subscription_admin::update(*state, &caller, id.0, if_match.0.as_deref(), &body).await?;
        let tag = etag(m.version);
        let view = subscription_view(m, state.clock.now())?;
        Ok(SubscriptionResponse::Ok(Json(view), tag))
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
        let m = find(&txn, &caller, id.0).await?;
        if_match_version(if_match.0.as_deref(), m.version)?;
        store::delete_subscription(&txn, &caller.audit, now, m.id).await?;
        txn.commit().await?;
        Ok(SubscriptionDeleted::Done)
    }

    /// Give the subscription a new signing secret (rotation). The current
    /// secret keeps signing beside the new one for `overlapHours` (default
    /// 24): during the overlap `Casedesk-Signature` carries a `v1=` for each,
    /// the new one first, so the receiver can switch secrets without
    /// missing a delivery. The new secret is shown only in this answer.
    #[oai(
        path = "/subscriptions/:id/secrets",
        method = "post",
        operation_id = "createSubscriptionSecret"
    )]
    async fn create_subscription_secret(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        body: JsonBody<NewSubscriptionSecret>,
    ) -> ApiResult<SecretRotated> {
        let (m, secret) =
            subscription_admin::rotate_secret(*state, &caller, id.0, body.overlap_hours).await?;
        let (created, location, tag) = with_secret(&state, m, secret)?;
        Ok(SecretRotated::Created(created, location, tag))
    }

    /// Send the receiver a test delivery (ping) now and answer what it
    /// said. The ping has the subscription's shape, signature and
    /// `Authorization` like every delivery, with `kanaal` and `actie` `ping`
    /// (CloudEvents `type` `nl.casedesk.subscription.ping`); it carries no
    /// event and no data, is not retried, and also reaches a paused
    /// subscription (to test before resuming).
    #[oai(
        path = "/subscriptions/:id/pings",
        method = "post",
        operation_id = "pingSubscription"
    )]
    async fn ping_subscription(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<Pinged> {
        let outcome = subscription_admin::ping(*state, &caller, id.0).await?;
        Ok(Pinged::Ok(Json(outcome)))
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
        caller: Data<&Caller>,
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
        find(&state.db, &caller, id.0).await?;
        // a client is shown only what it may still read
        let readable = client_of(&caller)
            .map(|_| super::subscriptions::streams_of(&caller.scopes))
            .unwrap_or_else(|| super::outbox::Stream::ALL.to_vec());
        let (rows, events) =
            store::failed_deliveries(&state.db, id.0, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        let shown = rows.rows.into_iter().filter_map(|d| {
            let e = events.iter().find(|e| e.seq == d.event_seq)?;
            if !super::subscriptions::in_streams(&readable, e) {
                return None;
            }
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
        });
        let items = Page {
            rows: shown.collect(),
            next: rows.next,
        };
        Ok(FailedDeliveryList::page(
            items,
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
        find(&txn, &caller, id.0).await?;
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
