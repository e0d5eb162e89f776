//! A check-in carries a version like every record that is changed in place:
//! recording it again (done turned escalated, a note rewritten) needs the
//! version the caller saw, so two caseworkers cannot overwrite each other.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CheckIns {
    Table,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CheckIns::Table)
                    .add_column(
                        ColumnDef::new(CheckIns::Version)
                            .integer()
                            .not_null()
                            .default(1),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CheckIns::Table)
                    .drop_column(CheckIns::Version)
                    .to_owned(),
            )
            .await
    }
}
