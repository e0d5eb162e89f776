//! SeaORM entities, one file per table, and nothing else.

pub mod audit_events;
pub mod login_failures;
pub mod sessions;
pub mod staff;
pub mod staff_roles;
