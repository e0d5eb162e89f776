//! Each feed reader gets a sequence without gaps in what it may read
//! (issue 32.4). The global outbox sequence showed an exchange-only client,
//! through its gaps, how many stays events happened and when. Now every
//! event also belongs to a *stream* (`stays`, read with `stays.read`;
//! `exchange`, read with `exchange.read`) and carries its number within that
//! stream (`stream_seq`, gap-free per stream); feed cursors hold one position
//! per stream.
//!
//! Events of stays that are secret now are removed with their webhook
//! deliveries: a secret stay writes no event any more, and its history must
//! not stay in the feed either. The stream numbers are assigned after that,
//! so they have no gaps.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Stream,
    StreamSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "DELETE FROM webhook_deliveries WHERE event_seq IN (
                SELECT o.seq FROM outbox_events o
                WHERE o.kanaal = 'stays'
                  AND o.resource_id IN (SELECT id FROM stays WHERE confidentiality = 'secret'))",
        )
        .await?;
        db.execute_unprepared(
            "DELETE FROM outbox_events
             WHERE kanaal = 'stays'
               AND resource_id IN (SELECT id FROM stays WHERE confidentiality = 'secret')",
        )
        .await?;
        // SQLite adds one column per ALTER TABLE
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxEvents::Table)
                    .add_column(
                        ColumnDef::new(OutboxEvents::Stream)
                            .string_len(20)
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxEvents::Table)
                    .add_column(
                        ColumnDef::new(OutboxEvents::StreamSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        // the stream of each channel, as `Kanaal::stream` says
        db.execute_unprepared(
            "UPDATE outbox_events
             SET stream = CASE WHEN kanaal = 'stays' THEN 'stays' ELSE 'exchange' END",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE outbox_events SET stream_seq = numbered.n
             FROM (SELECT seq, ROW_NUMBER() OVER (PARTITION BY stream ORDER BY seq) AS n
                   FROM outbox_events) AS numbered
             WHERE numbered.seq = outbox_events.seq",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_outbox_events_stream_seq")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::Stream)
                    .col(OutboxEvents::StreamSeq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_outbox_events_stream_seq")
                    .table(OutboxEvents::Table)
                    .to_owned(),
            )
            .await?;
        for col in [OutboxEvents::StreamSeq, OutboxEvents::Stream] {
            manager
                .alter_table(
                    Table::alter()
                        .table(OutboxEvents::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
