//! Invitations instead of one-time passwords (issue 32.1): the creator of an
//! account never sees a credential that lets them use it. An invitation is
//! a random code, stored only as its SHA-256 hash, delivered to the staff
//! member out of band (e-mail, or the server's operator), valid once and
//! for a limited time; with it the staff member sets their own password.

use sea_orm_migration::prelude::*;

use crate::columns::{text, ts, ts_null, uuid, uuid_pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffInvitations {
    Table,
    Id,
    StaffId,
    CodeHash,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Staff {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffInvitations::Table)
                    .col(uuid_pk(StaffInvitations::Id))
                    .col(uuid(StaffInvitations::StaffId))
                    .col(text(StaffInvitations::CodeHash, 64).unique_key().to_owned())
                    .col(ColumnDef::new(StaffInvitations::CreatedBy).uuid().null())
                    .col(ts(StaffInvitations::CreatedAt))
                    .col(ts(StaffInvitations::ExpiresAt))
                    .col(ts_null(StaffInvitations::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(StaffInvitations::Table, StaffInvitations::StaffId)
                            .to(Staff::Table, Staff::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_staff_invitations_staff_id")
                    .table(StaffInvitations::Table)
                    .col(StaffInvitations::StaffId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StaffInvitations::Table).to_owned())
            .await
    }
}
