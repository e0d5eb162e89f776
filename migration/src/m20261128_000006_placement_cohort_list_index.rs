//! An index for the placement list filtered by cohort: direction, education
//! level and year, newest first ("outgoing MBO 4 learners of 2027"), the view
//! an exchange coordinator works from. Without it PostgreSQL walks the
//! primary key backwards and filters: about 1,000 rows for a page of 50 at
//! 100,000 placements (0.72 ms warm); over this index it reads the page's 51
//! rows (0.08 ms). Prefixes serve direction alone and direction with level.
//! Replaces nothing: an earlier cohort index was reverted before it landed.

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
                "CREATE INDEX ix_placements_cohort_list ON placements (direction, education_level, year, id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_placements_cohort_list")
            .await?;
        Ok(())
    }
}
