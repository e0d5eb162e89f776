//! Shelter City: defenders, stays and what hangs off them.

pub mod check_ins;
pub mod defender_changes;
pub mod defender_intake;
pub mod defenders_api;
pub mod lifecycle;
pub mod model;
pub mod records_api;
pub mod retention;
pub mod sight;
pub mod stay_changes;
pub mod stay_intake;
pub mod stay_records;
pub mod stay_status;
pub mod stays_api;
pub mod store;
pub mod summaries_api;
pub mod vault;
pub mod views;

use defenders_api::DefendersApi;
use records_api::StayRecordsApi;
use stays_api::StaysApi;
use summaries_api::StaySummariesApi;

crate::http::area_apis!(DefendersApi, StaysApi, StaySummariesApi, StayRecordsApi);
