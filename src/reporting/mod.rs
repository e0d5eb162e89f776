//! The council's statistics over both programmes, with small-count suppression.

pub mod api;
pub mod hosted;
pub mod regions;
pub mod store;

use api::StatisticsApi;

crate::http::area_apis!(StatisticsApi);
