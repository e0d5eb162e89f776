//! Shelter City: the keyring, data keys, defenders, stays and what hangs off them.
//! Protected values are stored only as AEAD ciphertexts (`*_enc` columns).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Keyring {
    Table,
    Name,
    Wrapped,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DataKeys {
    Table,
    Id,
    Wrapped,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReferenceCounters {
    Table,
    Scope,
    Last,
}

#[derive(DeriveIden)]
enum Defenders {
    Table,
    Id,
    Codename,
    CodenameKey,
    CountryOfWork,
    FieldOfWork,
    Languages,
    Gender,
    RiskLevel,
    DataKeyId,
    IdentityEnc,
    LegalNameIndex,
    ErasedAt,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Stays {
    Table,
    Id,
    Reference,
    DefenderId,
    IntakeRound,
    ReferringOrganisation,
    PlannedArrival,
    PlannedDeparture,
    ActualArrival,
    ActualDeparture,
    VisaStatus,
    InsuranceArranged,
    LocalPartner,
    Status,
    Confidentiality,
    AccommodationAddressEnc,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StayStatusChanges {
    Table,
    Id,
    StayId,
    FromStatus,
    ToStatus,
    Reason,
    ChangedAt,
    ChangedBy,
}

#[derive(DeriveIden)]
enum StayAssignments {
    Table,
    StayId,
    StaffId,
    AssignedAt,
    AssignedBy,
}

#[derive(DeriveIden)]
enum StayNotes {
    Table,
    Id,
    StayId,
    Category,
    BodyEnc,
    CreatedAt,
    CreatedBy,
}

#[derive(DeriveIden)]
enum RiskAssessments {
    Table,
    Id,
    StayId,
    Level,
    ThreatsEnc,
    MeasuresEnc,
    NextReviewOn,
    CreatedAt,
    CreatedBy,
}

#[derive(DeriveIden)]
enum Activities {
    Table,
    Id,
    StayId,
    Kind,
    Title,
    Date,
    Public,
    CreatedAt,
    CreatedBy,
}

#[derive(DeriveIden)]
enum CheckIns {
    Table,
    Id,
    StayId,
    DueOn,
    Outcome,
    NoteEnc,
    RecordedAt,
    RecordedBy,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    Id,
    DefenderId,
    Item,
    GrantedOn,
    ExpiresOn,
    RevokedOn,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Staff {
    Table,
    Id,
}

fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}
fn uuid(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().to_owned()
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
        .on_delete(ForeignKeyAction::Cascade)
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
                    .table(Keyring::Table)
                    .col(
                        ColumnDef::new(Keyring::Name)
                            .string_len(40)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Keyring::Wrapped).text().not_null())
                    .col(ts(Keyring::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DataKeys::Table)
                    .col(uuid(DataKeys::Id).primary_key())
                    .col(ColumnDef::new(DataKeys::Wrapped).text().not_null())
                    .col(ts(DataKeys::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReferenceCounters::Table)
                    .col(
                        ColumnDef::new(ReferenceCounters::Scope)
                            .string_len(40)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ReferenceCounters::Last)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Defenders::Table)
                    .col(uuid(Defenders::Id).primary_key())
                    .col(text(Defenders::Codename, 80))
                    .col(text(Defenders::CodenameKey, 80).unique_key())
                    .col(text(Defenders::CountryOfWork, 2))
                    .col(text(Defenders::FieldOfWork, 40))
                    .col(
                        ColumnDef::new(Defenders::Languages)
                            .string_len(500)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Defenders::Gender).string_len(40).null())
                    .col(text(Defenders::RiskLevel, 20))
                    .col(ColumnDef::new(Defenders::DataKeyId).uuid().null())
                    .col(ColumnDef::new(Defenders::IdentityEnc).text().null())
                    .col(
                        ColumnDef::new(Defenders::LegalNameIndex)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Defenders::ErasedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Defenders::Version).integer().not_null())
                    .col(ts(Defenders::CreatedAt))
                    .col(ts(Defenders::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Defenders::Table, Defenders::DataKeyId)
                            .to(DataKeys::Table, DataKeys::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_defenders_legal_name_index",
            Defenders::Table,
            vec![Defenders::LegalNameIndex.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Stays::Table)
                    .col(uuid(Stays::Id).primary_key())
                    .col(text(Stays::Reference, 20).unique_key())
                    .col(uuid(Stays::DefenderId))
                    .col(text(Stays::IntakeRound, 40))
                    .col(
                        ColumnDef::new(Stays::ReferringOrganisation)
                            .string_len(200)
                            .null(),
                    )
                    .col(ColumnDef::new(Stays::PlannedArrival).date().not_null())
                    .col(ColumnDef::new(Stays::PlannedDeparture).date().not_null())
                    .col(ColumnDef::new(Stays::ActualArrival).date().null())
                    .col(ColumnDef::new(Stays::ActualDeparture).date().null())
                    .col(text(Stays::VisaStatus, 20))
                    .col(
                        ColumnDef::new(Stays::InsuranceArranged)
                            .boolean()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Stays::LocalPartner).string_len(200).null())
                    .col(text(Stays::Status, 30))
                    .col(text(Stays::Confidentiality, 20))
                    .col(ColumnDef::new(Stays::AccommodationAddressEnc).text().null())
                    .col(ColumnDef::new(Stays::Version).integer().not_null())
                    .col(ts(Stays::CreatedAt))
                    .col(ts(Stays::UpdatedAt))
                    .foreign_key(&mut fk(
                        Stays::Table,
                        Stays::DefenderId,
                        Defenders::Table,
                        Defenders::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_stays_planned_arrival",
            Stays::Table,
            vec![Stays::PlannedArrival.into_iden(), Stays::Id.into_iden()],
        )
        .await?;
        index(
            manager,
            "ix_stays_defender",
            Stays::Table,
            vec![Stays::DefenderId.into_iden()],
        )
        .await?;
        index(
            manager,
            "ix_stays_status",
            Stays::Table,
            vec![Stays::Status.into_iden(), Stays::PlannedArrival.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(StayStatusChanges::Table)
                    .col(uuid(StayStatusChanges::Id).primary_key())
                    .col(uuid(StayStatusChanges::StayId))
                    .col(
                        ColumnDef::new(StayStatusChanges::FromStatus)
                            .string_len(30)
                            .null(),
                    )
                    .col(text(StayStatusChanges::ToStatus, 30))
                    .col(
                        ColumnDef::new(StayStatusChanges::Reason)
                            .string_len(2000)
                            .null(),
                    )
                    .col(ts(StayStatusChanges::ChangedAt))
                    .col(uuid(StayStatusChanges::ChangedBy))
                    .foreign_key(&mut fk(
                        StayStatusChanges::Table,
                        StayStatusChanges::StayId,
                        Stays::Table,
                        Stays::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_stay_status_changes_stay",
            StayStatusChanges::Table,
            vec![
                StayStatusChanges::StayId.into_iden(),
                StayStatusChanges::Id.into_iden(),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(StayAssignments::Table)
                    .col(uuid(StayAssignments::StayId))
                    .col(uuid(StayAssignments::StaffId))
                    .col(ts(StayAssignments::AssignedAt))
                    .col(uuid(StayAssignments::AssignedBy))
                    .primary_key(
                        Index::create()
                            .col(StayAssignments::StayId)
                            .col(StayAssignments::StaffId),
                    )
                    .foreign_key(&mut fk(
                        StayAssignments::Table,
                        StayAssignments::StayId,
                        Stays::Table,
                        Stays::Id,
                    ))
                    .foreign_key(&mut fk(
                        StayAssignments::Table,
                        StayAssignments::StaffId,
                        Staff::Table,
                        Staff::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_stay_assignments_staff",
            StayAssignments::Table,
            vec![
                StayAssignments::StaffId.into_iden(),
                StayAssignments::StayId.into_iden(),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(StayNotes::Table)
                    .col(uuid(StayNotes::Id).primary_key())
                    .col(uuid(StayNotes::StayId))
                    .col(text(StayNotes::Category, 20))
                    .col(ColumnDef::new(StayNotes::BodyEnc).text().null())
                    .col(ts(StayNotes::CreatedAt))
                    .col(uuid(StayNotes::CreatedBy))
                    .foreign_key(&mut fk(
                        StayNotes::Table,
                        StayNotes::StayId,
                        Stays::Table,
                        Stays::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_stay_notes_stay",
            StayNotes::Table,
            vec![StayNotes::StayId.into_iden(), StayNotes::Id.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(RiskAssessments::Table)
                    .col(uuid(RiskAssessments::Id).primary_key())
                    .col(uuid(RiskAssessments::StayId))
                    .col(text(RiskAssessments::Level, 20))
                    .col(ColumnDef::new(RiskAssessments::ThreatsEnc).text().null())
                    .col(ColumnDef::new(RiskAssessments::MeasuresEnc).text().null())
                    .col(
                        ColumnDef::new(RiskAssessments::NextReviewOn)
                            .date()
                            .not_null(),
                    )
                    .col(ts(RiskAssessments::CreatedAt))
                    .col(uuid(RiskAssessments::CreatedBy))
                    .foreign_key(&mut fk(
                        RiskAssessments::Table,
                        RiskAssessments::StayId,
                        Stays::Table,
                        Stays::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_risk_assessments_stay",
            RiskAssessments::Table,
            vec![
                RiskAssessments::StayId.into_iden(),
                RiskAssessments::Id.into_iden(),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Activities::Table)
                    .col(uuid(Activities::Id).primary_key())
                    .col(uuid(Activities::StayId))
                    .col(text(Activities::Kind, 20))
                    .col(text(Activities::Title, 200))
                    .col(ColumnDef::new(Activities::Date).date().not_null())
                    .col(ColumnDef::new(Activities::Public).boolean().not_null())
                    .col(ts(Activities::CreatedAt))
                    .col(uuid(Activities::CreatedBy))
                    .foreign_key(&mut fk(
                        Activities::Table,
                        Activities::StayId,
                        Stays::Table,
                        Stays::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_activities_stay",
            Activities::Table,
            vec![Activities::StayId.into_iden(), Activities::Id.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CheckIns::Table)
                    .col(uuid(CheckIns::Id).primary_key())
                    .col(uuid(CheckIns::StayId))
                    .col(ColumnDef::new(CheckIns::DueOn).date().not_null())
                    .col(ColumnDef::new(CheckIns::Outcome).string_len(20).null())
                    .col(ColumnDef::new(CheckIns::NoteEnc).text().null())
                    .col(
                        ColumnDef::new(CheckIns::RecordedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(CheckIns::RecordedBy).uuid().null())
                    .foreign_key(&mut fk(
                        CheckIns::Table,
                        CheckIns::StayId,
                        Stays::Table,
                        Stays::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_check_ins_stay",
            CheckIns::Table,
            vec![CheckIns::StayId.into_iden(), CheckIns::DueOn.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(uuid(Consents::Id).primary_key())
                    .col(uuid(Consents::DefenderId))
                    .col(text(Consents::Item, 20))
                    .col(ColumnDef::new(Consents::GrantedOn).date().not_null())
                    .col(ColumnDef::new(Consents::ExpiresOn).date().null())
                    .col(ColumnDef::new(Consents::RevokedOn).date().null())
                    .col(ts(Consents::CreatedAt))
                    .foreign_key(&mut fk(
                        Consents::Table,
                        Consents::DefenderId,
                        Defenders::Table,
                        Defenders::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_consents_defender",
            Consents::Table,
            vec![Consents::DefenderId.into_iden(), Consents::Id.into_iden()],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the Shelter City migration cannot be reverted".to_owned(),
        ))
    }
}
