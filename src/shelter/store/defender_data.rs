//! Defenders' lists and searches, their publicity consents, and stay
//! summaries for other systems.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    db::newest_first,
    entities::{consents, defenders, stays},
    shelter::model::{FieldOfWork, RiskLevel, StayStatus},
    versioned,
};

/// What a defender list is filtered by.
pub(crate) struct DefenderFilter {
    /// Which defenders the caller may see at all.
    pub visible: Condition,
    pub risk_level: Option<RiskLevel>,
    pub field_of_work: Option<FieldOfWork>,
    /// Upper case.
    pub country_of_work: Option<String>,
}

/// A page of defenders not erased, in creation (id) order after `after`.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_defenders(
    db: &impl ConnectionTrait,
    filter: DefenderFilter,
    after: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<defenders::Model>, DbErr> {
    let mut q = defenders::Entity::find()
        .filter(defenders::Column::ErasedAt.is_null())
        .filter(filter.visible);
    if let Some(r) = filter.risk_level {
        q = q.filter(defenders::Column::RiskLevel.eq(r.as_str()));
    }
    if let Some(f) = filter.field_of_work {
        q = q.filter(defenders::Column::FieldOfWork.eq(f.as_str()));
    }
    if let Some(c) = &filter.country_of_work {
        q = q.filter(defenders::Column::CountryOfWork.eq(c.as_str()));
    }
    if let Some(after) = after {
        q = q.filter(defenders::Column::Id.gt(after));
    }
    q.order_by_asc(defenders::Column::Id)
        .limit(fetch)
        .all(db)
        .await
}

/// Up to `limit` defenders not erased whose legal name has the blind
/// index `index`.
#[tracing::instrument(skip_all)]
pub(crate) async fn defenders_by_name_index(
    db: &impl ConnectionTrait,
    index: String,
    limit: u64,
) -> Result<Vec<defenders::Model>, DbErr> {
    defenders::Entity::find()
        .filter(defenders::Column::LegalNameIndex.eq(index))
        .filter(defenders::Column::ErasedAt.is_null())
        .order_by_asc(defenders::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// A page of a defender's consents, newest first.
#[tracing::instrument(skip_all)]
pub(crate) async fn consents(
    db: &impl ConnectionTrait,
    defender_id: Uuid,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<consents::Model>, DbErr> {
    let q = consents::Entity::find().filter(consents::Column::DefenderId.eq(defender_id));
    newest_first(q, consents::Column::Id, before, fetch)
        .all(db)
        .await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn find_consent(
    db: &impl ConnectionTrait,
    defender_id: Uuid,
    id: Uuid,
) -> Result<Option<consents::Model>, DbErr> {
    consents::Entity::find_by_id(id)
        .filter(consents::Column::DefenderId.eq(defender_id))
        .one(db)
        .await
}

/// Inserts a consent and records it.
#[tracing::instrument(skip_all)]
pub(crate) async fn insert_consent(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: consents::ActiveModel,
) -> Result<consents::Model, DbErr> {
    versioned::insert(txn, audit, now, row, |m| {
        Event::new("consent.created", 201).on("consent", m.id)
    })
    .await
}

/// Revokes a consent that is not yet revoked, from `on`, and records it.
/// Returns the consent as stored, or `None` when it was revoked meanwhile.
#[tracing::instrument(skip_all)]
pub(crate) async fn revoke_consent(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    on: NaiveDate,
) -> Result<Option<consents::Model>, DbErr> {
    use sea_orm::sea_query::Expr;
    let mut rows = consents::Entity::update_many()
        .col_expr(consents::Column::RevokedOn, Expr::value(Some(on)))
        .filter(consents::Column::Id.eq(id))
        .filter(consents::Column::RevokedOn.is_null())
        .exec_with_returning(txn)
        .await?;
    let Some(row) = rows.pop() else {
        return Ok(None);
    };
    audit::record(
        txn,
        now,
        audit,
        Event::new("consent.revoked", 200)
            .on("consent", id)
            .fields(vec!["revokedOn"]),
    )
    .await?;
    Ok(Some(row))
}

/// A page of the stays a caller may see (`visible`), newest first.
#[tracing::instrument(skip_all)]
pub(crate) async fn stay_summaries(
    db: &impl ConnectionTrait,
    visible: Condition,
    status: Option<StayStatus>,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<stays::Model>, DbErr> {
    let mut q = stays::Entity::find()
        .filter(super::stay_visible())
        .filter(visible);
    if let Some(s) = status {
        q = q.filter(stays::Column::Status.eq(s.as_str()));
    }
    newest_first(q, stays::Column::Id, before, fetch)
        .all(db)
        .await
}

/// A stay the caller may see (`visible`).
#[tracing::instrument(skip_all)]
pub(crate) async fn stay_summary(
    db: &impl ConnectionTrait,
    visible: Condition,
    id: Uuid,
) -> Result<Option<stays::Model>, DbErr> {
    stays::Entity::find_by_id(id)
        .filter(super::stay_visible())
        .filter(visible)
        .one(db)
        .await
}

/// Inserts a defender (its protected fields sealed) and records the fields
/// written.
#[tracing::instrument(skip_all)]
pub(crate) async fn insert_defender(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: defenders::ActiveModel,
    fields: Vec<&'static str>,
) -> Result<defenders::Model, DbErr> {
    let created = versioned::insert(txn, audit, now, row, |m| {
        Event::new("defender.created", 201)
            .on("defender", m.id)
            .fields(fields)
    })
    .await?;
    // a defender with no stay yet is a record too: it gets its retention date
    crate::shelter::retention::sync(txn, now, created.id).await?;
    Ok(created)
}

/// Changes a defender not erased at version `expected`; `None` when
/// nothing changes.
#[tracing::instrument(skip_all)]
pub(crate) async fn update_defender(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    changes: versioned::Changes<defenders::Entity>,
) -> Result<Option<defenders::Model>, versioned::WriteError> {
    let event = Event::new("defender.updated", 200).on("defender", id);
    versioned::update(txn, audit, now, id, expected, changes, event).await
}
