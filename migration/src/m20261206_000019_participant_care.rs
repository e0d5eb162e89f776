//! A learner's duty of care (issue 33, item 6; issue 35, item 3), sealed
//! like a defender's identity: each participant may have a data key of their
//! own (made when something is first sealed for them, destroyed with them),
//! and the duty-of-care document is stored only in its sealed form. Both
//! columns are empty for every participant written before.
//!
//! No foreign key to `data_keys`: SQLite cannot add one to an existing
//! table, and the key is destroyed in the transaction that deletes the
//! participant (`exchange::store::destroy_participant`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Participants {
    Table,
    DataKeyId,
    CareEnc,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // one column per statement: SQLite adds one at a time
        manager
            .alter_table(
                Table::alter()
                    .table(Participants::Table)
                    .add_column(ColumnDef::new(Participants::DataKeyId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Participants::Table)
                    .add_column(ColumnDef::new(Participants::CareEnc).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Participants::CareEnc, Participants::DataKeyId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Participants::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
