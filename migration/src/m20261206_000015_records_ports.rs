//! The archive index kept through the owning areas' ports (issue 31):
//! - `retention_records.secret`: the record is (or holds) a secret stay, so
//!   only those who may see it learn that it exists;
//! - `retention_records.container_id`: the defender or participant a stay
//!   or placement belongs to (its entry is destroyed with theirs);
//! - `destruction_list_items.secret` and `.container_item_id`: the same on
//!   a list, and the parts destroyed with a container, as items of their own
//!   so the report accounts for them;
//! - `retention_index_builds`: which derivation of the index was last built
//!   in full (the service builds it once at start when this is behind);
//! - destruction reports are append-only, like the audit trail.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::columns::ts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RetentionRecords {
    Table,
    Secret,
    ContainerId,
}

#[derive(DeriveIden)]
enum DestructionListItems {
    Table,
    Secret,
    ContainerItemId,
}

#[derive(DeriveIden)]
enum RetentionIndexBuilds {
    Table,
    Version,
    BuiltAt,
}

fn secret() -> ColumnDef {
    ColumnDef::new(RetentionRecords::Secret)
        .boolean()
        .not_null()
        .default(false)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE
        manager
            .alter_table(
                Table::alter()
                    .table(RetentionRecords::Table)
                    .add_column(secret())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RetentionRecords::Table)
                    .add_column(ColumnDef::new(RetentionRecords::ContainerId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(DestructionListItems::Table)
                    .add_column(
                        ColumnDef::new(DestructionListItems::Secret)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(DestructionListItems::Table)
                    .add_column(
                        ColumnDef::new(DestructionListItems::ContainerItemId)
                            .uuid()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_retention_records_container")
                    .table(RetentionRecords::Table)
                    .col(RetentionRecords::ContainerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RetentionIndexBuilds::Table)
                    .col(
                        ColumnDef::new(RetentionIndexBuilds::Version)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ts(RetentionIndexBuilds::BuiltAt))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION destruction_reports_append_only() RETURNS trigger AS $$ \
                     BEGIN RAISE EXCEPTION 'destruction_reports is append-only'; END; \
                     $$ LANGUAGE plpgsql",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER destruction_reports_no_change BEFORE UPDATE OR DELETE \
                     ON destruction_reports FOR EACH ROW \
                     EXECUTE FUNCTION destruction_reports_append_only()",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER destruction_reports_no_truncate BEFORE TRUNCATE \
                     ON destruction_reports FOR EACH STATEMENT \
                     EXECUTE FUNCTION destruction_reports_append_only()",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "CREATE TRIGGER destruction_reports_no_update BEFORE UPDATE ON destruction_reports \
                     BEGIN SELECT RAISE(ABORT, 'destruction_reports is append-only'); END",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER destruction_reports_no_delete BEFORE DELETE ON destruction_reports \
                     BEGIN SELECT RAISE(ABORT, 'destruction_reports is append-only'); END",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // destruction reports are kept for good: their protection is not undone
        Err(DbErr::Migration(
            "the records ports migration cannot be reverted".to_owned(),
        ))
    }
}
