//! Destroying exchange records for a destruction list: the rows are
//! deleted, and each placement's statistical cell is counted on in
//! `destroyed_placement_tallies`, so the council's statistics keep it.

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::{Expr, ExprTrait, OnConflict},
    ActiveValue::Set,
    ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    entities::{destroyed_placement_tallies as tallies, participants, placements},
    exchange::events,
    integration::outbox::{self, Actie},
};

/// Deletes a placement (its status changes go with it) after counting it
/// in the tallies. `false` when it is already gone.
pub(crate) async fn destroy_placement(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<bool, DbErr> {
    let Some(p) = placements::Entity::find_by_id(id).one(txn).await? else {
        return Ok(false);
    };
    let fewer = participants::Entity::find_by_id(p.participant_id)
        .one(txn)
        .await?
        .is_some_and(|m| m.fewer_opportunities);
    tallies::Entity::insert(tallies::ActiveModel {
        year: Set(p.year),
        direction: Set(p.direction.clone()),
        education_level: Set(p.education_level.clone()),
        country: Set(p.country.clone()),
        status: Set(p.status.clone()),
        fewer_opportunities: Set(fewer),
        placements: Set(1),
    })
    .on_conflict(
        OnConflict::columns([
            tallies::Column::Year,
            tallies::Column::Direction,
            tallies::Column::EducationLevel,
            tallies::Column::Country,
            tallies::Column::Status,
            tallies::Column::FewerOpportunities,
        ])
        .value(
            tallies::Column::Placements,
            Expr::col((tallies::Entity, tallies::Column::Placements)).add(1),
        )
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    placements::Entity::delete_by_id(id).exec(txn).await?;
    audit::record(
        txn,
        now,
        audit,
        Event::new("placement.destroyed", 204).on("placement", id),
    )
    .await?;
    outbox::emit(txn, now, events::placement(Actie::Destroy, &p)).await?;
    Ok(true)
}

/// Deletes a participant, every placement they still have and their data
/// key.
pub(crate) async fn destroy_participant(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<bool, DbErr> {
    let Some(m) = participants::Entity::find_by_id(id).one(txn).await? else {
        return Ok(false);
    };
    let theirs = placements::Entity::find()
        .filter(placements::Column::ParticipantId.eq(id))
        .all(txn)
        .await?;
    for p in theirs {
        destroy_placement(txn, audit, now, p.id).await?;
    }
    participants::Entity::delete_by_id(id).exec(txn).await?;
    // what was sealed for them can no longer be read anywhere
    if let Some(key) = m.data_key_id {
        crate::keyring::destroy_data_key(txn, key).await?;
    }
    audit::record(
        txn,
        now,
        audit,
        Event::new("participant.destroyed", 204).on("participant", id),
    )
    .await?;
    outbox::emit(txn, now, events::participant(Actie::Destroy, &m)).await?;
    Ok(true)
}
