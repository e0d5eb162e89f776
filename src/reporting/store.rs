//! The statistics' queries. Stored values decode strictly: a row the service
//! never writes is an error naming its column, never a row left out of a count.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait,
};
use uuid::Uuid;

use crate::{
    entities::{
        defenders, destroyed_placement_tallies as tallies, participants, placements, stays,
    },
    exchange::model::{Direction, EducationLevel, PlacementStatus},
    shelter::model::FieldOfWork,
};

/// Which placements a count covers; `None` is every value.
#[derive(Debug, Default, Clone)]
pub(crate) struct PlacementCountFilter {
    pub year: Option<i32>,
    pub direction: Option<Direction>,
    pub education_level: Option<EducationLevel>,
    /// An ISO 3166-1 alpha-2 code, upper case.
    pub country: Option<String>,
    pub status: Option<PlacementStatus>,
}

/// One cell of the placement counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementCell {
    pub year: i32,
    pub direction: Direction,
    pub education_level: EducationLevel,
    pub country: String,
    pub status: PlacementStatus,
    pub placements: i64,
}

/// Placements per year, direction, education level, country and status, in
/// that order.
#[tracing::instrument(skip_all)]
pub(crate) async fn placement_counts(
    db: &impl ConnectionTrait,
    f: &PlacementCountFilter,
) -> Result<Vec<PlacementCell>, DbErr> {
    use placements::Column as C;
    let mut q = placements::Entity::find()
        .select_only()
        .column(C::Year)
        .column(C::Direction)
        .column(C::EducationLevel)
        .column(C::Country)
        .column(C::Status)
        .column_as(C::Id.count(), "n")
        .group_by(C::Year)
        .group_by(C::Direction)
        .group_by(C::EducationLevel)
        .group_by(C::Country)
        .group_by(C::Status);
    if let Some(y) = f.year {
        q = q.filter(C::Year.eq(y));
    }
    if let Some(d) = f.direction {
        q = q.filter(C::Direction.eq(d.as_str()));
    }
    if let Some(l) = f.education_level {
        q = q.filter(C::EducationLevel.eq(l.as_str()));
    }
    if let Some(c) = &f.country {
        q = q.filter(C::Country.eq(c.as_str()));
    }
    if let Some(s) = f.status {
        q = q.filter(C::Status.eq(s.as_str()));
    }
    let rows: Vec<(i32, String, String, String, String, i64)> = q
        .order_by_asc(C::Year)
        .order_by_asc(C::Direction)
        .order_by_asc(C::EducationLevel)
        .order_by_asc(C::Country)
        .order_by_asc(C::Status)
        .into_tuple()
        .all(db)
        .await?;
    let rows = merge(rows, destroyed(db, f).await?);
    rows.into_iter()
        .map(|(year, d, l, country, s, n)| {
            Ok(PlacementCell {
                year,
                direction: Direction::stored(&d, "placements.direction")?,
                education_level: EducationLevel::stored(&l, "placements.education_level")?,
                country,
                status: PlacementStatus::stored(&s, "placements.status")?,
                placements: n,
            })
        })
        .collect()
}

type Cell = (i32, String, String, String, String, i64);

/// Destroyed placements (by a destruction list) of the filter's cells: the
/// statistics keep counting them.
async fn destroyed(
    db: &impl ConnectionTrait,
    f: &PlacementCountFilter,
) -> Result<Vec<(Cell, bool)>, DbErr> {
    use tallies::Column as T;
    let mut q = tallies::Entity::find();
    if let Some(y) = f.year {
        q = q.filter(T::Year.eq(y));
    }
    if let Some(d) = f.direction {
        q = q.filter(T::Direction.eq(d.as_str()));
    }
    if let Some(l) = f.education_level {
        q = q.filter(T::EducationLevel.eq(l.as_str()));
    }
    if let Some(c) = &f.country {
        q = q.filter(T::Country.eq(c.as_str()));
    }
    if let Some(s) = f.status {
        q = q.filter(T::Status.eq(s.as_str()));
    }
    Ok(q.all(db)
        .await?
        .into_iter()
        .map(|t| {
            (
                (
                    t.year,
                    t.direction,
                    t.education_level,
                    t.country,
                    t.status,
                    t.placements,
                ),
                t.fewer_opportunities,
            )
        })
        .collect())
}

