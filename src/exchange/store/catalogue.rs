//! Institutions and agreements with their quotas.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    entities::{agreement_quotas, agreements, institutions},
    exchange::{
        events,
        model::{AgreementStatus, Direction, EducationLevel, InstitutionKind, Programme},
    },
    integration::outbox::{self, Actie},
    versioned::{self, Changes, WriteError},
};

/// What an institution list is filtered by.
#[derive(Debug, Default)]
pub(crate) struct InstitutionFilter {
    pub kind: Option<InstitutionKind>,
    /// Upper case.
    pub country: Option<String>,
    pub sister_city: Option<bool>,
}

/// A page of institutions in creation (id) order after `after`.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_institutions(
    db: &impl ConnectionTrait,
    filter: &InstitutionFilter,
    after: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<institutions::Model>, DbErr> {
    let mut q = institutions::Entity::find();
    if let Some(k) = filter.kind {
        q = q.filter(institutions::Column::Kind.eq(k.as_str()));
    }
    if let Some(c) = &filter.country {
        q = q.filter(institutions::Column::Country.eq(c.as_str()));
    }
    if let Some(s) = filter.sister_city {
        q = q.filter(institutions::Column::SisterCity.eq(s));
    }
    if let Some(after) = after {
        q = q.filter(institutions::Column::Id.gt(after));
    }
    q.order_by_asc(institutions::Column::Id)
        .limit(fetch)
        .all(db)
        .await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn find_institution(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<institutions::Model>, DbErr> {
    institutions::Entity::find_by_id(id).one(db).await
}

/// Inserts an institution, records its creation and tells subscribers. A taken Erasmus code
/// is the unique constraint's refusal.
#[tracing::instrument(skip_all)]
pub(crate) async fn insert_institution(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: institutions::ActiveModel,
) -> Result<institutions::Model, DbErr> {
    let created = versioned::insert(txn, audit, now, row, |m| {
        Event::new("institution.created", 201).on("institution", m.id)
    })
    .await?;
    outbox::emit(txn, now, events::institution(Actie::Create, &created)).await?;
    Ok(created)
}

/// Changes an institution at version `expected`, records it and tells
/// subscribers; `None` when nothing changes.
#[tracing::instrument(skip_all)]
pub(crate) async fn update_institution(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    changes: Changes<institutions::Entity>,
) -> Result<Option<institutions::Model>, WriteError> {
    let event = Event::new("institution.updated", 200).on("institution", id);
    let updated = versioned::update(txn, audit, now, id, expected, changes, event).await?;
    if let Some(u) = &updated {
        outbox::emit(txn, now, events::institution(Actie::Update, u)).await?;
    }
    Ok(updated)
}

/// What an agreement list is filtered by.
#[derive(Debug, Default)]
pub(crate) struct AgreementFilter {
    pub status: Option<AgreementStatus>,
    pub programme: Option<Programme>,
    pub partner: Option<Uuid>,
}

#[tracing::instrument(skip_all)]
pub(crate) async fn list_agreements(
    db: &impl ConnectionTrait,
    filter: &AgreementFilter,
    after: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<agreements::Model>, DbErr> {
    let mut q = agreements::Entity::find();
    if let Some(s) = filter.status {
        q = q.filter(agreements::Column::Status.eq(s.as_str()));
    }
    if let Some(p) = filter.programme {
        q = q.filter(agreements::Column::Programme.eq(p.as_str()));
    }
    if let Some(p) = filter.partner {
        q = q.filter(agreements::Column::PartnerInstitutionId.eq(p));
    }
    if let Some(after) = after {
        q = q.filter(agreements::Column::Id.gt(after));
    }
    q.order_by_asc(agreements::Column::Id)
        .limit(fetch)
        .all(db)
        .await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn find_agreement(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<agreements::Model>, DbErr> {
    agreements::Entity::find_by_id(id).one(db).await
}

/// An agreement's quotas, by direction and education level.
#[tracing::instrument(skip_all)]
pub(crate) async fn quotas(
    db: &impl ConnectionTrait,
    agreement_id: Uuid,
) -> Result<Vec<agreement_quotas::Model>, DbErr> {
    agreement_quotas::Entity::find()
        .filter(agreement_quotas::Column::AgreementId.eq(agreement_id))
        .order_by_asc(agreement_quotas::Column::Direction)
        .order_by_asc(agreement_quotas::Column::EducationLevel)
        .all(db)
        .await
}

/// One quota as written.
pub(crate) struct NewQuota {
    pub direction: Direction,
    pub education_level: EducationLevel,
    pub places: i32,
    pub total_months: i32,
}

/// Replaces all quotas of an agreement.
#[tracing::instrument(skip_all)]
pub(super) async fn replace_quotas(
    db: &impl ConnectionTrait,
    agreement_id: Uuid,
    quotas: &[NewQuota],
) -> Result<(), DbErr> {
    agreement_quotas::Entity::delete_many()
        .filter(agreement_quotas::Column::AgreementId.eq(agreement_id))
        .exec(db)
        .await?;
    for q in quotas {
        agreement_quotas::Entity::insert(agreement_quotas::ActiveModel {
            agreement_id: Set(agreement_id),
            direction: Set(q.direction.as_str().to_owned()),
            education_level: Set(q.education_level.as_str().to_owned()),
            places: Set(q.places),
            total_months: Set(q.total_months),
        })
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Inserts an agreement with its quotas, records its creation and tells
/// subscribers.
#[tracing::instrument(skip_all)]
pub(crate) async fn insert_agreement(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: agreements::ActiveModel,
    quotas: &[NewQuota],
) -> Result<agreements::Model, DbErr> {
    let created = versioned::insert(txn, audit, now, row, |m| {
        Event::new("agreement.created", 201).on("agreement", m.id)
    })
    .await?;
    replace_quotas(txn, created.id, quotas).await?;
    outbox::emit(txn, now, events::agreement(Actie::Create, &created)).await?;
    Ok(created)
}

/// Changes an agreement at version `expected`, with all its quotas when
/// `quotas` is given (the change then says `quotas`), records it and tells
/// subscribers; `None` when nothing changes.
#[tracing::instrument(skip_all)]
pub(crate) async fn update_agreement(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    mut changes: Changes<agreements::Entity>,
    quotas: Option<&[NewQuota]>,
) -> Result<Option<agreements::Model>, WriteError> {
    if quotas.is_some() {
        changes.touch("quotas");
    }
    let event = Event::new("agreement.updated", 200).on("agreement", id);
    let updated = versioned::update(txn, audit, now, id, expected, changes, event).await?;
    if let Some(u) = &updated {
        if let Some(q) = quotas {
            replace_quotas(txn, id, q).await?;
        }
        outbox::emit(txn, now, events::agreement(Actie::Update, u)).await?;
    }
    Ok(updated)
}
