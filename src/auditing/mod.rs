//! Auditing: the auditor reads and verifies the trail over HTTP. The trail
//! itself (appending, the chain, checkpoints, pruning) is `audit`, a shared
//! layer below the accounts it must not import; this area sits above them.

mod api;

pub(crate) use api::AuditApi;

crate::http::area_apis!(AuditApi);
