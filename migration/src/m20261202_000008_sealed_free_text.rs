//! Free text written about a defender is protected like the identity:
//! sealed under the defender's data key, so that erasure shreds it. New
//! columns for the sealed form of a stay's referring organisation and local
//! partner, a status change's reason and an activity's title; the service
//! seals rows written before (and empties their plaintext) when it starts,
//! since only it holds the keys.
//!
//! On PostgreSQL the tables an erasure touches are vacuumed by autovacuum as
//! soon as they hold any dead row: the service's role, which does not own
//! them, cannot run the VACUUM that follows an erasure itself, and old row
//! versions must not keep a destroyed data key or ciphertext readable.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Stays {
    Table,
    ReferringOrganisationEnc,
    LocalPartnerEnc,
}

#[derive(DeriveIden)]
enum StayStatusChanges {
    Table,
    ReasonEnc,
}

#[derive(DeriveIden)]
enum Activities {
    Table,
    TitleEnc,
}

/// The tables an erasure changes.
const ERASED_TABLES: &[&str] = &[
    "defenders",
    "stays",
    "stay_notes",
    "risk_assessments",
    "check_ins",
    "consents",
    "data_keys",
    "stay_status_changes",
    "activities",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // one column per statement: SQLite adds one at a time
        for column in [Stays::ReferringOrganisationEnc, Stays::LocalPartnerEnc] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Stays::Table)
                        .add_column(ColumnDef::new(column).text().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(StayStatusChanges::Table)
                    .add_column(ColumnDef::new(StayStatusChanges::ReasonEnc).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Activities::Table)
                    .add_column(ColumnDef::new(Activities::TitleEnc).text().null())
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            for table in ERASED_TABLES {
                manager
                    .get_connection()
                    .execute_unprepared(&format!(
                        "ALTER TABLE {table} SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0)"
                    ))
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "sealed free text cannot be unsealed by a migration".to_owned(),
        ))
    }
}
