//! The records lifecycle: retention rules as data, an index of closed
//! records with their derived archiving dates (Open Zaak's
//! `archiefnominatie`, `archiefactiedatum`, `archiefstatus`), destruction
//! lists with their items and reviews (Open Archiefbeheer's process), the
//! destruction reports kept for good, and the counts of destroyed
//! placements that statistics keep.

use sea_orm_migration::prelude::*;

use crate::columns::{index, text, ts, ts_null, uuid, uuid_pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RetentionRules {
    Table,
    Id,
    RecordType,
    Outcome,
    Archiefnominatie,
    Term,
    Selectielijstklasse,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RetentionRecords {
    Table,
    Id,
    RecordType,
    RecordId,
    Programme,
    Reference,
    Outcome,
    RuleId,
    ClosedOn,
    Archiefnominatie,
    Archiefactiedatum,
    KeepUntil,
    Archiefstatus,
    LegalHold,
    ListId,
    DestroyedAt,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DestructionLists {
    Table,
    Id,
    Name,
    Status,
    AuthorId,
    SubmittedAt,
    ApprovedBy,
    ApprovedAt,
    ExecuteAfter,
    LeaseHolder,
    LeaseUntil,
    ExecutedAt,
    ReportSha256,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DestructionListItems {
    Table,
    Id,
    ListId,
    RecordRowId,
    RecordType,
    RecordId,
    Programme,
    Reference,
    Outcome,
    Selectielijstklasse,
    ClosedOn,
    Archiefactiedatum,
    Status,
    Decision,
    KeepUntil,
    ReviewedBy,
    ReviewedAt,
    Processing,
    DestroyedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DestructionReports {
    Table,
    ListId,
    Body,
    Sha256,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DestroyedPlacementTallies {
    Table,
    Year,
    Direction,
    EducationLevel,
    Country,
    Status,
    FewerOpportunities,
    Placements,
}

fn version(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .integer()
        .not_null()
        .default(1)
        .to_owned()
}

fn date_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).date().null().to_owned()
}

fn text_null(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).null().to_owned()
}

fn uuid_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use DestructionListItems as I;
        use DestructionLists as L;
        use RetentionRecords as R;
        use RetentionRules as Rule;
        manager
            .create_table(
                Table::create()
                    .table(Rule::Table)
                    .col(uuid_pk(Rule::Id))
                    .col(text(Rule::RecordType, 32))
                    .col(text(Rule::Outcome, 32))
                    .col(text(Rule::Archiefnominatie, 32))
                    .col(text(Rule::Term, 32))
                    .col(text(Rule::Selectielijstklasse, 200))
                    .col(version(Rule::Version))
                    .col(ts(Rule::CreatedAt))
                    .col(ts(Rule::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_retention_rules_type_outcome",
            Rule::Table,
            vec![Rule::RecordType.into_iden(), Rule::Outcome.into_iden()],
            true,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(uuid_pk(R::Id))
                    .col(text(R::RecordType, 32))
                    .col(uuid(R::RecordId))
                    .col(text(R::Programme, 16))
                    .col(text_null(R::Reference, 32))
                    .col(text(R::Outcome, 32))
                    .col(uuid_null(R::RuleId))
                    .col(date_null(R::ClosedOn))
                    .col(text_null(R::Archiefnominatie, 32))
                    .col(date_null(R::Archiefactiedatum))
                    .col(date_null(R::KeepUntil))
                    .col(text(R::Archiefstatus, 32))
                    .col(
                        ColumnDef::new(R::LegalHold)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(uuid_null(R::ListId))
                    .col(ts_null(R::DestroyedAt))
                    .col(version(R::Version))
                    .col(ts(R::CreatedAt))
                    .col(ts(R::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_retention_records_record",
            R::Table,
            vec![R::RecordType.into_iden(), R::RecordId.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "ix_retention_records_due",
            R::Table,
            vec![R::Archiefactiedatum.into_iden(), R::Id.into_iden()],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(uuid_pk(L::Id))
                    .col(text(L::Name, 200))
                    .col(text(L::Status, 32))
                    .col(uuid(L::AuthorId))
                    .col(ts_null(L::SubmittedAt))
                    .col(uuid_null(L::ApprovedBy))
                    .col(ts_null(L::ApprovedAt))
                    .col(ts_null(L::ExecuteAfter))
                    .col(text_null(L::LeaseHolder, 64))
                    .col(ts_null(L::LeaseUntil))
                    .col(ts_null(L::ExecutedAt))
                    .col(text_null(L::ReportSha256, 64))
                    .col(version(L::Version))
                    .col(ts(L::CreatedAt))
                    .col(ts(L::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_destruction_lists_status",
            L::Table,
            vec![L::Status.into_iden(), L::ExecuteAfter.into_iden()],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(uuid_pk(I::Id))
                    .col(uuid(I::ListId))
                    .col(uuid(I::RecordRowId))
                    .col(text(I::RecordType, 32))
                    .col(uuid(I::RecordId))
                    .col(text(I::Programme, 16))
                    .col(text_null(I::Reference, 32))
                    .col(text(I::Outcome, 32))
                    .col(text(I::Selectielijstklasse, 200))
                    .col(date_null(I::ClosedOn))
                    .col(date_null(I::Archiefactiedatum))
                    .col(text(I::Status, 32))
                    .col(text_null(I::Decision, 16))
                    .col(date_null(I::KeepUntil))
                    .col(uuid_null(I::ReviewedBy))
                    .col(ts_null(I::ReviewedAt))
                    .col(text(I::Processing, 16))
                    .col(ts_null(I::DestroyedAt))
                    .col(ts(I::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(I::Table, I::ListId)
                            .to(L::Table, L::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_destruction_list_items_record",
            I::Table,
            vec![I::ListId.into_iden(), I::RecordRowId.into_iden()],
            true,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(DestructionReports::Table)
                    .col(uuid_pk(DestructionReports::ListId))
                    .col(ColumnDef::new(DestructionReports::Body).text().not_null())
                    .col(text(DestructionReports::Sha256, 64))
                    .col(ts(DestructionReports::CreatedAt))
                    .to_owned(),
            )
            .await?;
        use DestroyedPlacementTallies as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(ColumnDef::new(T::Year).integer().not_null())
                    .col(text(T::Direction, 32))
                    .col(text(T::EducationLevel, 32))
                    .col(text(T::Country, 2))
                    .col(text(T::Status, 32))
                    .col(ColumnDef::new(T::FewerOpportunities).boolean().not_null())
                    .col(ColumnDef::new(T::Placements).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(T::Year)
                            .col(T::Direction)
                            .col(T::EducationLevel)
                            .col(T::Country)
                            .col(T::Status)
                            .col(T::FewerOpportunities),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DestroyedPlacementTallies::Table.into_iden(),
            DestructionReports::Table.into_iden(),
            DestructionListItems::Table.into_iden(),
            DestructionLists::Table.into_iden(),
            RetentionRecords::Table.into_iden(),
            RetentionRules::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
