//! Machine clients manage their own subscriptions (issue 34, item 2): a
//! subscription may belong to an API client (`client_id`; none: made by
//! staff), whose rights of the moment decide what it is sent, and a
//! subscription's signing secret is rotated with an overlap: the secret it
//! replaced (sealed under the master key as the secret is) keeps signing
//! beside the new one until `previous_secret_expires_at`.

use sea_orm_migration::prelude::*;

use crate::columns::{index, ts_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    ClientId,
    PreviousSecretEnc,
    PreviousSecretExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // one column per statement: SQLite adds one at a time
        for column in [
            ColumnDef::new(WebhookSubscriptions::ClientId)
                .uuid()
                .null()
                .to_owned(),
            ColumnDef::new(WebhookSubscriptions::PreviousSecretEnc)
                .text()
                .null()
                .to_owned(),
            ts_null(WebhookSubscriptions::PreviousSecretExpiresAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookSubscriptions::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        index(
            manager,
            "idx_webhook_subscriptions_client",
            WebhookSubscriptions::Table,
            vec![WebhookSubscriptions::ClientId.into_iden()],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_webhook_subscriptions_client")
                    .table(WebhookSubscriptions::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            WebhookSubscriptions::PreviousSecretExpiresAt,
            WebhookSubscriptions::PreviousSecretEnc,
            WebhookSubscriptions::ClientId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookSubscriptions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
