//! Addresses from which an account signed in successfully (issue 32.7).
//!
//! One-time codes are now bounded per account across all addresses; so that
//! a stranger guessing codes cannot lock the owner out for good, an address
//! (by the same account-and-address hash the throttle counts) from which the
//! account signed in within the last 90 days is not held by that bound.

use sea_orm_migration::prelude::*;

use crate::columns::{text, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KnownSignInAddresses {
    Table,
    Subject,
    LastAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KnownSignInAddresses::Table)
                    .col(text(KnownSignInAddresses::Subject, 80).primary_key())
                    .col(ts(KnownSignInAddresses::LastAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_known_sign_in_addresses_last_at")
                    .table(KnownSignInAddresses::Table)
                    .col(KnownSignInAddresses::LastAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KnownSignInAddresses::Table).to_owned())
            .await
    }
}
