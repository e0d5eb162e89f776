//! Retention rules: one per record type and outcome, shipped with defaults.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    entities::retention_rules,
    records::defaults::DEFAULT_RULES,
    versioned::{self, Changes, WriteError},
};

/// Adds the default rule of every record type and outcome that has none
/// (a new installation, or an outcome added by a later version). Rules a
/// city changed stay as they are.
pub(crate) async fn seed_defaults(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for d in DEFAULT_RULES {
        retention_rules::Entity::insert(retention_rules::ActiveModel {
            id: Set(Uuid::now_v7()),
            record_type: Set(d.record_type.as_str().to_owned()),
            outcome: Set(d.outcome.to_owned()),
            archiefnominatie: Set(d.archiefnominatie.as_str().to_owned()),
            term: Set(d.term.to_owned()),
            selectielijstklasse: Set(d.selectielijstklasse.to_owned()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict_do_nothing_on([
            retention_rules::Column::RecordType,
            retention_rules::Column::Outcome,
        ])
        .exec(db)
        .await?;
    }
    Ok(())
}

/// A page of rules by id.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_rules(
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<retention_rules::Model>, DbErr> {
    let mut q = retention_rules::Entity::find();
    if let Some(after) = after {
        q = q.filter(retention_rules::Column::Id.gt(after));
    }
    q.order_by_asc(retention_rules::Column::Id)
        .limit(fetch)
        .all(db)
        .await
}

/// Every rule.
pub(super) async fn all_rules(
    db: &impl ConnectionTrait,
) -> Result<Vec<retention_rules::Model>, DbErr> {
    retention_rules::Entity::find().all(db).await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn rule(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<retention_rules::Model>, DbErr> {
    retention_rules::Entity::find_by_id(id).one(db).await
}

/// Changes a rule at version `expected`, recording it.
pub(crate) async fn update_rule(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    changes: Changes<retention_rules::Entity>,
) -> Result<Option<retention_rules::Model>, WriteError> {
    versioned::update(
        txn,
        audit,
        now,
        id,
        expected,
        changes,
        Event::new("retention_rule.updated", 200).on("retention_rule", id),
    )
    .await
}
