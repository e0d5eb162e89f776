//! A stay's records: notes, risk assessments, activities and check-ins.
//! Their protected text arrives sealed; nothing here sees plaintext.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    sea_query::{Alias, Expr, ExprTrait, Query},
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    db::newest_first,
    entities::{activities, check_ins, risk_assessments, stay_notes, stays},
    versioned::{self, Changes, WriteError},
};

/// A page of one stay's rows of a record table, newest first.
async fn of_stay<E: EntityTrait>(
    db: &impl ConnectionTrait,
    stay_column: E::Column,
    id_column: E::Column,
    stay_id: Uuid,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<E::Model>, DbErr> {
    let q = E::find().filter(stay_column.eq(stay_id));
    newest_first(q, id_column, before, fetch).all(db).await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn notes(
    db: &impl ConnectionTrait,
    stay_id: Uuid,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<stay_notes::Model>, DbErr> {
    use stay_notes::{Column, Entity};
    of_stay::<Entity>(db, Column::StayId, Column::Id, stay_id, before, fetch).await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn risk_assessments(
    db: &impl ConnectionTrait,
    stay_id: Uuid,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<risk_assessments::Model>, DbErr> {
    use risk_assessments::{Column, Entity};
    of_stay::<Entity>(db, Column::StayId, Column::Id, stay_id, before, fetch).await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn activities(
    db: &impl ConnectionTrait,
    stay_id: Uuid,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<activities::Model>, DbErr> {
    use activities::{Column, Entity};
    of_stay::<Entity>(db, Column::StayId, Column::Id, stay_id, before, fetch).await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn check_ins(
    db: &impl ConnectionTrait,
    stay_id: Uuid,
    before: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<check_ins::Model>, DbErr> {
    use check_ins::{Column, Entity};
    of_stay::<Entity>(db, Column::StayId, Column::Id, stay_id, before, fetch).await
}

/// Inserts a record of a stay (a note, risk assessment or activity) and
/// records its creation in the same transaction.
#[tracing::instrument(skip_all)]
pub(crate) async fn insert_record<A>(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: A,
    event: Event<'static>,
) -> Result<<A::Entity as EntityTrait>::Model, DbErr>
where
    A: ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    versioned::insert(txn, audit, now, row, |_| event).await
}

/// A check-in of a stay.
#[tracing::instrument(skip_all)]
pub(crate) async fn find_check_in(
    db: &impl ConnectionTrait,
    stay_id: Uuid,
    id: Uuid,
) -> Result<Option<check_ins::Model>, DbErr> {
    check_ins::Entity::find_by_id(id)
        .filter(check_ins::Column::StayId.eq(stay_id))
        .one(db)
        .await
}

/// Records a check-in's outcome at version `expected`.
#[tracing::instrument(skip_all)]
pub(crate) async fn record_check_in(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    changes: Changes<check_ins::Entity>,
) -> Result<Option<check_ins::Model>, WriteError> {
    let event = Event::new("check_in.recorded", 200).on("check_in", id);
    versioned::update(txn, audit, now, id, expected, changes, event).await
}

/// Stays whose latest risk assessment was due for review by `today`, by
/// review date, after `after`: of every visible stay, or of the stays
/// `assigned_to` is assigned to.
#[tracing::instrument(skip_all)]
pub(crate) async fn overdue_reviews(
    db: &impl ConnectionTrait,
    today: NaiveDate,
    assigned_to: Option<Uuid>,
    after: Option<(NaiveDate, Uuid)>,
    fetch: u64,
) -> Result<Vec<risk_assessments::Model>, DbErr> {
    // the latest assessment of each stay: no later one exists for the same stay
    let later = Query::select()
        .expr(Expr::val(1))
        .from_as(risk_assessments::Entity, Alias::new("later"))
        .and_where(
            Expr::col((Alias::new("later"), risk_assessments::Column::StayId))
                .equals((risk_assessments::Entity, risk_assessments::Column::StayId)),
        )
        .and_where(
            Expr::col((Alias::new("later"), risk_assessments::Column::Id)).gt(Expr::col((
                risk_assessments::Entity,
                risk_assessments::Column::Id,
            ))),
        )
        .to_owned();
    let mut stays_in_view = stays::Entity::find()
        .filter(super::stay_visible())
        .select_only()
        .column(stays::Column::Id);
    if let Some(staff) = assigned_to {
        stays_in_view = stays_in_view.filter(super::stay_assigned_to(staff));
    }
    let mut q = risk_assessments::Entity::find()
        .filter(Expr::exists(later).not())
        .filter(risk_assessments::Column::NextReviewOn.lte(today))
        .filter(risk_assessments::Column::StayId.in_subquery(stays_in_view.into_query()));
    if let Some((date, rid)) = after {
        q = q.filter(
            Expr::tuple([
                Expr::col((
                    risk_assessments::Entity,
                    risk_assessments::Column::NextReviewOn,
                )),
                Expr::col((risk_assessments::Entity, risk_assessments::Column::Id)),
            ])
            .gt(Expr::tuple([Expr::val(date), Expr::val(rid)])),
        );
    }
    q.order_by_asc(risk_assessments::Column::NextReviewOn)
        .order_by_asc(risk_assessments::Column::Id)
        .limit(fetch)
        .all(db)
        .await
}

/// The stays with these ids.
#[tracing::instrument(skip_all)]
pub(crate) async fn stays_by_id(
    db: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<Vec<stays::Model>, DbErr> {
    stays::Entity::find()
        .filter(stays::Column::Id.is_in(ids))
        .all(db)
        .await
}
