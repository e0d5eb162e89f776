//! Shelter City: defenders, stays and what hangs off them.

pub mod defenders_api;
pub mod lifecycle;
pub mod model;
pub mod records_api;
pub mod sight;
pub mod stays_api;
pub mod store;
pub mod summaries_api;
pub mod vault;
pub mod views;
