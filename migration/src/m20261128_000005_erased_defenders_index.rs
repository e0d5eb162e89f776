//! A partial index of erased defenders. Every stay list and summary skips
//! stays of erased defenders with `NOT EXISTS (... erased_at IS NOT NULL)`;
//! with current statistics PostgreSQL answered that by scanning all
//! defenders once per request (0.7 ms at 10,000). Over this index, which
//! holds only the erased, it costs nothing.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // the same statement on SQLite and PostgreSQL
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_defenders_erased ON defenders (id) WHERE erased_at IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_defenders_erased")
            .await?;
        Ok(())
    }
}
