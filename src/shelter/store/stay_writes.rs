//! Stays: their list, writes, status history and assignments. Protected
//! fields arrive sealed; nothing here sees plaintext.

use chrono::{DateTime, Months, NaiveDate, Utc};
use sea_orm::{
    sea_query::{Expr, ExprTrait},
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    entities::{check_ins, stay_assignments, stay_status_changes, stays},
    integration::outbox::{self, Actie, Kanaal, Notification},
    shelter::model::StayStatus,
    versioned::{self, Changes, WriteError},
};

/// The outbox event of a change to a stay: its status, nothing else.
pub(super) fn stay_event(actie: Actie, id: Uuid, status: StayStatus) -> Notification {
    Notification::new(Kanaal::Stays, actie, id).with("status", status.as_str())
}

/// Tells integrations about a stay, unless it is secret: a secret stay is
/// absent from every channel an API client reads (no API client is among
/// its coordinators and assigned staff), so it writes no event at all and
/// the feed's sequence shows no gap where it would have been.
pub(crate) async fn notify_stay(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    actie: Actie,
    stay: &stays::Model,
    status: StayStatus,
) -> Result<(), DbErr> {
    if stay.confidentiality == super::SECRET {
        return Ok(());
    }
    outbox::emit(txn, now, stay_event(actie, stay.id, status)).await
}

/// What a stay list is filtered by.
pub(crate) struct StayFilter {
    /// Which stays the caller may see at all.
    pub visible: Condition,
    pub status: Option<StayStatus>,
    pub intake_round: Option<String>,
    pub defender: Option<Uuid>,
    /// Only the stays this staff member is assigned to.
    pub assigned_to: Option<Uuid>,
}

/// A page of stays by planned arrival (then id), after `after`, each with
/// its defender's codename from the same query.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_stays(
    db: &impl ConnectionTrait,
    filter: StayFilter,
    after: Option<(NaiveDate, Uuid)>,
    descending: bool,
    fetch: u64,
) -> Result<Vec<super::StayWithCodename>, DbErr> {
    let mut q = stays::Entity::find()
        .filter(super::stay_visible())
        .filter(filter.visible);
    if let Some(s) = filter.status {
        q = q.filter(stays::Column::Status.eq(s.as_str()));
    }
    if let Some(r) = &filter.intake_round {
        q = q.filter(stays::Column::IntakeRound.eq(r.as_str()));
    }
    if let Some(d) = filter.defender {
        q = q.filter(stays::Column::DefenderId.eq(d));
    }
    if let Some(staff) = filter.assigned_to {
        q = q.filter(super::stay_assigned_to(staff));
    }
    if let Some((date, id)) = after {
        // a row-value comparison, so the (planned_arrival, id) index serves any page
        let key = Expr::tuple([
            Expr::col((stays::Entity, stays::Column::PlannedArrival)),
            Expr::col((stays::Entity, stays::Column::Id)),
        ]);
        let after = Expr::tuple([Expr::val(date), Expr::val(id)]);
        q = q.filter(if descending {
            key.lt(after)
        } else {
            key.gt(after)
        });
    }
    q = if descending {
        q.order_by_desc(stays::Column::PlannedArrival)
            .order_by_desc(stays::Column::Id)
    } else {
        q.order_by_asc(stays::Column::PlannedArrival)
            .order_by_asc(stays::Column::Id)
    };
    super::with_codename(q.limit(fetch))
        .into_model::<super::StayWithCodename>()
        .all(db)
        .await
}

/// A status change as written: its reason arrives sealed.
pub(crate) struct NewStayStatusChange {
    pub id: Uuid,
    pub from: Option<StayStatus>,
    pub to: StayStatus,
    pub reason_enc: Option<String>,
    pub by: Uuid,
}

