//! Integration with municipal systems, the Common Ground way: data stays
//! here, other systems are notified and fetch what their scopes allow.
//! API clients, the transactional outbox, webhook delivery and the event feed.

pub(crate) mod clients_api;
pub mod delivery;
pub(crate) mod destination;
pub(crate) mod feed;
pub(crate) mod feed_api;
pub mod outbox;
pub mod shapes;
pub(crate) mod store;
pub(crate) mod subscription_admin;
pub(crate) mod subscriptions;
pub(crate) mod subscriptions_api;
pub(crate) mod views;
pub(crate) mod webhooks_spec;

use clients_api::ApiClientsApi;
use feed_api::EventFeedApi;
use subscriptions_api::SubscriptionsApi;

crate::http::area_apis!(ApiClientsApi, SubscriptionsApi, EventFeedApi);
