//! International exchange: institutions, agreements and quotas, participants,
//! placements and their lifecycle.

pub mod catalogue;
pub mod catalogue_api;
pub mod events;
pub mod grants;
pub mod grants_api;
pub mod model;
pub mod participant_changes;
pub mod participants_api;
pub mod placement_intake;
pub mod placement_rules;
pub mod placement_status;
pub mod placements_api;
pub mod retention;
pub mod store;
pub mod views;

use catalogue_api::CatalogueApi;
use grants_api::GrantRatesApi;
use participants_api::ParticipantsApi;
use placements_api::PlacementsApi;

crate::http::area_apis!(CatalogueApi, ParticipantsApi, PlacementsApi, GrantRatesApi);
