//! The shelter area's retention port: what the records area needs to know
//! about a defender and their stays (when each closed and how, whether it
//! is secret, whether the defender is erased), in the shelter's own terms,
//! and the one way it destroys them. The records area asks here; it never
//! reads the shelter's tables.
//!
//! Every write that can close, reopen, hide or erase a defender's record
//! calls [`sync`] in its own transaction, so the archive index moves with it.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::model::StayStatus;
use crate::{
    audit,
    entities::{defenders, stay_status_changes, stays},
    records::port::{self, Container, Lifecycle, Part, RecordType},
    versioned::WriteError,
};

/// Where a stay in `status` stands for retention. Every status is named:
/// a new one cannot be added without deciding this.
fn lifecycle(status: StayStatus, closed: Option<(StayStatus, NaiveDate)>) -> Lifecycle {
    match status {
        StayStatus::Closed => match closed {
            Some((from, on)) => Lifecycle::Closed {
                on,
                outcome: outcome(from),
            },
            // closed with no closing in its history: it cannot be dated,
            // so it is treated as open and never becomes due
            None => Lifecycle::Open,
        },
        StayStatus::Referred
        | StayStatus::Intake
        | StayStatus::Postponed
        | StayStatus::PreArrival
        | StayStatus::VisaRefused
        | StayStatus::InResidence
        | StayStatus::ReturnPreparation
        | StayStatus::Returned
        | StayStatus::CannotReturn
        | StayStatus::Aftercare
        | StayStatus::Withdrawn => Lifecycle::Open,
    }
}

/// The retention outcome of a stay closed from `from` (the rule it falls under).
fn outcome(from: StayStatus) -> &'static str {
    match from {
        StayStatus::Aftercare => "aftercare",
        StayStatus::Withdrawn => "withdrawn",
        StayStatus::VisaRefused => "visa_refused",
        StayStatus::CannotReturn => "cannot_return",
        // the graph closes a stay only from the four above; anything else
        // (an edited history) falls under the longest rule
        StayStatus::Referred
        | StayStatus::Intake
        | StayStatus::Postponed
        | StayStatus::PreArrival
        | StayStatus::InResidence
        | StayStatus::ReturnPreparation
        | StayStatus::Returned
        | StayStatus::Closed => "cannot_return",
    }
}

/// Locks defender `defender_id`'s row on PostgreSQL until the transaction
/// ends (SQLite's write transaction is exclusive already); the defender, if
/// there is one.
///
/// **The lock order**: a write that touches a defender and their stays takes
/// the defender first, then the stays. An erasure or a destruction updates
/// the defender and then each stay; a stay's change calls this before it
/// writes the stay, so the two never wait for each other in a circle (on
/// PostgreSQL, a deadlock that rolled one of them back).
pub(crate) async fn lock(
    txn: &DatabaseTransaction,
    defender_id: Uuid,
) -> Result<Option<defenders::Model>, DbErr> {
    let mut q = defenders::Entity::find_by_id(defender_id);
    if txn.get_database_backend() == DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    q.one(txn).await
}

/// A defender and their stays as the records area sees them; `None` when
/// there is no such defender. Locks the defender's row ([`lock`]), so two
/// changes to one defender's stays write the index one after the other.
pub(crate) async fn container(
    txn: &DatabaseTransaction,
    defender_id: Uuid,
) -> Result<Option<Container>, DbErr> {
    let Some(d) = lock(txn, defender_id).await? else {
        return Ok(None);
    };
    let rows: Vec<(Uuid, String, String, String)> = stays::Entity::find()
        .select_only()
        .column(stays::Column::Id)
        .column(stays::Column::Reference)
        .column(stays::Column::Status)
        .column(stays::Column::Confidentiality)
        .filter(stays::Column::DefenderId.eq(defender_id))
        .order_by_asc(stays::Column::Id)
        .into_tuple()
        .all(txn)
        .await?;
    let mut parts = Vec::with_capacity(rows.len());
    for (id, reference, status, confidentiality) in rows {
        let status = StayStatus::stored(&status, "stays.status")?;
        let closed = if status == StayStatus::Closed {
            last_closing(txn, id).await?
        } else {
            None
        };
        parts.push(Part {
            id,
            reference,
            lifecycle: lifecycle(status, closed),
            secret: confidentiality == super::store::SECRET,
        });
    }
    Ok(Some(Container {
        record_type: RecordType::Defender,
        id: d.id,
        created_on: d.created_at.date_naive(),
        parts,
        gone: d.erased_at,
    }))
}

/// The status a stay was last closed from, and the day.
async fn last_closing(
    db: &impl ConnectionTrait,
    stay_id: Uuid,
) -> Result<Option<(StayStatus, NaiveDate)>, DbErr> {
    let row: Option<(Option<String>, DateTime<Utc>)> = stay_status_changes::Entity::find()
        .select_only()
        .column(stay_status_changes::Column::FromStatus)
        .column(stay_status_changes::Column::ChangedAt)
        .filter(stay_status_changes::Column::StayId.eq(stay_id))
        .filter(stay_status_changes::Column::ToStatus.eq(StayStatus::Closed.as_str()))
        .order_by_desc(stay_status_changes::Column::ChangedAt)
        .order_by_desc(stay_status_changes::Column::Id)
        .into_tuple()
        .one(db)
        .await?;
    let Some((from, at)) = row else {
        return Ok(None);
    };
    let from = match from {
        Some(f) => StayStatus::stored(&f, "stay_status_changes.from_status")?,
        None => StayStatus::CannotReturn,
    };
    Ok(Some((from, at.date_naive())))
}

/// Writes the archive index of a defender and their stays as they now stand.
pub(crate) async fn sync(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    defender_id: Uuid,
) -> Result<(), DbErr> {
    if let Some(c) = container(txn, defender_id).await? {
        port::sync(txn, now, &c).await?;
    }
    Ok(())
}

/// A page of defender ids after `after` (building the index in full).
pub(crate) async fn ids(
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    crate::db::ids_after::<defenders::Entity>(db, defenders::Column::Id, after, limit).await
}

/// Destroys a defender and every stay of theirs (erased as on request, the
/// integrations told); `false` when they are gone already.
pub(crate) async fn destroy(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    defender_id: Uuid,
) -> Result<bool, WriteError> {
    let Some(m) = super::store::defender(txn, defender_id).await? else {
        return Ok(false);
    };
    if m.erased_at.is_some() {
        return Ok(false);
    }
    super::store::erase_and_notify(txn, audit, now, &m, m.version).await?;
    Ok(true)
}

/// The tables a destruction writes: their old row versions are purged after it.
pub(crate) const DESTROYED_TABLES: &[&str] = super::store::ERASED_TABLES;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_closed_stay_with_its_closing_is_closed() {
        let on = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
        for s in StayStatus::ALL {
            let l = lifecycle(*s, Some((StayStatus::Withdrawn, on)));
            assert_eq!(
                matches!(l, Lifecycle::Closed { .. }),
                *s == StayStatus::Closed,
                "{s:?}"
            );
        }
        assert_eq!(lifecycle(StayStatus::Closed, None), Lifecycle::Open);
    }
}
