//! What the integration API sends and receives (DTOs, never entities).

use std::collections::BTreeMap;

use poem_openapi::{types::MaybeUndefined, Object};
use uuid::Uuid;

use super::{
    outbox::{Actie, EventBody, Kanaal},
    shapes::NotificationFormat,
};
use crate::{accounts::model::Scope, http::types::Timestamp};

/// A system that calls the API with a key of its own.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ApiClientAccount {
    pub id: Uuid,
    #[oai(validator(max_length = 100))]
    pub name: String,
    pub scopes: Vec<Scope>,
    /// After this moment none of its keys work.
    pub expires_at: Timestamp,
    /// Set once revoked; a revoked client's keys no longer work.
    pub revoked_at: Option<Timestamp>,
    /// Its keys that still work (a replaced key works until its overlap ends).
    pub keys: Vec<ApiClientKey>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Changes with every update; send it back in `If-Match`.
    pub version: i32,
}

/// One key of a client (never the key itself).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ApiClientKey {
    pub id: Uuid,
    /// The key's first characters, to tell keys apart.
    #[oai(validator(max_length = 16))]
    pub prefix: String,
    pub created_at: Timestamp,
    /// When a newer key replaced this one: the end of the overlap.
    pub expires_at: Option<Timestamp>,
}

/// A new API client.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewApiClientAccount {
    /// What the client is, for people (1 to 100 characters).
    #[oai(validator(max_length = 100))]
    pub name: String,
    /// At least one scope.
    #[oai(validator(min_items = 1, max_items = 6))]
    pub scopes: Vec<Scope>,
    /// When its keys stop working: in the future, at most two years ahead.
    pub expires_at: Timestamp,
}

/// Changes to an API client; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ApiClientAccountUpdate {
    #[oai(validator(max_length = 100))]
    pub name: Option<String>,
    #[oai(validator(min_items = 1, max_items = 6))]
    pub scopes: Option<Vec<Scope>>,
    pub expires_at: Option<Timestamp>,
}

/// A request for a new key.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewApiClientKey {
    /// How long the client's older keys keep working, in hours (0 to 720,
    /// default 24): time to deploy the new key.
    #[oai(validator(minimum(value = "0"), maximum(value = "720")))]
    pub overlap_hours: Option<u32>,
}

/// A key, shown this once: store it in the client's secret store.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct IssuedApiKey {
    pub client: ApiClientAccount,
    /// Send it as `Authorization: Bearer <key>`. It is not stored and cannot be shown again.
    #[oai(validator(max_length = 100))]
    pub key: String,
    pub key_id: Uuid,
}

/// A channel of a subscription: a kanaal, and the `kenmerken` values an
/// event must have (all of them) to be sent.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionChannel {
    pub kanaal: Kanaal,
    /// For example `{"status": "accepted"}`; empty or absent: every event of the kanaal.
    #[oai(default)]
    pub filters: BTreeMap<String, String>,
}

/// A webhook subscription.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Subscription {
    pub id: Uuid,
    /// Where events are POSTed.
    #[oai(validator(max_length = 2000))]
    pub callback_url: String,
    pub channels: Vec<SubscriptionChannel>,
    /// The shape of its deliveries.
    pub format: NotificationFormat,
    /// Whether deliveries carry the `Authorization` value given for them
    /// (the value itself is never shown).
    pub has_authorization: bool,
    /// Paused subscriptions get no deliveries; on resuming they start from new events.
    pub active: bool,
    /// The API client that manages it (`webhooks.manage`); `null`: made by
    /// an administrator. A client's subscription is sent only the events of
    /// channels its read scopes cover, and nothing while the client is
    /// revoked, expired or without `webhooks.manage`.
    pub client_id: Option<Uuid>,
    /// Until when the secret replaced by the last rotation still signs
    /// deliveries beside the new one (a second `v1=` in
    /// `Casedesk-Signature`); `null`: one secret signs.
    pub previous_secret_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Changes with every update; send it back in `If-Match`.
    pub version: i32,
}

