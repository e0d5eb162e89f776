//! Staff accounts, sessions, login throttling and the audit trail.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Staff {
    Table,
    Id,
    Email,
    EmailKey,
    DisplayName,
    PasswordHash,
    MustChangePassword,
    Active,
    TotpSecret,
    TotpEnabled,
    TotpLastStep,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StaffRoles {
    Table,
    StaffId,
    Role,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    StaffId,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    Id,
    Subject,
    At,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Seq,
    Id,
    OccurredAt,
    ActorType,
    ActorId,
    Action,
    ResourceType,
    ResourceId,
    Outcome,
    RequestId,
    ClientIp,
    Reason,
    ChangedFields,
    PrevHash,
    Hash,
}

fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Staff::Table)
                    .col(ColumnDef::new(Staff::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Staff::Email).string_len(254).not_null())
                    .col(
                        ColumnDef::new(Staff::EmailKey)
                            .string_len(254)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Staff::DisplayName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Staff::PasswordHash)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Staff::MustChangePassword)
                            .boolean()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Staff::Active).boolean().not_null())
                    .col(ColumnDef::new(Staff::TotpSecret).text().null())
                    .col(ColumnDef::new(Staff::TotpEnabled).boolean().not_null())
                    .col(ColumnDef::new(Staff::TotpLastStep).big_integer().null())
                    .col(ColumnDef::new(Staff::Version).integer().not_null())
                    .col(ts(Staff::CreatedAt))
                    .col(ts(Staff::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffRoles::Table)
                    .col(ColumnDef::new(StaffRoles::StaffId).uuid().not_null())
                    .col(ColumnDef::new(StaffRoles::Role).string_len(40).not_null())
                    .primary_key(
                        Index::create()
                            .col(StaffRoles::StaffId)
                            .col(StaffRoles::Role),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StaffRoles::Table, StaffRoles::StaffId)
                            .to(Staff::Table, Staff::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_staff_roles_role")
                    .table(StaffRoles::Table)
                    .col(StaffRoles::Role)
                    .col(StaffRoles::StaffId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(ColumnDef::new(Sessions::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Sessions::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Sessions::StaffId).uuid().not_null())
                    .col(ts(Sessions::CreatedAt))
                    .col(ts(Sessions::LastSeenAt))
                    .col(ts(Sessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::StaffId)
                            .to(Staff::Table, Staff::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_staff")
                    .table(Sessions::Table)
                    .col(Sessions::StaffId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    .col(
                        ColumnDef::new(LoginFailures::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(LoginFailures::Subject)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ts(LoginFailures::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_login_failures_subject_at")
                    .table(LoginFailures::Table)
                    .col(LoginFailures::Subject)
                    .col(LoginFailures::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Seq)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ts(AuditEvents::OccurredAt))
                    .col(ColumnDef::new(AuditEvents::ActorType).string_len(16).null())
                    .col(ColumnDef::new(AuditEvents::ActorId).uuid().null())
                    .col(
                        ColumnDef::new(AuditEvents::Action)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::ResourceType)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::ResourceId)
                            .string_len(64)
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEvents::Outcome).integer().not_null())
                    .col(
                        ColumnDef::new(AuditEvents::RequestId)
                            .string_len(128)
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEvents::ClientIp).string_len(64).null())
                    .col(ColumnDef::new(AuditEvents::Reason).string_len(2000).null())
                    .col(
                        ColumnDef::new(AuditEvents::ChangedFields)
                            .string_len(500)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::PrevHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::Hash).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("ix_audit_occurred_at", vec![AuditEvents::OccurredAt]),
            ("ix_audit_actor", vec![AuditEvents::ActorId]),
            ("ix_audit_action", vec![AuditEvents::Action]),
            (
                "ix_audit_resource",
                vec![AuditEvents::ResourceType, AuditEvents::ResourceId],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuditEvents::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        // The audit trail is append-only, even for the service itself.
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$ \
                     BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; \
                     $$ LANGUAGE plpgsql",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events \
                     FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events \
                     FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
                )
                .await?;
            }
            DbBackend::Sqlite => {
                db.execute_unprepared(
                    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
                     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
                     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The audit trail is never dropped by a migration.
        Err(DbErr::Migration(
            "the accounts and audit migration cannot be reverted".to_owned(),
        ))
    }
}
