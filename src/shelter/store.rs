//! Queries and writes for Shelter City, over `&impl ConnectionTrait`.

use chrono::{DateTime, Datelike, Utc};
use sea_orm::{
    sea_query::{Expr, ExprTrait, Query, QueryStatementBuilder},
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryResult, QuerySelect, QueryTrait, Select,
};
use uuid::Uuid;

use crate::entities::{data_keys, defenders, stay_assignments, stays};

mod defender_data;
mod erasure;
mod records;
mod stay_writes;
pub(crate) use defender_data::{
    consents, defenders_by_name_index, find_consent, insert_consent, insert_defender,
    list_defenders, revoke_consent, stay_summaries, stay_summary, update_defender, DefenderFilter,
};
pub(crate) use erasure::{erase_and_notify, ERASED_TABLES};
pub(crate) use records::{
    activities, check_ins, find_check_in, insert_record, notes, overdue_reviews, record_check_in,
    risk_assessments, stays_by_id,
};
pub(crate) use stay_writes::{
    assign, assignments, change_stay_status, insert_stay, list_stays, notify_stay,
    stay_status_changes, unassign, update_stay, NewStayStatusChange, StayFilter,
};

/// The next stay reference of a year: `SC-2026-001`, `SC-2026-002`, ...
pub(crate) async fn next_stay_reference(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<String, DbErr> {
    let year = now.year();
    let last = crate::db::next_in_sequence(db, &format!("stay:{year}")).await?;
    Ok(format!("SC-{year}-{last:03}"))
}

/// A defender that has not been erased.
pub(crate) async fn defender(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<defenders::Model>, DbErr> {
    defenders::Entity::find_by_id(id)
        .filter(defenders::Column::ErasedAt.is_null())
        .one(db)
        .await
}

/// A stay whose defender has not been erased, with that defender.
pub(crate) async fn stay(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<(stays::Model, defenders::Model)>, DbErr> {
    Ok(stay_with_key(db, id)
        .await?
        .map(|(stay, defender, _)| (stay, defender)))
}

/// `(SELECT <value> FROM <entity> WHERE <key> = <outer>)`: a column of
/// another table as one more value of each row of the outer query.
fn looked_up<E: EntityTrait + Copy>(
    entity: E,
    value: E::Column,
    key: E::Column,
    outer: (impl EntityTrait, impl ColumnTrait),
) -> Expr {
    let select = Query::select()
        .column((entity, value))
        .from(entity)
        .and_where(Expr::col((entity, key)).equals(outer))
        .to_owned();
    Expr::SubQuery(None, Box::new(select.into_sub_query_statement()))
}

/// A stay, its defender (not erased) and the defender's data key as stored
/// (wrapped; `None` if destroyed), in one query: reading a stay's protected
/// fields then needs no second round trip for the key.
pub(crate) async fn stay_with_key(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<(stays::Model, defenders::Model, Option<String>)>, DbErr> {
    // one query: every stay operation starts here
    let wrapped = looked_up(
        data_keys::Entity,
        data_keys::Column::Wrapped,
        data_keys::Column::Id,
        (defenders::Entity, defenders::Column::DataKeyId),
    );
    let select = stays::Entity::find_by_id(id)
        .find_also_related(defenders::Entity)
        .filter(defenders::Column::ErasedAt.is_null())
        .expr_as(wrapped, "data_key_wrapped");
    let Some(row) = db.query_one(&select.into_query()).await? else {
        return Ok(None);
    };
    // SeaORM's joined select names the stay's columns `A_…` and the
    // defender's `B_…` (all NULL if it is gone), then the key
    if row.try_get::<Option<Uuid>>("B_", "id")?.is_none() {
        return Ok(None);
    }
    let stay = stays::Model::from_query_result(&row, "A_")?;
    let defender = defenders::Model::from_query_result(&row, "B_")?;
    let wrapped = row.try_get("", "data_key_wrapped")?;
    Ok(Some((stay, defender, wrapped)))
}

pub(crate) async fn is_assigned(
    db: &impl ConnectionTrait,
    stay_id: Uuid,
    staff_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(stay_assignments::Entity::find_by_id((stay_id, staff_id))
        .one(db)
        .await?
        .is_some())
}

/// Whether the staff member is assigned to any stay of the defender.
pub(crate) async fn is_assigned_to_defender(
    db: &impl ConnectionTrait,
    defender_id: Uuid,
    staff_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(stay_assignments::Entity::find()
        .filter(stay_assignments::Column::StaffId.eq(staff_id))
        .filter(
            stay_assignments::Column::StayId.in_subquery(
                Query::select()
                    .column(stays::Column::Id)
                    .from(stays::Entity)
                    .and_where(stays::Column::DefenderId.eq(defender_id))
                    .to_owned(),
            ),
        )
        .one(db)
        .await?
        .is_some())
}

/// Condition: the stay's defender is not erased. A correlated NOT EXISTS (a
/// primary-key probe per row) keeps list pages cheap: the stays index decides
/// the order and the page ends after `limit` rows.
pub(crate) fn stay_visible() -> Condition {
    let erased = Query::select()
        .expr(Expr::val(1))
        .from(defenders::Entity)
        .and_where(
            Expr::col((defenders::Entity, defenders::Column::Id))
                .equals((stays::Entity, stays::Column::DefenderId)),
        )
        .and_where(Expr::col((defenders::Entity, defenders::Column::ErasedAt)).is_not_null())
        .to_owned();
    Condition::all().add(Expr::exists(erased).not())
}

/// The confidentiality that hides a stay (and its defender) from everyone
/// but shelter coordinators and the staff assigned to it.
pub(crate) const SECRET: &str = "secret";

/// Condition: the stay is not secret, or is assigned to this staff member
/// (`None`: an API client, to which no secret stay is visible).
pub(crate) fn stay_not_secret_to(staff_id: Option<Uuid>) -> Condition {
    let open = Condition::any().add(stays::Column::Confidentiality.ne(SECRET));
    match staff_id {
        Some(id) => open.add(stay_assigned_to(id)),
        None => open,
    }
}

/// Condition: the defender has no secret stay that this staff member is not
/// assigned to.
pub(crate) fn defender_not_secret_to(staff_id: Uuid) -> Condition {
    let hidden = Query::select()
        .column(stays::Column::DefenderId)
        .from(stays::Entity)
        .and_where(stays::Column::Confidentiality.eq(SECRET))
        .and_where(
            stays::Column::Id.not_in_subquery(
                Query::select()
                    .column(stay_assignments::Column::StayId)
                    .from(stay_assignments::Entity)
                    .and_where(stay_assignments::Column::StaffId.eq(staff_id))
                    .to_owned(),
            ),
        )
        .to_owned();
    Condition::all().add(defenders::Column::Id.not_in_subquery(hidden))
}

/// Whether a defender has a secret stay this staff member is not assigned to.
pub(crate) async fn defender_secret_to(
    db: &impl ConnectionTrait,
    defender_id: Uuid,
    staff_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(defenders::Entity::find_by_id(defender_id)
        .filter(defender_not_secret_to(staff_id).not())
        .one(db)
        .await?
        .is_some())
}

/// Condition: the stay is assigned to this staff member.
pub(crate) fn stay_assigned_to(staff_id: Uuid) -> Condition {
    Condition::all().add(
        stays::Column::Id.in_subquery(
            Query::select()
                .column(stay_assignments::Column::StayId)
                .from(stay_assignments::Entity)
                .and_where(stay_assignments::Column::StaffId.eq(staff_id))
                .to_owned(),
        ),
    )
}

/// A stay and its defender's codename, read from one row.
#[derive(Debug)]
pub(crate) struct StayWithCodename {
    pub stay: stays::Model,
    /// `None` only if the defender row is gone (the foreign key forbids it).
    pub codename: Option<String>,
}

impl FromQueryResult for StayWithCodename {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            stay: stays::Model::from_query_result(row, pre)?,
            codename: row.try_get(pre, "codename")?,
        })
    }
}

/// Adds the defender's codename after a stays query's columns, so a list
/// page is one query rather than a second one for the names.
pub(crate) fn with_codename(q: Select<stays::Entity>) -> Select<stays::Entity> {
    let codename = looked_up(
        defenders::Entity,
        defenders::Column::Codename,
        defenders::Column::Id,
        (stays::Entity, stays::Column::DefenderId),
    );
    q.expr_as(codename, "codename")
}

/// Codenames of defenders by id.
pub(crate) async fn codenames(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, DbErr> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    // the two columns only: a defender row also carries the protected identity
    let rows: Vec<(Uuid, String)> = defenders::Entity::find()
        .select_only()
        .columns([defenders::Column::Id, defenders::Column::Codename])
        .filter(defenders::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
