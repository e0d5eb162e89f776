//! The schema, as migrations applied in order on SQLite and PostgreSQL alike.
//! A migration is never edited once it has landed: add a new one.

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20261128_000001_accounts_and_audit;
mod m20261128_000002_shelter;
mod m20261128_000003_exchange;
mod m20261128_000004_integration;
mod m20261128_000005_erased_defenders_index;
mod m20261128_000006_placement_cohort_list_index;
mod m20261202_000007_audit_checkpoints;
mod m20261202_000008_sealed_free_text;
mod m20261202_000009_role_grants;
mod m20261202_000010_retired_data_keys;
mod m20261202_000011_check_in_versions;
mod m20261203_000012_records_lifecycle;
mod m20261203_000013_audit_prunes;
mod m20261204_000014_housekeeping_indexes;
mod m20261206_000015_records_ports;
mod m20261206_000016_feed_streams;
mod m20261206_000017_known_sign_in_addresses;
mod m20261206_000018_staff_invitations;
mod m20261206_000019_participant_care;
mod m20261207_000020_idempotency_keys;
mod m20261207_000021_subscription_formats;
mod m20261207_000022_client_subscriptions;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_accounts_and_audit::Migration),
            Box::new(m20261128_000002_shelter::Migration),
            Box::new(m20261128_000003_exchange::Migration),
            Box::new(m20261128_000004_integration::Migration),
            Box::new(m20261128_000005_erased_defenders_index::Migration),
            Box::new(m20261128_000006_placement_cohort_list_index::Migration),
            Box::new(m20261202_000007_audit_checkpoints::Migration),
            Box::new(m20261202_000008_sealed_free_text::Migration),
            Box::new(m20261202_000009_role_grants::Migration),
            Box::new(m20261202_000010_retired_data_keys::Migration),
            Box::new(m20261202_000011_check_in_versions::Migration),
            Box::new(m20261203_000012_records_lifecycle::Migration),
            Box::new(m20261203_000013_audit_prunes::Migration),
            Box::new(m20261204_000014_housekeeping_indexes::Migration),
            Box::new(m20261206_000015_records_ports::Migration),
            Box::new(m20261206_000016_feed_streams::Migration),
            Box::new(m20261206_000017_known_sign_in_addresses::Migration),
            Box::new(m20261206_000018_staff_invitations::Migration),
            Box::new(m20261206_000019_participant_care::Migration),
            Box::new(m20261207_000020_idempotency_keys::Migration),
            Box::new(m20261207_000021_subscription_formats::Migration),
            Box::new(m20261207_000022_client_subscriptions::Migration),
        ]
    }
}