/// Live cells plus destroyed ones, in the cells' order.
fn merge(live: Vec<Cell>, gone: Vec<(Cell, bool)>) -> Vec<Cell> {
    let mut cells: std::collections::BTreeMap<(i32, String, String, String, String), i64> = live
        .into_iter()
        .map(|(y, d, l, c, s, n)| ((y, d, l, c, s), n))
        .collect();
    for ((y, d, l, c, s, n), _) in gone {
        *cells.entry((y, d, l, c, s)).or_default() += n;
    }
    cells
        .into_iter()
        .map(|((y, d, l, c, s), n)| (y, d, l, c, s, n))
        .collect()
}

/// Placements made (accepted or later) per year, education level and
/// whether the participant has fewer opportunities.
#[tracing::instrument(skip_all)]
pub(crate) async fn counted_placements(
    db: &impl ConnectionTrait,
    year: Option<i32>,
    direction: Option<Direction>,
) -> Result<Vec<(i32, EducationLevel, bool, i64)>, DbErr> {
    use placements::Column as C;
    let mut q = placements::Entity::find()
        .select_only()
        .column(C::Year)
        .column(C::EducationLevel)
        .column(participants::Column::FewerOpportunities)
        .column_as(C::Id.count(), "n")
        .join(
            sea_orm::JoinType::InnerJoin,
            placements::Relation::Participant.def(),
        )
        .filter(C::Status.is_in(PlacementStatus::COUNTED.iter().map(|s| s.as_str())))
        .group_by(C::Year)
        .group_by(C::EducationLevel)
        .group_by(participants::Column::FewerOpportunities);
    if let Some(y) = year {
        q = q.filter(C::Year.eq(y));
    }
    if let Some(d) = direction {
        q = q.filter(C::Direction.eq(d.as_str()));
    }
    let rows: Vec<(i32, String, bool, i64)> = q.into_tuple().all(db).await?;
    // destroyed placements that were made count on
    let counted: Vec<&str> = PlacementStatus::COUNTED
        .iter()
        .map(|s| s.as_str())
        .collect();
    let filter = PlacementCountFilter {
        year,
        direction,
        ..Default::default()
    };
    let mut cells: std::collections::BTreeMap<(i32, String, bool), i64> = rows
        .into_iter()
        .map(|(y, l, f, n)| ((y, l, f), n))
        .collect();
    for ((y, _, l, _, s, n), fewer) in destroyed(db, &filter).await? {
        if counted.contains(&s.as_str()) {
            *cells.entry((y, l, fewer)).or_default() += n;
        }
    }
    cells
        .into_iter()
        .map(|((y, l, f), n)| (y, l, f, n))
        .map(|(y, level, fewer, n)| {
            Ok((
                y,
                EducationLevel::stored(&level, "placements.education_level")?,
                fewer,
                n,
            ))
        })
        .collect()
}

/// One arrival: the defender, the arrival date, their field of work and the
/// country they work in. Erased defenders count too.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    pub defender: Uuid,
    pub arrived: chrono::NaiveDate,
    pub field_of_work: FieldOfWork,
    pub country_of_work: String,
}

/// Every stay that has an actual arrival.
#[tracing::instrument(skip_all)]
pub(crate) async fn arrivals(db: &impl ConnectionTrait) -> Result<Vec<Arrival>, DbErr> {
    let rows: Vec<(Uuid, Option<chrono::NaiveDate>, String, String)> = stays::Entity::find()
        .select_only()
        .column(stays::Column::DefenderId)
        .column(stays::Column::ActualArrival)
        .column(defenders::Column::FieldOfWork)
        .column(defenders::Column::CountryOfWork)
        .join(
            sea_orm::JoinType::InnerJoin,
            stays::Relation::Defender.def(),
        )
        .filter(stays::Column::ActualArrival.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    rows.into_iter()
        .filter_map(|(defender, arrived, field, country)| {
            arrived.map(|arrived| (defender, arrived, field, country))
        })
        .map(|(defender, arrived, field, country_of_work)| {
            Ok(Arrival {
                defender,
                arrived,
                field_of_work: FieldOfWork::stored(&field, "defenders.field_of_work")?,
                country_of_work,
            })
        })
        .collect()
}
