//! Placements, their status history and their grants.

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    entities::{agreement_quotas, grant_rate_tables, placement_status_changes, placements},
    exchange::{
        events,
        grants::{compute, Grant, GrantInput},
        model::{Direction, EducationLevel, PlacementStatus, GRANT_FROZEN},
    },
    integration::outbox::{self, Actie},
    versioned::{self, Changes, WriteError},
};

/// What a placement list (and its export) is filtered by.
#[derive(Debug, Default, Clone)]
pub(crate) struct PlacementFilter {
    pub status: Option<PlacementStatus>,
    pub direction: Option<Direction>,
    pub education_level: Option<EducationLevel>,
    /// Upper case.
    pub country: Option<String>,
    pub year: Option<i32>,
    /// Sending or receiving.
    pub institution: Option<Uuid>,
    pub agreement: Option<Uuid>,
}

fn filtered(f: &PlacementFilter) -> Select<placements::Entity> {
    let mut q = placements::Entity::find();
    if let Some(s) = f.status {
        q = q.filter(placements::Column::Status.eq(s.as_str()));
    }
    if let Some(d) = f.direction {
        q = q.filter(placements::Column::Direction.eq(d.as_str()));
    }
    if let Some(l) = f.education_level {
        q = q.filter(placements::Column::EducationLevel.eq(l.as_str()));
    }
    if let Some(c) = &f.country {
        q = q.filter(placements::Column::Country.eq(c.as_str()));
    }
    if let Some(y) = f.year {
        q = q.filter(placements::Column::Year.eq(y));
    }
    if let Some(i) = f.institution {
        q = q.filter(
            Condition::any()
                .add(placements::Column::SendingInstitutionId.eq(i))
                .add(placements::Column::ReceivingInstitutionId.eq(i)),
        );
    }
    if let Some(a) = f.agreement {
        q = q.filter(placements::Column::AgreementId.eq(a));
    }
    q
}

