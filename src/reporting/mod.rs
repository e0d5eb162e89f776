//! The council's statistics over both programmes, with small-count suppression.

pub(crate) mod api;
pub(crate) mod hosted;
pub(crate) mod regions;
pub(crate) mod store;

use api::StatisticsApi;

crate::http::area_apis!(StatisticsApi);