async fn insert_status_change(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    stay_id: Uuid,
    c: NewStayStatusChange,
) -> Result<(), DbErr> {
    stay_status_changes::Entity::insert(stay_status_changes::ActiveModel {
        id: Set(c.id),
        stay_id: Set(stay_id),
        from_status: Set(c.from.map(|s| s.as_str().to_owned())),
        to_status: Set(c.to.as_str().to_owned()),
        reason: Set(None),
        reason_enc: Set(c.reason_enc),
        changed_at: Set(now),
        changed_by: Set(c.by),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Inserts a stay (status `referred`) with the first entry of its history,
/// records it and tells subscribers.
#[tracing::instrument(skip_all)]
pub(crate) async fn insert_stay(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: stays::ActiveModel,
    by: Uuid,
) -> Result<stays::Model, DbErr> {
    // the lock order: the defender before their stays
    if let Some(defender_id) = row.defender_id.try_as_ref() {
        crate::shelter::retention::lock(txn, *defender_id).await?;
    }
    let created = versioned::insert(txn, audit, now, row, |m| {
        Event::new("stay.created", 201).on("stay", m.id)
    })
    .await?;
    let first = NewStayStatusChange {
        id: Uuid::now_v7(),
        from: None,
        to: StayStatus::Referred,
        reason_enc: None,
        by,
    };
    insert_status_change(txn, now, created.id, first).await?;
    let status = StayStatus::stored(&created.status, "stays.status")?;
    notify_stay(txn, now, Actie::Create, &created, status).await?;
    // the defender has an open stay again: off the index and any list
    crate::shelter::retention::sync(txn, now, created.defender_id).await?;
    Ok(created)
}

/// Changes stay `before` at version `expected`, records it and tells
/// subscribers; `None` when nothing changes. A stay made secret leaves the
/// integration channels with a `destroy` (for them it is gone); one no
/// longer secret enters them with a `create`.
#[tracing::instrument(skip_all)]
pub(crate) async fn update_stay(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    before: &stays::Model,
    expected: i32,
    changes: Changes<stays::Entity>,
) -> Result<Option<stays::Model>, WriteError> {
    let id = before.id;
    let event = Event::new("stay.updated", 200).on("stay", id);
    // the lock order: the defender before their stays
    crate::shelter::retention::lock(txn, before.defender_id).await?;
    let updated = versioned::update(txn, audit, now, id, expected, changes, event).await?;
    if let Some(u) = &updated {
        let status = StayStatus::stored(&u.status, "stays.status").map_err(DbErr::from)?;
        let was_secret = before.confidentiality == super::SECRET;
        let is_secret = u.confidentiality == super::SECRET;
        match (was_secret, is_secret) {
            (false, true) => outbox::emit(txn, now, stay_event(Actie::Destroy, id, status)).await?,
            (true, false) => notify_stay(txn, now, Actie::Create, u, status).await?,
            _ => notify_stay(txn, now, Actie::Update, u, status).await?,
        }
        // its confidentiality decides who may see its index entry
        crate::shelter::retention::sync(txn, now, u.defender_id).await?;
    }
    Ok(updated)
}

/// Moves stay `s` to `change.to` (with the dates in `changes`), records
/// the change in its history, schedules the after-care check-ins a return
/// starts (`aftercare_months` after the departure), audits it and tells
/// subscribers.
#[tracing::instrument(skip_all)]
pub(crate) async fn change_stay_status(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    s: &stays::Model,
    mut changes: Changes<stays::Entity>,
    change: NewStayStatusChange,
    aftercare_months: &[u32],
) -> Result<stays::Model, WriteError> {
    let to = change.to;
    changes.set("status", stays::Column::Status, to.as_str());
    let event = Event::new("stay.status_changed", 201).on("stay", s.id);
    // the lock order: the defender before their stays
    crate::shelter::retention::lock(txn, s.defender_id).await?;
    let updated = versioned::update(txn, audit, now, s.id, s.version, changes, event)
        .await?
        .ok_or(WriteError::Stale)?;
    if to == StayStatus::Returned {
        let departure = updated.actual_departure.unwrap_or(now.date_naive());
        schedule_aftercare(txn, s.id, departure, aftercare_months).await?;
    }
    insert_status_change(txn, now, s.id, change).await?;
    notify_stay(txn, now, Actie::StatusChange, &updated, to).await?;
    // closed or reopened: the archive index moves in this transaction
    crate::shelter::retention::sync(txn, now, s.defender_id).await?;
    Ok(updated)
}

/// The after-care check-ins of a returned stay, `months` after departure.
async fn schedule_aftercare(
    txn: &DatabaseTransaction,
    stay_id: Uuid,
    departure: NaiveDate,
    months: &[u32],
) -> Result<(), DbErr> {
    for m in months {
        let Some(due) = departure.checked_add_months(Months::new(*m)) else {
            continue;
        };
        check_ins::Entity::insert(check_ins::ActiveModel {
            id: Set(Uuid::now_v7()),
            stay_id: Set(stay_id),
            due_on: Set(due),
            outcome: Set(None),
            note_enc: Set(None),
            recorded_at: Set(None),
            recorded_by: Set(None),
            version: Set(1),
        })
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// A page of a stay's status history, newest first.
#[tracing::instrument(skip_all)]
pub(crate) async fn stay_status_changes(
    db: &impl ConnectionTrait,
    stay_id: Uuid,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<stay_status_changes::Model>, DbErr> {
    let q =
        stay_status_changes::Entity::find().filter(stay_status_changes::Column::StayId.eq(stay_id));
    crate::db::newest_first(q, stay_status_changes::Column::Id, before, fetch)
        .all(db)
        .await
}

/// A page of a stay's assignments by staff id, after `after`.
#[tracing::instrument(skip_all)]
pub(crate) async fn assignments(
    db: &impl ConnectionTrait,
    stay_id: Uuid,
    after: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<stay_assignments::Model>, DbErr> {
    let mut q =
        stay_assignments::Entity::find().filter(stay_assignments::Column::StayId.eq(stay_id));
    if let Some(after) = after {
        q = q.filter(stay_assignments::Column::StaffId.gt(after));
    }
    q.order_by_asc(stay_assignments::Column::StaffId)
        .limit(fetch)
        .all(db)
        .await
}

/// Assigns `staff_id` to the stay and records it; an existing assignment
/// is returned as it is (nothing written, nothing recorded).
#[tracing::instrument(skip_all)]
pub(crate) async fn assign(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    stay_id: Uuid,
    staff_id: Uuid,
    by: Uuid,
) -> Result<stay_assignments::Model, DbErr> {
    if let Some(existing) = stay_assignments::Entity::find_by_id((stay_id, staff_id))
        .one(txn)
        .await?
    {
        return Ok(existing);
    }
    let row = stay_assignments::ActiveModel {
        stay_id: Set(stay_id),
        staff_id: Set(staff_id),
        assigned_at: Set(now),
        assigned_by: Set(by),
    };
    versioned::insert(txn, audit, now, row, |m| {
        Event::new("stay.assigned", 200)
            .on("stay", m.stay_id)
            .fields(vec!["assignments"])
    })
    .await
}

/// Ends an assignment and records it; `false` when there was none.
#[tracing::instrument(skip_all)]
pub(crate) async fn unassign(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    stay_id: Uuid,
    staff_id: Uuid,
) -> Result<bool, DbErr> {
    let result = stay_assignments::Entity::delete_by_id((stay_id, staff_id))
        .exec(txn)
        .await?;
    if result.rows_affected == 0 {
        return Ok(false);
    }
    audit::record(
        txn,
        now,
        audit,
        Event::new("stay.unassigned", 204)
            .on("stay", stay_id)
            .fields(vec!["assignments"]),
    )
    .await?;
    Ok(true)
}
