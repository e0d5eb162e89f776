//! Participants: the people who go on (or come for) a placement.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    entities::participants,
    exchange::{events, model::EducationLevel},
    integration::outbox::{self, Actie},
    versioned::{self, Changes, WriteError},
};

/// What a participant list is filtered by.
#[derive(Debug, Default)]
pub(crate) struct ParticipantFilter {
    pub education_level: Option<EducationLevel>,
    pub home_institution: Option<Uuid>,
    pub fewer_opportunities: Option<bool>,
}

/// A page of participants in creation (id) order after `after`.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_participants(
    db: &impl ConnectionTrait,
    filter: &ParticipantFilter,
    after: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<participants::Model>, DbErr> {
    let mut q = participants::Entity::find();
    if let Some(l) = filter.education_level {
        q = q.filter(participants::Column::EducationLevel.eq(l.as_str()));
    }
    if let Some(h) = filter.home_institution {
        q = q.filter(participants::Column::HomeInstitutionId.eq(h));
    }
    if let Some(f) = filter.fewer_opportunities {
        q = q.filter(participants::Column::FewerOpportunities.eq(f));
    }
    if let Some(after) = after {
        q = q.filter(participants::Column::Id.gt(after));
    }
    q.order_by_asc(participants::Column::Id)
        .limit(fetch)
        .all(db)
        .await
}

/// Up to `limit` participants whose normalised name is `name_key`.
#[tracing::instrument(skip_all)]
pub(crate) async fn participants_named(
    db: &impl ConnectionTrait,
    name_key: String,
    limit: u64,
) -> Result<Vec<participants::Model>, DbErr> {
    participants::Entity::find()
        .filter(participants::Column::NameKey.eq(name_key))
        .order_by_asc(participants::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn find_participant(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<participants::Model>, DbErr> {
    participants::Entity::find_by_id(id).one(db).await
}

/// Inserts a participant, records its creation and tells subscribers.
#[tracing::instrument(skip_all)]
pub(crate) async fn insert_participant(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: participants::ActiveModel,
) -> Result<participants::Model, DbErr> {
    let created = versioned::insert(txn, audit, now, row, |m| {
        Event::new("participant.created", 201).on("participant", m.id)
    })
    .await?;
    outbox::emit(txn, now, events::participant(Actie::Create, &created)).await?;
    // a participant never placed is a record too: it gets its retention date
    crate::exchange::retention::sync(txn, now, created.id).await?;
    Ok(created)
}

/// Changes a participant at version `expected`, records it and tells
/// subscribers; `None` when nothing changes.
#[tracing::instrument(skip_all)]
pub(crate) async fn update_participant(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    changes: Changes<participants::Entity>,
) -> Result<Option<participants::Model>, WriteError> {
    let event = Event::new("participant.updated", 200).on("participant", id);
    let updated = versioned::update(txn, audit, now, id, expected, changes, event).await?;
    if let Some(u) = &updated {
        outbox::emit(txn, now, events::participant(Actie::Update, u)).await?;
    }
    Ok(updated)
}
