//! Retries that do not duplicate (issue 34, item 3): a create sent with an
//! `Idempotency-Key` is remembered for 24 hours, so that the same key with
//! the same request answers as the first time and makes nothing new.
//!
//! Nothing personal is kept: the key is stored only as a keyed hash with the
//! caller's identity (a client may choose any text as its key), the request
//! only as a keyed fingerprint, and the answer only as the address of what
//! was made (a replay reads it again, with the caller's rights of the day).

use sea_orm_migration::prelude::*;

use crate::columns::{text, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    KeyHash,
    Operation,
    Fingerprint,
    Status,
    Location,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(text(IdempotencyKeys::KeyHash, 64).primary_key())
                    .col(text(IdempotencyKeys::Operation, 80))
                    .col(text(IdempotencyKeys::Fingerprint, 64))
                    // none while the first request is under way
                    .col(ColumnDef::new(IdempotencyKeys::Status).integer().null())
                    .col(
                        ColumnDef::new(IdempotencyKeys::Location)
                            .string_len(300)
                            .null(),
                    )
                    .col(ts(IdempotencyKeys::CreatedAt))
                    .col(ts(IdempotencyKeys::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_idempotency_keys_expires_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}
