//! The one way a versioned record is written: a set of field changes applied
//! only if the row is still at the version the caller saw, with its audit
//! event in the same transaction, and the new row returned by the `UPDATE`
//! itself (`RETURNING`) instead of a second read. Inserts likewise return
//! their row and record their event.
//!
//! Both functions take the audit event as an argument and need a
//! transaction, so a write without its event, or an event committed without
//! its write, cannot be written by accident.

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, DbErr,
    EntityName, EntityTrait, IntoActiveModel, QueryFilter,
};
use uuid::Uuid;

use crate::audit::{self, Event};

/// A table whose rows carry `id`, `version` and a time of last change.
pub trait Versioned: EntityTrait {
    const ID: Self::Column;
    const VERSION: Self::Column;
    /// The column that takes the time of the write.
    const UPDATED_AT: Self::Column;

    /// What else a row must satisfy to be written (a defender not erased).
    fn writable() -> Condition {
        Condition::all()
    }
}

macro_rules! versioned {
    ($($entity:ident => $updated:ident),* $(,)?) => {$(
        impl Versioned for crate::entities::$entity::Entity {
            const ID: Self::Column = crate::entities::$entity::Column::Id;
            const VERSION: Self::Column = crate::entities::$entity::Column::Version;
            const UPDATED_AT: Self::Column = crate::entities::$entity::Column::$updated;
        }
    )*};
}

versioned! {
    institutions => UpdatedAt,
    agreements => UpdatedAt,
    participants => UpdatedAt,
    placements => UpdatedAt,
    api_clients => UpdatedAt,
    webhook_subscriptions => UpdatedAt,
    stays => UpdatedAt,
    staff => UpdatedAt,
    retention_rules => UpdatedAt,
    retention_records => UpdatedAt,
    destruction_lists => UpdatedAt,
    // a check-in's time of change is when it was recorded
    check_ins => RecordedAt,
}

impl Versioned for crate::entities::defenders::Entity {
    const ID: Self::Column = crate::entities::defenders::Column::Id;
    const VERSION: Self::Column = crate::entities::defenders::Column::Version;
    const UPDATED_AT: Self::Column = crate::entities::defenders::Column::UpdatedAt;

    fn writable() -> Condition {
        Condition::all().add(crate::entities::defenders::Column::ErasedAt.is_null())
    }
}

impl Versioned for crate::entities::grant_rate_tables::Entity {
    const ID: Self::Column = crate::entities::grant_rate_tables::Column::Id;
    const VERSION: Self::Column = crate::entities::grant_rate_tables::Column::Version;
    const UPDATED_AT: Self::Column = crate::entities::grant_rate_tables::Column::UpdatedAt;

    /// A table a grant was computed from no longer changes.
    fn writable() -> Condition {
        Condition::all().add(crate::entities::grant_rate_tables::Column::Used.eq(false))
    }
}

/// The changes of one write: columns with their new values, and the names
/// (as the API spells them) of the fields they change, for the audit event.
pub struct Changes<E: EntityTrait> {
    sets: Vec<(E::Column, sea_orm::Value)>,
    fields: Vec<&'static str>,
}

impl<E: EntityTrait> Default for Changes<E> {
    fn default() -> Self {
        Self {
            sets: Vec::new(),
            fields: Vec::new(),
        }
    }
}

impl<E: EntityTrait> Changes<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes the field `field` (stored in `column`) to `value`.
    pub fn set(
        &mut self,
        field: &'static str,
        column: E::Column,
        value: impl Into<sea_orm::Value>,
    ) {
        self.sets.push((column, value.into()));
        if !self.fields.contains(&field) {
            self.fields.push(field);
        }
    }

    /// Writes a bookkeeping column that is no field of the API (who recorded
    /// a check-in), with the fields: alone it changes nothing.
    pub fn also(&mut self, column: E::Column, value: impl Into<sea_orm::Value>) {
        self.sets.push((column, value.into()));
    }

    /// Says that `field` changes though it lives in another table (an
    /// agreement's quotas): the row's version still moves.
    pub fn touch(&mut self, field: &'static str) {
        if !self.fields.contains(&field) {
            self.fields.push(field);
        }
    }

    /// Whether no field changes.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The names of the fields that change.
    pub fn fields(&self) -> &[&'static str] {
        &self.fields
    }
}

/// Why a versioned write did not happen.
#[derive(Debug)]
pub enum WriteError {
    /// The row is gone or no longer at the expected version: nothing was written.
    Stale,
    Db(DbErr),
}

impl From<DbErr> for WriteError {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

/// Applies `changes` to row `id` if it is still at version `expected`,
/// bumping the version and the time of change, and records `event` with the
/// changed field names. Returns the new row, or `None` when no field changes
/// (then nothing is written and nothing recorded). A stale version writes
/// nothing and is [`WriteError::Stale`]. The caller commits.
#[tracing::instrument(skip_all, fields(table = %E::default().table_name()))]
pub async fn update<E: Versioned>(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    changes: Changes<E>,
    event: Event<'_>,
) -> Result<Option<E::Model>, WriteError> {
    if changes.is_empty() {
        return Ok(None);
    }
    let mut update = E::update_many()
        .col_expr(E::VERSION, Expr::value(expected + 1))
        .col_expr(E::UPDATED_AT, Expr::value(now));
    for (column, value) in changes.sets {
        update = update.col_expr(column, Expr::value(value));
    }
    let mut rows = update
        .filter(E::ID.eq(id))
        .filter(E::VERSION.eq(expected))
        .filter(E::writable())
        .exec_with_returning(txn)
        .await?;
    let (Some(row), true) = (rows.pop(), rows.is_empty()) else {
        return Err(WriteError::Stale);
    };
    audit::record(txn, now, audit, event.fields(changes.fields)).await?;
    Ok(Some(row))
}

/// Inserts a row, records the event `event` makes of it, and returns the
/// row as stored.
#[tracing::instrument(skip_all, fields(table = %A::Entity::default().table_name()))]
pub async fn insert<A>(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: A,
    event: impl FnOnce(&<A::Entity as EntityTrait>::Model) -> Event<'static>,
) -> Result<<A::Entity as EntityTrait>::Model, DbErr>
where
    A: ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let row = <A::Entity as EntityTrait>::insert(row)
        .exec_with_returning(txn)
        .await?;
    audit::record(txn, now, audit, event(&row)).await?;
    Ok(row)
}
