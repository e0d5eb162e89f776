//! Integration with municipal systems, the Common Ground way: data stays
//! here, other systems are notified and fetch what their scopes allow.
//! API clients, the transactional outbox, webhook delivery and the event feed.

pub mod clients_api;
pub mod delivery;
pub mod destination;
pub mod feed;
pub mod feed_api;
pub mod outbox;
pub mod store;
pub mod subscription_admin;
pub mod subscriptions;
pub mod subscriptions_api;
pub mod views;

use clients_api::ApiClientsApi;
use feed_api::EventFeedApi;
use subscriptions_api::SubscriptionsApi;

crate::http::area_apis!(ApiClientsApi, SubscriptionsApi, EventFeedApi);