/// A new webhook subscription.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewSubscription {
    /// https, or plain http for hosts in `CASEDESK_WEBHOOK_ALLOWED_HOSTS`.
    #[oai(validator(max_length = 2000))]
    pub callback_url: String,
    #[oai(validator(min_items = 1, max_items = 5))]
    pub channels: Vec<SubscriptionChannel>,
    /// The shape of its deliveries; `casedesk` when left out.
    pub format: Option<NotificationFormat>,
    /// Sent as the `Authorization` header of every delivery (as Open
    /// Notificaties sends an abonnement's `auth`), such as `Bearer <token>`
    /// or `Token <token>`: visible ASCII, at most 2,000 characters. Stored
    /// sealed and never shown again.
    #[oai(
        write_only,
        validator(min_length = 1, max_length = 2000, pattern = r"^[\x20-\x7E]+$")
    )]
    pub authorization: Option<String>,
}

/// Changes to a subscription; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SubscriptionUpdate {
    #[oai(validator(max_length = 2000))]
    pub callback_url: Option<String>,
    #[oai(validator(min_items = 1, max_items = 5))]
    pub channels: Option<Vec<SubscriptionChannel>>,
    pub format: Option<NotificationFormat>,
    /// A new `Authorization` value for deliveries; `null` sends none.
    #[oai(
        nullable,
        write_only,
        validator(min_length = 1, max_length = 2000, pattern = r"^[\x20-\x7E]+$")
    )]
    pub authorization: MaybeUndefined<String>,
    pub active: Option<bool>,
}

/// A new subscription and its signing secret, shown this once.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CreatedSubscription {
    pub subscription: Subscription,
    /// The HMAC-SHA256 key of `Casedesk-Signature` (`t=<unix time>,v1=<hex of
    /// HMAC(secret, "<t>.<raw body>")>`). It cannot be shown again.
    #[oai(validator(max_length = 100))]
    pub secret: String,
}

/// A new signing secret for a subscription (rotation).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewSubscriptionSecret {
    /// How long the current secret keeps signing beside the new one, in
    /// hours (0 to 720, default 24): time to deploy the new secret to the
    /// receiver. A secret an earlier rotation replaced stops at once.
    #[oai(validator(minimum(value = "0"), maximum(value = "720")))]
    pub overlap_hours: Option<u32>,
}

/// What a test delivery (ping) met at the receiver.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PingOutcome {
    /// The ping's own id (its `Casedesk-Event-Id`); it is no event of the feed.
    pub event_id: Uuid,
    /// Whether the receiver answered 2xx.
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered at all.
    pub status_code: Option<i32>,
    /// Why it did not count as delivered.
    #[oai(validator(max_length = 200))]
    pub error: Option<String>,
    /// How long the receiver took, in milliseconds.
    pub duration_ms: i64,
}

/// A delivery that failed its last attempt.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct FailedDelivery {
    pub id: Uuid,
    pub event_id: Uuid,
    pub kanaal: Kanaal,
    pub actie: Actie,
    pub attempts: i32,
    pub last_attempt_at: Option<Timestamp>,
    /// The receiver's last HTTP status, when it answered at all.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    #[oai(validator(max_length = 200))]
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

/// A delivery put back in the queue.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct QueuedDelivery {
    pub id: Uuid,
    pub event_id: Uuid,
    /// `pending`: it will be sent again shortly, with a fresh set of attempts.
    #[oai(validator(max_length = 12))]
    pub status: String,
}

/// An event in the feed, with the cursor that resumes after it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct FeedEvent {
    /// Pass as `after` to continue after this event.
    #[oai(validator(max_length = 512))]
    pub cursor: String,
    pub event: EventBody,
}

/// A page of the event feed, oldest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct EventFeedPage {
    pub items: Vec<FeedEvent>,
    /// Where to resume: after the last event on this page, or where the
    /// caller was when there was nothing new. Always present.
    #[oai(validator(max_length = 512))]
    pub next: String,
    /// More events are waiting: fetch again at once.
    pub more: bool,
}

crate::list_types!(
    ApiClientAccountPage,
    ApiClientList,
    ApiClientAccount,
    "API clients"
);
crate::list_types!(
    SubscriptionPage,
    SubscriptionList,
    Subscription,
    "webhook subscriptions"
);
crate::list_types!(
    FailedDeliveryPage,
    FailedDeliveryList,
    FailedDelivery,
    "failed deliveries"
);
