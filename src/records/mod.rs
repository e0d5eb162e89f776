//! The records lifecycle: retention rules as data, the archiving values of
//! every closed record (Open Zaak's `archiefnominatie`, `archiefactiedatum`,
//! `archiefstatus`), legal holds, destruction lists reviewed and approved as
//! Open Archiefbeheer does, their execution in the background, and the
//! destruction reports kept for good. See `docs/retention.md`.

pub(crate) mod api;
pub(crate) mod defaults;
pub(crate) mod eligibility;
pub mod execution;
pub(crate) mod index_build;
pub(crate) mod list_rules;
pub(crate) mod model;
pub(crate) mod port;
pub(crate) mod proposals;
pub(crate) mod store;
pub(crate) mod views;

use api::{DestructionApi, RecordsApi};

crate::http::area_apis!(RecordsApi, DestructionApi);
