//! SeaORM entities, one file per table, and nothing else.

pub mod activities;
pub mod agreement_quotas;
pub mod agreements;
pub mod audit_events;
pub mod check_ins;
pub mod consents;
pub mod data_keys;
pub mod defenders;
pub mod grant_rate_tables;
pub mod institutions;
pub mod keyring;
pub mod login_failures;
pub mod participants;
pub mod placement_status_changes;
pub mod placements;
pub mod reference_counters;
pub mod risk_assessments;
pub mod sessions;
pub mod staff;
pub mod staff_roles;
pub mod stay_assignments;
pub mod stay_notes;
pub mod stay_status_changes;
pub mod stays;
