//! Grant rate tables: versioned, valid from a date, never changed once used.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    entities::grant_rate_tables,
    exchange::grants::Rates,
    text::{stored_json, Corrupt},
    versioned::{self, Changes, WriteError},
};

/// A table's rates as stored; rates that do not read back are corrupt.
pub(crate) fn parse_rates(m: &grant_rate_tables::Model) -> Result<Rates, Corrupt> {
    stored_json(&m.rates, "grant_rate_tables.rates")
}

/// A page of rate tables by valid-from date, after `after`.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_rate_tables(
    db: &impl ConnectionTrait,
    after: Option<NaiveDate>,
    fetch: u64,
) -> Result<Vec<grant_rate_tables::Model>, DbErr> {
    let mut q = grant_rate_tables::Entity::find();
    if let Some(after) = after {
        q = q.filter(grant_rate_tables::Column::ValidFrom.gt(after));
    }
    q.order_by_asc(grant_rate_tables::Column::ValidFrom)
        .limit(fetch)
        .all(db)
        .await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn find_rate_table(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<grant_rate_tables::Model>, DbErr> {
    grant_rate_tables::Entity::find_by_id(id).one(db).await
}

/// Whether another table (not `except`) is valid from `date`. The unique
/// constraint still decides a race; this gives the usual case its message.
#[tracing::instrument(skip_all)]
pub(crate) async fn valid_from_taken(
    db: &impl ConnectionTrait,
    date: NaiveDate,
    except: Option<Uuid>,
) -> Result<bool, DbErr> {
    let mut q =
        grant_rate_tables::Entity::find().filter(grant_rate_tables::Column::ValidFrom.eq(date));
    if let Some(id) = except {
        q = q.filter(grant_rate_tables::Column::Id.ne(id));
    }
    Ok(q.one(db).await?.is_some())
}

/// Adds the next version of the rates and records it.
#[tracing::instrument(skip_all)]
pub(crate) async fn insert_rate_table(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    valid_from: NaiveDate,
    rates: String,
) -> Result<grant_rate_tables::Model, DbErr> {
    let last = grant_rate_tables::Entity::find()
        .order_by_desc(grant_rate_tables::Column::TableVersion)
        .one(txn)
        .await?
        .map_or(0, |t| t.table_version);
    let row = grant_rate_tables::ActiveModel {
        id: Set(Uuid::now_v7()),
        table_version: Set(last + 1),
        valid_from: Set(valid_from),
        rates: Set(rates),
        used: Set(false),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    versioned::insert(txn, audit, now, row, |m| {
        Event::new("grant_rates.created", 201).on("grant_rates", m.id)
    })
    .await
}

/// Replaces a table's date and rates at version `expected`, only while no
/// grant was computed from it (a used table is [`WriteError::Stale`]).
#[tracing::instrument(skip_all)]
pub(crate) async fn replace_rate_table(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    valid_from: NaiveDate,
    rates: String,
) -> Result<grant_rate_tables::Model, WriteError> {
    let mut changes = Changes::<grant_rate_tables::Entity>::new();
    changes.set(
        "validFrom",
        grant_rate_tables::Column::ValidFrom,
        valid_from,
    );
    changes.set("rates", grant_rate_tables::Column::Rates, rates);
    let event = Event::new("grant_rates.replaced", 200).on("grant_rates", id);
    versioned::update(txn, audit, now, id, expected, changes, event)
        .await?
        .ok_or(WriteError::Stale)
}
