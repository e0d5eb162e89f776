//! Four eyes on the shelter roles: granting one is a pending change until a
//! second person approves it. `staff.issued_by` records who last held an
//! account's credentials (who created it or reset its password), so that an
//! administrator cannot approve its own request through an account it made.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Staff {
    Table,
    Id,
    IssuedBy,
}

#[derive(DeriveIden)]
enum RoleGrants {
    Table,
    Id,
    StaffId,
    Role,
    RequestedBy,
    RequestedAt,
    Status,
    DecidedBy,
    DecidedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Staff::Table)
                    .add_column(ColumnDef::new(Staff::IssuedBy).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoleGrants::Table)
                    .col(
                        ColumnDef::new(RoleGrants::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RoleGrants::StaffId).uuid().not_null())
                    .col(ColumnDef::new(RoleGrants::Role).string_len(40).not_null())
                    .col(ColumnDef::new(RoleGrants::RequestedBy).uuid().not_null())
                    .col(
                        ColumnDef::new(RoleGrants::RequestedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RoleGrants::Status).string_len(16).not_null())
                    .col(ColumnDef::new(RoleGrants::DecidedBy).uuid().null())
                    .col(
                        ColumnDef::new(RoleGrants::DecidedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RoleGrants::Table, RoleGrants::StaffId)
                            .to(Staff::Table, Staff::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_role_grants_status")
                    .table(RoleGrants::Table)
                    .col(RoleGrants::Status)
                    .col(RoleGrants::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_role_grants_staff")
                    .table(RoleGrants::Table)
                    .col(RoleGrants::StaffId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RoleGrants::Table).to_owned())
            .await
    }
}
