//! Audit events are pruned from the oldest end, behind a signed checkpoint:
//! `audit_prunes` records (append-only) each point the trail was pruned up
//! to, signed like a checkpoint. The append-only triggers of `audit_events`
//! now let a DELETE through for events at or before the latest such point,
//! and for nothing else; verification starts from that point and checks its
//! signature, so a cut from the front beyond it is still found.

use sea_orm_migration::prelude::*;

use crate::columns::{long_text, text, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditPrunes {
    Table,
    Seq,
    Hash,
    PrunedAt,
    PublicKey,
    Signature,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditPrunes::Table)
                    .col(
                        ColumnDef::new(AuditPrunes::Seq)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(text(AuditPrunes::Hash, 128))
                    .col(ts(AuditPrunes::PrunedAt))
                    .col(text(AuditPrunes::PublicKey, 128))
                    .col(long_text(AuditPrunes::Signature))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION audit_prunes_append_only() RETURNS trigger AS $$ \
                     BEGIN RAISE EXCEPTION 'audit_prunes is append-only'; END; \
                     $$ LANGUAGE plpgsql",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_prunes_no_change BEFORE UPDATE OR DELETE ON audit_prunes \
                     FOR EACH ROW EXECUTE FUNCTION audit_prunes_append_only()",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_prunes_no_truncate BEFORE TRUNCATE ON audit_prunes \
                     FOR EACH STATEMENT EXECUTE FUNCTION audit_prunes_append_only()",
                )
                .await?;
                // the same triggers of audit_events, now letting pruned events go
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$ \
                     BEGIN \
                       IF TG_OP = 'DELETE' AND OLD.seq <= COALESCE((SELECT max(seq) FROM audit_prunes), 0) THEN \
                         RETURN OLD; \
                       END IF; \
                       RAISE EXCEPTION 'audit_events is append-only'; \
                     END; \
                     $$ LANGUAGE plpgsql",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "CREATE TRIGGER audit_prunes_no_update BEFORE UPDATE ON audit_prunes \
                     BEGIN SELECT RAISE(ABORT, 'audit_prunes is append-only'); END",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_prunes_no_delete BEFORE DELETE ON audit_prunes \
                     BEGIN SELECT RAISE(ABORT, 'audit_prunes is append-only'); END",
                )
                .await?;
                // one statement list on one connection: a second connection of
                // the pool can still see the dropped trigger
                db.execute_unprepared(
                    "DROP TRIGGER audit_events_no_delete; \
                     CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
                     WHEN OLD.seq > COALESCE((SELECT max(seq) FROM audit_prunes), 0) \
                     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$ \
                     BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; \
                     $$ LANGUAGE plpgsql",
                )
                .await?;
                db.execute_unprepared("DROP TABLE audit_prunes").await?;
                db.execute_unprepared("DROP FUNCTION audit_prunes_append_only()")
                    .await?;
            }
            _ => {
                db.execute_unprepared(
                    "DROP TRIGGER audit_events_no_delete; \
                     CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
                     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
                )
                .await?;
                db.execute_unprepared("DROP TABLE audit_prunes").await?;
            }
        }
        Ok(())
    }
}
