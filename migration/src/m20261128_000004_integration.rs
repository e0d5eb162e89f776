//! Integration: API clients and their keys, the transactional outbox,
//! webhook subscriptions and their deliveries; and who (staff or client)
//! changed a placement's status.

use sea_orm_migration::prelude::*;

use crate::columns::{index, long_text, text, ts, ts_null, uuid, uuid_pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiClients {
    Table,
    Id,
    Name,
    Scopes,
    ExpiresAt,
    RevokedAt,
    CreatedBy,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiClientKeys {
    Table,
    Id,
    ClientId,
    KeyHash,
    Prefix,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Seq,
    Id,
    Kanaal,
    Resource,
    ResourceId,
    Actie,
    Kenmerken,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    Id,
    CallbackUrl,
    Channels,
    SecretEnc,
    Active,
    FannedOutSeq,
    CreatedBy,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    SubscriptionId,
    EventSeq,
    Status,
    Attempts,
    NextAttemptAt,
    LastAttemptAt,
    LastStatusCode,
    LastError,
    DeliveredAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PlacementStatusChanges {
    Table,
    ChangedByType,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiClients::Table)
                    .col(uuid_pk(ApiClients::Id))
                    .col(text(ApiClients::Name, 100))
                    .col(text(ApiClients::Scopes, 200))
                    .col(ts(ApiClients::ExpiresAt))
                    .col(ts_null(ApiClients::RevokedAt))
                    .col(uuid(ApiClients::CreatedBy))
                    .col(ColumnDef::new(ApiClients::Version).integer().not_null())
                    .col(ts(ApiClients::CreatedAt))
                    .col(ts(ApiClients::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiClientKeys::Table)
                    .col(uuid_pk(ApiClientKeys::Id))
                    .col(uuid(ApiClientKeys::ClientId))
                    .col(text(ApiClientKeys::KeyHash, 64).unique_key().to_owned())
                    .col(text(ApiClientKeys::Prefix, 16))
                    .col(ts(ApiClientKeys::CreatedAt))
                    .col(ts_null(ApiClientKeys::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiClientKeys::Table, ApiClientKeys::ClientId)
                            .to(ApiClients::Table, ApiClients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_api_client_keys_client",
            ApiClientKeys::Table,
            vec![ApiClientKeys::ClientId.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(OutboxEvents::Table)
                    .col(
                        ColumnDef::new(OutboxEvents::Seq)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(uuid(OutboxEvents::Id).unique_key().to_owned())
                    .col(text(OutboxEvents::Kanaal, 20))
                    .col(text(OutboxEvents::Resource, 40))
                    .col(uuid(OutboxEvents::ResourceId))
                    .col(text(OutboxEvents::Actie, 20))
                    .col(long_text(OutboxEvents::Kenmerken))
                    .col(ts(OutboxEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_outbox_events_kanaal_seq",
            OutboxEvents::Table,
            vec![
                OutboxEvents::Kanaal.into_iden(),
                OutboxEvents::Seq.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebhookSubscriptions::Table)
                    .col(uuid_pk(WebhookSubscriptions::Id))
                    .col(text(WebhookSubscriptions::CallbackUrl, 2000))
                    .col(long_text(WebhookSubscriptions::Channels))
                    .col(long_text(WebhookSubscriptions::SecretEnc))
                    .col(
                        ColumnDef::new(WebhookSubscriptions::Active)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookSubscriptions::FannedOutSeq)
                            .big_integer()
                            .not_null(),
                    )
                    .col(uuid(WebhookSubscriptions::CreatedBy))
                    .col(
                        ColumnDef::new(WebhookSubscriptions::Version)
                            .integer()
                            .not_null(),
                    )
                    .col(ts(WebhookSubscriptions::CreatedAt))
                    .col(ts(WebhookSubscriptions::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(uuid_pk(WebhookDeliveries::Id))
                    .col(uuid(WebhookDeliveries::SubscriptionId))
                    .col(
                        ColumnDef::new(WebhookDeliveries::EventSeq)
                            .big_integer()
                            .not_null(),
                    )
                    .col(text(WebhookDeliveries::Status, 12))
                    .col(
                        ColumnDef::new(WebhookDeliveries::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(ts(WebhookDeliveries::NextAttemptAt))
                    .col(ts_null(WebhookDeliveries::LastAttemptAt))
                    .col(
                        ColumnDef::new(WebhookDeliveries::LastStatusCode)
                            .integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::LastError)
                            .string_len(200)
                            .null(),
                    )
                    .col(ts_null(WebhookDeliveries::DeliveredAt))
                    .col(ts(WebhookDeliveries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDeliveries::Table, WebhookDeliveries::SubscriptionId)
                            .to(WebhookSubscriptions::Table, WebhookSubscriptions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EventSeq)
                            .to(OutboxEvents::Table, OutboxEvents::Seq)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_webhook_deliveries_subscription_event",
            WebhookDeliveries::Table,
            vec![
                WebhookDeliveries::SubscriptionId.into_iden(),
                WebhookDeliveries::EventSeq.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "idx_webhook_deliveries_due",
            WebhookDeliveries::Table,
            vec![
                WebhookDeliveries::Status.into_iden(),
                WebhookDeliveries::NextAttemptAt.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(PlacementStatusChanges::Table)
                    .add_column(
                        ColumnDef::new(PlacementStatusChanges::ChangedByType)
                            .string_len(10)
                            .not_null()
                            .default("staff"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PlacementStatusChanges::Table)
                    .drop_column(PlacementStatusChanges::ChangedByType)
                    .to_owned(),
            )
            .await?;
        for table in [
            WebhookDeliveries::Table.into_iden(),
            WebhookSubscriptions::Table.into_iden(),
            OutboxEvents::Table.into_iden(),
            ApiClientKeys::Table.into_iden(),
            ApiClients::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
