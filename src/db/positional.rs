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
//! A result's columns have one type for all its rows on PostgreSQL, so `all`
//! checks each column's declared type against the field's Rust type once, on
//! the first row (NULLs included, which sqlx's per-value check skips), and
//! decodes the other rows without repeating that check: on a page of 50
//! placements sqlx's per-value check was a tenth of the request's CPU.
//! SQLite types each value, not each column, so there every value is checked.
//!
//! `Entity::find()` selects the columns in the order of `Column::iter()`, the
//! model's field order, and a joined select (`find_also_related`) puts the
//! second entity's columns right after the first's. Each model read this way
//! lists its fields in that order; a unit test holds each list equal to the
//! entity's columns, so a field added to an entity but not here fails it.

use sea_orm::{
    sqlx::{self, Postgres, Row, Sqlite},
    ConnectionTrait, DbErr, EntityTrait, QueryResult, QueryTrait, Select, TryGetable,
};

/// Runs `select` (an `Entity::find()`, whole rows, perhaps with expressions
/// after them) and reads each row by position.
pub async fn all<E, M>(select: Select<E>, db: &impl ConnectionTrait) -> Result<Vec<M>, DbErr>
where
    E: EntityTrait,
    M: Positional,
{
    let rows = db.query_all(&select.into_query()).await?;
    let mut read = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        // one result, one set of column types: checked on its first row
        let types = if i == 0 { Types::Check } else { Types::Checked };
        read.push(M::read_at(row, 0, types)?);
    }
    Ok(read)
}

/// Whether a column's type is still to be checked against the Rust type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Types {
    /// Check it (a single row, or the first row of a result).
    Check,
    /// An earlier row of the same result was checked (PostgreSQL only:
    /// SQLite still checks each value).
    Checked,
}

/// A model that can be read from consecutive columns of a row.
pub trait Positional: Sized {
    /// How many columns the model takes.
    const WIDTH: usize;
    /// Reads the model from the columns `at..at + WIDTH`.
    fn read_at(row: &QueryResult, at: usize, types: Types) -> Result<Self, DbErr>;
}

/// One column's value, decoded by sqlx as SeaORM would decode it; its type
/// checked unless `types` says it has been.
pub fn column<T>(row: &QueryResult, index: usize, types: Types) -> Result<T, DbErr>
where
    T: TryGetable
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>,
{
    let decoded = if let Some(r) = row.try_as_pg_row() {
        if types == Types::Check {
            // the column's declared type, so a NULL in this row is no gap
            let column = r.try_column(index).map_err(|e| column_error(index, e))?;
            let declared = sqlx::Column::type_info(column);
            if !<T as sqlx::Type<Postgres>>::compatible(declared) {
                return Err(DbErr::Type(format!(
                    "column {index}: a {declared} column does not decode as {}",
                    std::any::type_name::<T>()
                )));
            }
        }
        r.try_get_unchecked::<T, _>(index)
    } else if let Some(r) = row.try_as_sqlite_row() {
        r.try_get::<T, _>(index)
    } else {
        return row.try_get_by_index(index);
    };
    decoded.map_err(|e| column_error(index, e))
}

fn column_error(index: usize, e: sqlx::Error) -> DbErr {
    DbErr::Type(format!("column {index}: {e}"))
}

macro_rules! positional {
    ($($entity:ident { $($field:ident),* $(,)? })*) => {
        $(
            impl Positional for crate::entities::$entity::Model {
                const WIDTH: usize = [$(stringify!($field)),*].len();
                fn read_at(row: &QueryResult, at: usize, types: Types) -> Result<Self, DbErr> {
                    let mut index = at;
                    let mut next = || {
                        index += 1;
                        index - 1
                    };
                    Ok(Self {
                        $($field: column(row, next(), types)?,)*
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
        totp_secret, totp_enabled, totp_last_step, version, created_at, updated_at, issued_by,
    }
    stays {
        id, reference, defender_id, intake_round, referring_organisation, planned_arrival,
        planned_departure, actual_arrival, actual_departure, visa_status, insurance_arranged,
        local_partner, status, confidentiality, accommodation_address_enc, version, created_at,
        updated_at, referring_organisation_enc, local_partner_enc,
    }
    defenders {
        id, codename, codename_key, country_of_work, field_of_work, languages, gender,
        risk_level, data_key_id, identity_enc, legal_name_index, erased_at, version,
        created_at, updated_at,
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
    use crate::entities::{defenders, placements, sessions, staff, stays};

    fn columns<E: EntityTrait>() -> Vec<String> {
        E::Column::iter().map(|c| c.as_str().to_owned()).collect()
    }

    #[test]
    fn every_listed_model_names_its_columns_in_select_order() {
        for (entity, fields) in LISTED {
            let expected = match *entity {
                "defenders" => columns::<defenders::Entity>(),
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
