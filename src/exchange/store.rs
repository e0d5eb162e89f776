//! Queries and writes for the exchange programme.

use chrono::{DateTime, Datelike, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    Statement,
};
use uuid::Uuid;

use super::model::{Direction, EducationLevel, PlacementStatus};
use crate::entities::placements as placement_rows;

mod catalogue;
mod destruction;
mod grant_rates;
mod participants;
mod placements;
pub(crate) use catalogue::{
    find_agreement, find_institution, insert_agreement, insert_institution, list_agreements,
    list_institutions, quotas, update_agreement, update_institution, AgreementFilter,
    InstitutionFilter, NewQuota,
};
pub(crate) use destruction::{destroy_participant, destroy_placement};
pub(crate) use grant_rates::{
    find_rate_table, insert_rate_table, list_rate_tables, parse_rates, replace_rate_table,
    valid_from_taken,
};
pub(crate) use participants::{
    find_participant, insert_participant, list_participants, participants_named,
    update_participant, ParticipantFilter,
};
pub(crate) use placements::{
    change_status, find_placement, insert_placement, list_placements, list_status_changes,
    quota_places, update_placement, NewStatusChange, PlacementFilter,
};

/// The next placement reference of a year: `EX-2026-0001`, ...
pub(crate) async fn next_placement_reference(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<String, DbErr> {
    let year = now.year();
    let last = crate::db::next_in_sequence(db, &format!("placement:{year}")).await?;
    Ok(format!("EX-{year}-{last:04}"))
}

/// Placements that hold a place of an agreement's quota.
pub(crate) async fn places_taken(
    db: &impl ConnectionTrait,
    agreement_id: Uuid,
    direction: Direction,
    level: EducationLevel,
) -> Result<u64, DbErr> {
    placement_rows::Entity::find()
        .filter(placement_rows::Column::AgreementId.eq(agreement_id))
        .filter(placement_rows::Column::Direction.eq(direction.as_str()))
        .filter(placement_rows::Column::EducationLevel.eq(level.as_str()))
        .filter(
            placement_rows::Column::Status
                .is_in(PlacementStatus::COUNTED.iter().map(|s| s.as_str())),
        )
        .count(db)
        .await
}

/// Takes the agreement's row lock (PostgreSQL) so that concurrent acceptances
/// under one agreement count its quota one after the other. On SQLite the
/// write transaction (BEGIN IMMEDIATE) already serialises them.
pub(crate) async fn lock_agreement(
    db: &impl ConnectionTrait,
    agreement_id: Uuid,
) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM agreements WHERE id = $1 FOR UPDATE",
            [agreement_id.into()],
        ))
        .await?;
    }
    Ok(())
}
