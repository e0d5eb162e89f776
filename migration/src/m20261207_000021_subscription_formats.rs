//! Notifications a Common Ground consumer takes as they are (issue 34,
//! item 1): each subscription says the shape of its deliveries (`casedesk`,
//! as before, for every subscription made before; `open_notificaties`;
//! `cloudevents`; `cloudevents_binary`) and may hold the `Authorization`
//! value its receiver checks, sealed under the master key like the signing
//! secret.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    Format,
    AuthorizationEnc,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // one column per statement: SQLite adds one at a time
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookSubscriptions::Table)
                    .add_column(
                        ColumnDef::new(WebhookSubscriptions::Format)
                            .string_len(24)
                            .not_null()
                            .default("casedesk"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookSubscriptions::Table)
                    .add_column(
                        ColumnDef::new(WebhookSubscriptions::AuthorizationEnc)
                            .text()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            WebhookSubscriptions::AuthorizationEnc,
            WebhookSubscriptions::Format,
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
