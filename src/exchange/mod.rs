//! International exchange: institutions, agreements and quotas, participants,
//! placements and their lifecycle.

pub mod catalogue_api;
pub mod events;
pub mod grants;
pub mod grants_api;
pub mod model;
pub mod participants_api;
pub mod placements_api;
pub mod store;
pub mod views;
