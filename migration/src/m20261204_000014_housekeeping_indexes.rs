//! Indexes for housekeeping's sweeps, so that removing ended sessions and old
//! login failures reads only what goes: without them each sweep scanned the
//! whole table (a million old login failures took 679 ms, issue 19).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 3] = [
    ("ix_login_failures_at", "login_failures (at)"),
    ("ix_sessions_expires_at", "sessions (expires_at)"),
    ("ix_sessions_last_seen_at", "sessions (last_seen_at)"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // the same statements on SQLite and PostgreSQL
        for (name, on) in INDEXES {
            manager
                .get_connection()
                .execute_unprepared(&format!("CREATE INDEX {name} ON {on}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager
                .get_connection()
                .execute_unprepared(&format!("DROP INDEX {name}"))
                .await?;
        }
        Ok(())
    }
}
