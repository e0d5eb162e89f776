//! `casedesk keys rotate --reencrypt` gives every defender a new data key and
//! re-encrypts its values. The old key is kept only for the audit reasons
//! sealed under it (the audit trail cannot be rewritten), and is destroyed
//! with the defender on erasure like the current one.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RetiredDataKeys {
    Table,
    DataKeyId,
    DefenderId,
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RetiredDataKeys::Table)
                    .col(
                        ColumnDef::new(RetiredDataKeys::DataKeyId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RetiredDataKeys::DefenderId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RetiredDataKeys::RetiredAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_retired_data_keys_defender")
                    .table(RetiredDataKeys::Table)
                    .col(RetiredDataKeys::DefenderId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RetiredDataKeys::Table).to_owned())
            .await
    }
}
