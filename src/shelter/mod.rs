//! Shelter City: defenders, stays and what hangs off them.

pub(crate) mod check_ins;
pub(crate) mod defender_changes;
pub(crate) mod defender_intake;
pub(crate) mod defenders_api;
pub(crate) mod lifecycle;
pub(crate) mod model;
pub(crate) mod records_api;
pub(crate) mod retention;
pub(crate) mod sight;
pub(crate) mod stay_changes;
pub(crate) mod stay_intake;
pub(crate) mod stay_records;
pub(crate) mod stay_status;
pub(crate) mod stays_api;
pub(crate) mod store;
pub(crate) mod summaries_api;
pub mod vault;
pub(crate) mod views;

use defenders_api::DefendersApi;
use records_api::StayRecordsApi;
use stays_api::StaysApi;
use summaries_api::StaySummariesApi;

crate::http::area_apis!(DefendersApi, StaysApi, StaySummariesApi, StayRecordsApi);
