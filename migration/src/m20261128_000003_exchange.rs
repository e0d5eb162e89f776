//! International exchange: institutions, agreements with quotas, participants
//! and placements with their status history.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Institutions {
    Table,
    Id,
    Name,
    Kind,
    Country,
    City,
    ErasmusCode,
    SisterCity,
    ContactEmail,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Agreements {
    Table,
    Id,
    PartnerInstitutionId,
    Programme,
    ValidFrom,
    ValidUntil,
    Status,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AgreementQuotas {
    Table,
    AgreementId,
    Direction,
    EducationLevel,
    Places,
    TotalMonths,
}

#[derive(DeriveIden)]
enum Participants {
    Table,
    Id,
    GivenName,
    FamilyName,
    NameKey,
    DateOfBirth,
    Email,
    EducationLevel,
    HomeInstitutionId,
    FieldOfStudy,
    Nationality,
    FewerOpportunities,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Placements {
    Table,
    Id,
    Reference,
    ParticipantId,
    Direction,
    AgreementId,
    SendingInstitutionId,
    ReceivingInstitutionId,
    Kind,
    PlannedStart,
    PlannedEnd,
    ActualStart,
    ActualEnd,
    FundingProgramme,
    Status,
    EducationLevel,
    Country,
    Year,
    TravelDistanceKm,
    GreenTravel,
    GrantJson,
    GrantRateTableId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GrantRateTables {
    Table,
    Id,
    TableVersion,
    ValidFrom,
    Rates,
    Used,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PlacementStatusChanges {
    Table,
    Id,
    PlacementId,
    FromStatus,
    ToStatus,
    Reason,
    QuotaOverridden,
    ChangedAt,
    ChangedBy,
}

fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}
fn text(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).not_null().to_owned()
}
fn fk(
    from_table: impl IntoIden,
    from: impl IntoIden,
    to_table: impl IntoIden,
    to: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from_table, from)
        .to(to_table, to)
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}
async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: Vec<DynIden>,
) -> Result<(), DbErr> {
    let mut i = Index::create();
    i.name(name).table(table);
    for c in cols {
        i.col(c);
    }
    manager.create_index(i.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Institutions::Table)
                    .col(
                        ColumnDef::new(Institutions::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(text(Institutions::Name, 200))
                    .col(text(Institutions::Kind, 30))
                    .col(text(Institutions::Country, 2))
                    .col(text(Institutions::City, 100))
                    .col(
                        ColumnDef::new(Institutions::ErasmusCode)
                            .string_len(30)
                            .null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Institutions::SisterCity)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Institutions::ContactEmail)
                            .string_len(254)
                            .null(),
                    )
                    .col(ColumnDef::new(Institutions::Version).integer().not_null())
                    .col(ts(Institutions::CreatedAt))
                    .col(ts(Institutions::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Agreements::Table)
                    .col(
                        ColumnDef::new(Agreements::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Agreements::PartnerInstitutionId)
                            .uuid()
                            .not_null(),
                    )
                    .col(text(Agreements::Programme, 30))
                    .col(ColumnDef::new(Agreements::ValidFrom).date().not_null())
                    .col(ColumnDef::new(Agreements::ValidUntil).date().not_null())
                    .col(text(Agreements::Status, 20))
                    .col(ColumnDef::new(Agreements::Version).integer().not_null())
                    .col(ts(Agreements::CreatedAt))
                    .col(ts(Agreements::UpdatedAt))
                    .foreign_key(&mut fk(
                        Agreements::Table,
                        Agreements::PartnerInstitutionId,
                        Institutions::Table,
                        Institutions::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AgreementQuotas::Table)
                    .col(
                        ColumnDef::new(AgreementQuotas::AgreementId)
                            .uuid()
                            .not_null(),
                    )
                    .col(text(AgreementQuotas::Direction, 20))
                    .col(text(AgreementQuotas::EducationLevel, 20))
                    .col(ColumnDef::new(AgreementQuotas::Places).integer().not_null())
                    .col(
                        ColumnDef::new(AgreementQuotas::TotalMonths)
                            .integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(AgreementQuotas::AgreementId)
                            .col(AgreementQuotas::Direction)
                            .col(AgreementQuotas::EducationLevel),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AgreementQuotas::Table, AgreementQuotas::AgreementId)
                            .to(Agreements::Table, Agreements::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Participants::Table)
                    .col(
                        ColumnDef::new(Participants::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(text(Participants::GivenName, 100))
                    .col(text(Participants::FamilyName, 100))
                    .col(text(Participants::NameKey, 210))
                    .col(ColumnDef::new(Participants::DateOfBirth).date().not_null())
                    .col(text(Participants::Email, 254))
                    .col(text(Participants::EducationLevel, 20))
                    .col(
                        ColumnDef::new(Participants::HomeInstitutionId)
                            .uuid()
                            .not_null(),
                    )
                    .col(text(Participants::FieldOfStudy, 100))
                    .col(text(Participants::Nationality, 2))
                    .col(
                        ColumnDef::new(Participants::FewerOpportunities)
                            .boolean()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Participants::Version).integer().not_null())
                    .col(ts(Participants::CreatedAt))
                    .col(ts(Participants::UpdatedAt))
                    .foreign_key(&mut fk(
                        Participants::Table,
                        Participants::HomeInstitutionId,
                        Institutions::Table,
                        Institutions::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_participants_name_key",
            Participants::Table,
            vec![Participants::NameKey.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(GrantRateTables::Table)
                    .col(
                        ColumnDef::new(GrantRateTables::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(GrantRateTables::TableVersion)
                            .integer()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(GrantRateTables::ValidFrom)
                            .date()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(GrantRateTables::Rates).text().not_null())
                    .col(ColumnDef::new(GrantRateTables::Used).boolean().not_null())
                    .col(
                        ColumnDef::new(GrantRateTables::Version)
                            .integer()
                            .not_null(),
                    )
                    .col(ts(GrantRateTables::CreatedAt))
                    .col(ts(GrantRateTables::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Placements::Table)
                    .col(
                        ColumnDef::new(Placements::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(text(Placements::Reference, 20).unique_key())
                    .col(ColumnDef::new(Placements::ParticipantId).uuid().not_null())
                    .col(text(Placements::Direction, 20))
                    .col(ColumnDef::new(Placements::AgreementId).uuid().null())
                    .col(
                        ColumnDef::new(Placements::SendingInstitutionId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Placements::ReceivingInstitutionId)
                            .uuid()
                            .not_null(),
                    )
                    .col(text(Placements::Kind, 20))
                    .col(ColumnDef::new(Placements::PlannedStart).date().not_null())
                    .col(ColumnDef::new(Placements::PlannedEnd).date().not_null())
                    .col(ColumnDef::new(Placements::ActualStart).date().null())
                    .col(ColumnDef::new(Placements::ActualEnd).date().null())
                    .col(
                        ColumnDef::new(Placements::FundingProgramme)
                            .string_len(60)
                            .null(),
                    )
                    .col(text(Placements::Status, 20))
                    .col(text(Placements::EducationLevel, 20))
                    .col(text(Placements::Country, 2))
                    .col(ColumnDef::new(Placements::Year).integer().not_null())
                    .col(
                        ColumnDef::new(Placements::TravelDistanceKm)
                            .integer()
                            .null(),
                    )
                    .col(ColumnDef::new(Placements::GreenTravel).boolean().not_null())
                    .col(ColumnDef::new(Placements::GrantJson).text().null())
                    .col(ColumnDef::new(Placements::GrantRateTableId).uuid().null())
                    .col(ColumnDef::new(Placements::Version).integer().not_null())
                    .col(ts(Placements::CreatedAt))
                    .col(ts(Placements::UpdatedAt))
                    .foreign_key(&mut fk(
                        Placements::Table,
                        Placements::ParticipantId,
                        Participants::Table,
                        Participants::Id,
                    ))
                    .foreign_key(&mut fk(
                        Placements::Table,
                        Placements::AgreementId,
                        Agreements::Table,
                        Agreements::Id,
                    ))
                    .foreign_key(&mut fk(
                        Placements::Table,
                        Placements::SendingInstitutionId,
                        Institutions::Table,
                        Institutions::Id,
                    ))
                    .foreign_key(&mut fk(
                        Placements::Table,
                        Placements::ReceivingInstitutionId,
                        Institutions::Table,
                        Institutions::Id,
                    ))
                    .foreign_key(&mut fk(
                        Placements::Table,
                        Placements::GrantRateTableId,
                        GrantRateTables::Table,
                        GrantRateTables::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_placements_status",
            Placements::Table,
            vec![Placements::Status.into_iden(), Placements::Id.into_iden()],
        )
        .await?;
        index(
            manager,
            "ix_placements_year",
            Placements::Table,
            vec![Placements::Year.into_iden(), Placements::Id.into_iden()],
        )
        .await?;
        index(
            manager,
            "ix_placements_quota",
            Placements::Table,
            vec![
                Placements::AgreementId.into_iden(),
                Placements::Direction.into_iden(),
                Placements::EducationLevel.into_iden(),
                Placements::Status.into_iden(),
            ],
        )
        .await?;
        index(
            manager,
            "ix_placements_participant",
            Placements::Table,
            vec![Placements::ParticipantId.into_iden()],
        )
        .await?;
        // covers the statistics' GROUP BY: answered from the index alone
        index(
            manager,
            "ix_placements_statistics",
            Placements::Table,
            vec![
                Placements::Year.into_iden(),
                Placements::Direction.into_iden(),
                Placements::EducationLevel.into_iden(),
                Placements::Country.into_iden(),
                Placements::Status.into_iden(),
            ],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlacementStatusChanges::Table)
                    .col(
                        ColumnDef::new(PlacementStatusChanges::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PlacementStatusChanges::PlacementId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PlacementStatusChanges::FromStatus)
                            .string_len(20)
                            .null(),
                    )
                    .col(text(PlacementStatusChanges::ToStatus, 20))
                    .col(
                        ColumnDef::new(PlacementStatusChanges::Reason)
                            .string_len(2000)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(PlacementStatusChanges::QuotaOverridden)
                            .boolean()
                            .not_null(),
                    )
                    .col(ts(PlacementStatusChanges::ChangedAt))
                    .col(
                        ColumnDef::new(PlacementStatusChanges::ChangedBy)
                            .uuid()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                PlacementStatusChanges::Table,
                                PlacementStatusChanges::PlacementId,
                            )
                            .to(Placements::Table, Placements::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_placement_status_changes_placement",
            PlacementStatusChanges::Table,
            vec![
                PlacementStatusChanges::PlacementId.into_iden(),
                PlacementStatusChanges::Id.into_iden(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the exchange migration cannot be reverted".to_owned(),
        ))
    }
}