/// Up to `fetch` matching placements, newest first, before `before`.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_placements(
    db: &impl ConnectionTrait,
    filter: &PlacementFilter,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<placements::Model>, DbErr> {
    let mut q = filtered(filter);
    if let Some(b) = before {
        q = q.filter(placements::Column::Id.lt(b));
    }
    q.order_by_desc(placements::Column::Id)
        .limit(fetch)
        .all(db)
        .await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn find_placement(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<placements::Model>, DbErr> {
    placements::Entity::find_by_id(id).one(db).await
}

/// The first entry of a placement's history, or a status change.
pub(crate) struct NewStatusChange {
    pub from: Option<PlacementStatus>,
    pub to: PlacementStatus,
    pub reason: Option<String>,
    pub quota_overridden: bool,
    pub by: Uuid,
    pub by_type: &'static str,
}

async fn insert_status_change(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    placement_id: Uuid,
    c: NewStatusChange,
) -> Result<placement_status_changes::Model, DbErr> {
    placement_status_changes::Entity::insert(placement_status_changes::ActiveModel {
        id: Set(Uuid::now_v7()),
        placement_id: Set(placement_id),
        from_status: Set(c.from.map(|s| s.as_str().to_owned())),
        to_status: Set(c.to.as_str().to_owned()),
        reason: Set(c.reason),
        quota_overridden: Set(c.quota_overridden),
        changed_at: Set(now),
        changed_by: Set(c.by),
        changed_by_type: Set(c.by_type.to_owned()),
    })
    .exec_with_returning(txn)
    .await
}

/// Inserts a placement with the first entry of its history and its grant,
/// records its creation and tells subscribers.
#[tracing::instrument(skip_all)]
pub(crate) async fn insert_placement(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: placements::ActiveModel,
    first: NewStatusChange,
) -> Result<placements::Model, DbErr> {
    // the lock order: the participant before their placements
    if let Some(participant_id) = row.participant_id.try_as_ref() {
        crate::exchange::retention::lock(txn, *participant_id).await?;
    }
    let created = versioned::insert(txn, audit, now, row, |m| {
        Event::new("placement.created", 201).on("placement", m.id)
    })
    .await?;
    insert_status_change(txn, now, created.id, first).await?;
    let created = with_fresh_grant(txn, created).await?;
    outbox::emit(txn, now, events::placement(Actie::Create, &created)).await?;
    // the participant has an open placement again: off the index and any list
    crate::exchange::retention::sync(txn, now, created.participant_id).await?;
    Ok(created)
}

/// Changes a placement's fields at version `expected` and recomputes its
/// grant; `None` when nothing changes.
#[tracing::instrument(skip_all)]
pub(crate) async fn update_placement(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    changes: Changes<placements::Entity>,
) -> Result<Option<placements::Model>, WriteError> {
    let event = Event::new("placement.updated", 200).on("placement", id);
    let Some(updated) = versioned::update(txn, audit, now, id, expected, changes, event).await?
    else {
        return Ok(None);
    };
    let updated = with_fresh_grant(txn, updated).await?;
    outbox::emit(txn, now, events::placement(Actie::Update, &updated)).await?;
    Ok(Some(updated))
}

/// Moves placement `m` to `change.to` (with its actual dates in
/// `changes`), records the change in its history and audits it as `action`.
#[tracing::instrument(skip_all)]
pub(crate) async fn change_status(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    m: &placements::Model,
    mut changes: Changes<placements::Entity>,
    change: NewStatusChange,
    action: &'static str,
) -> Result<(placements::Model, placement_status_changes::Model), WriteError> {
    changes.set("status", placements::Column::Status, change.to.as_str());
    let event = Event::new(action, 201).on("placement", m.id);
    // the lock order: the participant before their placements
    crate::exchange::retention::lock(txn, m.participant_id).await?;
    let updated = versioned::update(txn, audit, now, m.id, m.version, changes, event)
        .await?
        .ok_or(WriteError::Stale)?;
    let to = change.to;
    let recorded = insert_status_change(txn, now, m.id, change).await?;
    outbox::emit(txn, now, events::placement_status(&updated, to.as_str())).await?;
    // final or not: the archive index moves in this transaction
    crate::exchange::retention::sync(txn, now, updated.participant_id).await?;
    Ok((updated, recorded))
}

/// A page of a placement's status history, newest first.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_status_changes(
    db: &impl ConnectionTrait,
    placement_id: Uuid,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<placement_status_changes::Model>, DbErr> {
    let q = placement_status_changes::Entity::find()
        .filter(placement_status_changes::Column::PlacementId.eq(placement_id));
    crate::db::newest_first(q, placement_status_changes::Column::Id, before, fetch)
        .all(db)
        .await
}

/// The places of an agreement's quota for a direction and education level
/// (0 without a quota).
#[tracing::instrument(skip_all)]
pub(crate) async fn quota_places(
    db: &impl ConnectionTrait,
    agreement_id: Uuid,
    direction: Direction,
    level: EducationLevel,
) -> Result<i64, DbErr> {
    Ok(agreement_quotas::Entity::find_by_id((
        agreement_id,
        direction.as_str().to_owned(),
        level.as_str().to_owned(),
    ))
    .one(db)
    .await?
    .map_or(0, |q| i64::from(q.places)))
}

/// The grant a placement gets from the rate table valid on its planned
/// start; none without such a table.
async fn grant_for(
    db: &impl ConnectionTrait,
    m: &placements::Model,
) -> Result<Option<Grant>, DbErr> {
    let Some(table) = grant_rate_tables::Entity::find()
        .filter(grant_rate_tables::Column::ValidFrom.lte(m.planned_start))
        .order_by_desc(grant_rate_tables::Column::ValidFrom)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let receiving = super::find_institution(db, m.receiving_institution_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("receiving institution".into()))?;
    let fewer = super::find_participant(db, m.participant_id)
        .await?
        .is_some_and(|p| p.fewer_opportunities);
    let rates = super::parse_rates(&table)?;
    Ok(compute(&GrantInput {
        rate_table_id: table.id,
        rate_table_version: table.table_version,
        rates: &rates,
        destination_country: &receiving.country,
        start: m.planned_start,
        end: m.planned_end,
        distance_km: m.travel_distance_km,
        green: m.green_travel,
        fewer_opportunities: fewer,
    }))
}

/// Recomputes a placement's grant from the rate table valid on its start
/// date, unless the placement is under way (then its grant is frozen), and
/// marks that table used. Returns the placement as stored.
async fn with_fresh_grant(
    txn: &DatabaseTransaction,
    m: placements::Model,
) -> Result<placements::Model, DbErr> {
    let status = PlacementStatus::stored(&m.status, "placements.status")?;
    if GRANT_FROZEN.contains(&status) {
        return Ok(m);
    }
    let grant = grant_for(txn, &m).await?;
    let json = match &grant {
        Some(g) => Some(serde_json::to_string(g).map_err(|e| DbErr::Json(e.to_string()))?),
        None => None,
    };
    let table = grant.as_ref().map(|g| g.rate_table_id);
    if json != m.grant_json || table != m.grant_rate_table_id {
        placements::Entity::update_many()
            .col_expr(placements::Column::GrantJson, Expr::value(json.clone()))
            .col_expr(placements::Column::GrantRateTableId, Expr::value(table))
            .filter(placements::Column::Id.eq(m.id))
            .exec(txn)
            .await?;
    }
    if let Some(t) = table {
        grant_rate_tables::Entity::update_many()
            .col_expr(grant_rate_tables::Column::Used, Expr::value(true))
            .filter(grant_rate_tables::Column::Id.eq(t))
            .filter(grant_rate_tables::Column::Used.eq(false))
            .exec(txn)
            .await?;
    }
    Ok(placements::Model {
        grant_json: json,
        grant_rate_table_id: table,
        ..m
    })
}
