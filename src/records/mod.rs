//! The records lifecycle: retention rules as data, the archiving values of
//! every closed record (Open Zaak's `archiefnominatie`, `archiefactiedatum`,
//! `archiefstatus`), legal holds, destruction lists reviewed and approved as
//! Open Archiefbeheer does, their execution in the background, and the
//! destruction reports kept for good. See `docs/retention.md`.

pub mod api;
pub mod defaults;
pub mod eligibility;
pub mod execution;
pub mod index_build;
pub mod list_rules;
pub mod model;
pub mod port;
pub mod proposals;
pub mod store;
pub mod views;

use api::{DestructionApi, RecordsApi};

crate::http::area_apis!(RecordsApi, DestructionApi);
