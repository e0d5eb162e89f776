//! The exchange area's retention port: what the records area needs to know
//! about a participant and their placements (when each reached a final
//! status, and which), in the exchange's own terms, and the one way it
//! destroys them. The records area asks here; it never reads the
//! exchange's tables.
//!
//! Every write that can close or reopen a participant's record (a new
//! participant, a new placement, a status change, a destruction) calls
//! [`sync`] in its own transaction, so the archive index moves with it.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::model::PlacementStatus;
use crate::{
    audit,
    entities::{participants, placement_status_changes, placements},
    records::port::{self, Container, Lifecycle, Part, RecordType},
};

/// Whether a placement in `status` is closed for retention, and under which
/// rule. Every status is named: a new one cannot be added without deciding.
fn final_outcome(status: PlacementStatus) -> Option<&'static str> {
    match status {
        PlacementStatus::Reported => Some("reported"),
        PlacementStatus::Rejected => Some("rejected"),
        PlacementStatus::Withdrawn => Some("withdrawn"),
        PlacementStatus::Cancelled => Some("cancelled"),
        PlacementStatus::Applied
        | PlacementStatus::Nominated
        | PlacementStatus::Accepted
        | PlacementStatus::AgreementSigned
        | PlacementStatus::InProgress
        | PlacementStatus::Interrupted
        | PlacementStatus::Completed => None,
    }
}

/// Locks participant `participant_id`'s row on PostgreSQL until the
/// transaction ends (SQLite's write transaction is exclusive already); the
/// participant, if there is one.
///
/// **The lock order**: a write that touches a participant and their
/// placements takes the participant first, then the placements. A
/// destruction locks the participant and then deletes each placement; a
/// placement's status change calls this before it writes the placement, so
/// the two never wait for each other in a circle.
pub(crate) async fn lock(
    txn: &DatabaseTransaction,
    participant_id: Uuid,
) -> Result<Option<participants::Model>, DbErr> {
    let mut q = participants::Entity::find_by_id(participant_id);
    if txn.get_database_backend() == DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    q.one(txn).await
}

/// A participant and their placements as the records area sees them;
/// `None` when there is no such participant. Locks the participant's row
/// ([`lock`]), so two changes to one participant's placements write the
/// index one after the other.
pub(crate) async fn container(
    txn: &DatabaseTransaction,
    participant_id: Uuid,
) -> Result<Option<Container>, DbErr> {
    let Some(p) = lock(txn, participant_id).await? else {
        return Ok(None);
    };
    let rows: Vec<(Uuid, String, String)> = placements::Entity::find()
        .select_only()
        .column(placements::Column::Id)
        .column(placements::Column::Reference)
        .column(placements::Column::Status)
        .filter(placements::Column::ParticipantId.eq(participant_id))
        .order_by_asc(placements::Column::Id)
        .into_tuple()
        .all(txn)
        .await?;
    let mut parts = Vec::with_capacity(rows.len());
    for (id, reference, status) in rows {
        let status = PlacementStatus::stored(&status, "placements.status")?;
        let lifecycle = match final_outcome(status) {
            Some(outcome) => match reached_on(txn, id, status).await? {
                Some(on) => Lifecycle::Closed { on, outcome },
                None => Lifecycle::Open,
            },
            None => Lifecycle::Open,
        };
        parts.push(Part {
            id,
            reference,
            lifecycle,
            secret: false,
        });
    }
    Ok(Some(Container {
        record_type: RecordType::Participant,
        id: p.id,
        created_on: p.created_at.date_naive(),
        parts,
        gone: None,
    }))
}

/// The day a placement last reached `status`.
async fn reached_on(
    db: &impl ConnectionTrait,
    placement_id: Uuid,
    status: PlacementStatus,
) -> Result<Option<NaiveDate>, DbErr> {
    let at: Option<DateTime<Utc>> = placement_status_changes::Entity::find()
        .select_only()
        .column(placement_status_changes::Column::ChangedAt)
        .filter(placement_status_changes::Column::PlacementId.eq(placement_id))
        .filter(placement_status_changes::Column::ToStatus.eq(status.as_str()))
        .order_by_desc(placement_status_changes::Column::ChangedAt)
        .into_tuple()
        .one(db)
        .await?;
    Ok(at.map(|a| a.date_naive()))
}

/// Writes the archive index of a participant and their placements as they
/// now stand.
pub(crate) async fn sync(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    participant_id: Uuid,
) -> Result<(), DbErr> {
    if let Some(c) = container(txn, participant_id).await? {
        port::sync(txn, now, &c).await?;
    }
    Ok(())
}

/// The participant a placement belongs to.
pub(crate) async fn participant_of(
    db: &impl ConnectionTrait,
    placement_id: Uuid,
) -> Result<Option<Uuid>, DbErr> {
    placements::Entity::find_by_id(placement_id)
        .select_only()
        .column(placements::Column::ParticipantId)
        .into_tuple()
        .one(db)
        .await
}

/// A page of participant ids after `after` (building the index in full).
pub(crate) async fn ids(
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    crate::db::ids_after::<participants::Entity>(db, participants::Column::Id, after, limit).await
}

/// Destroys a participant and every placement they still have.
pub(crate) async fn destroy(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    participant_id: Uuid,
) -> Result<bool, DbErr> {
    super::store::destroy_participant(txn, audit, now, participant_id).await
}

/// Destroys one placement (its participant stays).
pub(crate) async fn destroy_placement(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    placement_id: Uuid,
) -> Result<bool, DbErr> {
    super::store::destroy_placement(txn, audit, now, placement_id).await
}

/// The tables a destruction writes: their old row versions are purged
/// after it (SQLite's WAL checkpoint, PostgreSQL's VACUUM).
pub(crate) const DESTROYED_TABLES: &[&str] = &[
    "participants",
    "placements",
    "placement_status_changes",
    "data_keys",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::model::allowed_targets;

    #[test]
    fn exactly_the_final_statuses_close_a_placement() {
        for s in PlacementStatus::ALL {
            assert_eq!(
                final_outcome(*s).is_some(),
                allowed_targets(*s).is_empty(),
                "{s:?}"
            );
        }
    }
}
