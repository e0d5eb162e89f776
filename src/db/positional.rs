//! Whole rows read by column position, straight from the driver's row.
//!
//! SeaORM's derived `FromQueryResult` finds every column of every row by its
//! name (sqlx hashes the name, three times per column), and reads a NULL of
//! an optional column by first failing and formatting the column's name into
//! an error it then discards. On a page of 50 placements that is some 3,600
//! hash lookups and 350 formatted strings per request. The hot reads (list
//! pages, the session lookup) read rows by position instead, with sqlx's own
//! decoding of the same Rust types SeaORM would decode, so the values are the
//! same; the unit tests and the HTTP tests hold them equal.
//!
//! `Entity::find()` selects the columns in the order of `Column::iter()`, the
//! model's field order, and a joined select (`find_also_related`) puts the
//! second entity's columns right after the first's. Each model read this way
//! lists its fields in that order; a unit test holds each list equal to the
//! entity's columns, so a field added to an entity but not here fails it.

use sea_orm::{
    sqlx::{self, Postgres, Row, Sqlite},
    ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryResult, Select, TryGetable,
};

/// Runs `select` (a whole-entity `Entity::find()`) and reads each row by position.
pub async fn all<E, M>(select: Select<E>, db: &impl ConnectionTrait) -> Result<Vec<M>, DbErr>
where
    E: EntityTrait,
    M: Positional + Send + Sync,
{
    let rows = select.into_model::<ByPosition<M>>().all(db).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// A model read from the start of its row, for `into_model`.
struct ByPosition<M>(M);

/// A model that can be read from consecutive columns of a row.
pub trait Positional: Sized {
    /// How many columns the model takes.
    const WIDTH: usize;
    /// Reads the model from the columns `at..at + WIDTH`.
    fn read_at(row: &QueryResult, at: usize) -> Result<Self, DbErr>;
}

impl<M: Positional> FromQueryResult for ByPosition<M> {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        if !pre.is_empty() {
            return Err(DbErr::Type(
                "a positional model is read from the start of its row".to_owned(),
            ));
        }
        M::read_at(row, 0).map(ByPosition)
    }
}

/// One column's value, decoded by sqlx as SeaORM would decode it.
pub fn column<T>(row: &QueryResult, index: usize) -> Result<T, DbErr>
where
    T: TryGetable
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>,
{
    let decoded = if let Some(r) = row.try_as_pg_row() {
        r.try_get::<T, _>(index)
    } else if let Some(r) = row.try_as_sqlite_row() {
        r.try_get::<T, _>(index)
    } else {
        return row.try_get_by_index(index);
    };
    decoded.map_err(|e| DbErr::Type(format!("column {index}: {e}")))
}

macro_rules! positional {
    ($($entity:ident { $($field:ident),* $(,)? })*) => {
        $(
            impl Positional for crate::entities::$entity::Model {
                const WIDTH: usize = [$(stringify!($field)),*].len();
                fn read_at(row: &QueryResult, at: usize) -> Result<Self, DbErr> {
                    let mut index = at;
                    let mut next = || {
                        index += 1;
                        index - 1
                    };
                    Ok(Self {
                        $($field: column(row, next())?,)*
                    })
                }
            }
        )*

        /// Each entity read by position, with its fields as listed here.
        #[cfg(test)]
        const LISTED: &[(&str, &[&str])] = &[
            $((stringify!($entity), &[$(stringify!($field)),*]),)*
        ];
    };
}

positional! {
    sessions { id, token_hash, staff_id, created_at, last_seen_at, expires_at }
    staff {
        id, email, email_key, display_name, password_hash, must_change_password, active,
        totp_secret, totp_enabled, totp_last_step, version, created_at, updated_at,
    }
    stays {
        id, reference, defender_id, intake_round, referring_organisation, planned_arrival,
        planned_departure, actual_arrival, actual_departure, visa_status, insurance_arranged,
        local_partner, status, confidentiality, accommodation_address_enc, version, created_at,
        updated_at,
    }
    placements {
        id, reference, participant_id, direction, agreement_id, sending_institution_id,
        receiving_institution_id, kind, planned_start, planned_end, actual_start, actual_end,
        funding_programme, status, education_level, country, year, travel_distance_km,
        green_travel, grant_json, grant_rate_table_id, version, created_at, updated_at,
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{EntityTrait, IdenStatic, Iterable};

    use super::LISTED;
    use crate::entities::{placements, sessions, staff, stays};

    fn columns<E: EntityTrait>() -> Vec<String> {
        E::Column::iter().map(|c| c.as_str().to_owned()).collect()
    }

    #[test]
    fn every_listed_model_names_its_columns_in_select_order() {
        for (entity, fields) in LISTED {
            let expected = match *entity {
                "placements" => columns::<placements::Entity>(),
                "sessions" => columns::<sessions::Entity>(),
                "staff" => columns::<staff::Entity>(),
                "stays" => columns::<stays::Entity>(),
                other => panic!("{other} is read by position but not checked here"),
            };
            assert_eq!(fields.to_vec(), expected, "{entity}");
        }
    }
}
