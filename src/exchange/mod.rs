//! International exchange: institutions, agreements and quotas, participants,
//! placements and their lifecycle.

pub mod care;
pub(crate) mod catalogue;
pub(crate) mod catalogue_api;
pub(crate) mod events;
pub(crate) mod grants;
pub(crate) mod grants_api;
pub(crate) mod model;
pub(crate) mod participant_changes;
pub(crate) mod participants_api;
pub(crate) mod placement_intake;
pub(crate) mod placement_rules;
pub(crate) mod placement_status;
pub(crate) mod placements_api;
pub(crate) mod retention;
pub(crate) mod store;
pub(crate) mod views;

use catalogue_api::CatalogueApi;
use grants_api::GrantRatesApi;
use participants_api::ParticipantsApi;
use placements_api::PlacementsApi;

crate::http::area_apis!(CatalogueApi, ParticipantsApi, PlacementsApi, GrantRatesApi);
