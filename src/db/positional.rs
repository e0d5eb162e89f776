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
//! lists its fields in that order; unit tests hold each list equal to the
//! select list of the SQL SeaORM builds (plain, joined, with an expression
//! after), on both backends, so a field added to an entity but not here, or
//! a SeaORM that builds its selects otherwise, fails them. SeaORM is pinned
//! to its minor version (`~2.0`) in `Cargo.toml`.

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
        // the build that measures SeaORM's own way: every column by name
        if cfg!(feature = "seaorm-rows") {
            read.push(M::read_named(row)?);
            continue;
        }
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
    /// Reads it as SeaORM's derived `FromQueryResult` does, every column by
    /// name: what `all` does in the `seaorm-rows` build, which exists only
    /// to measure this module against (README, "Evidence").
    fn read_named(row: &QueryResult) -> Result<Self, DbErr>;
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
                fn read_named(row: &QueryResult) -> Result<Self, DbErr> {
                    <Self as sea_orm::FromQueryResult>::from_query_result(row, "")
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
    use sea_orm::{DbBackend, EntityTrait, QueryTrait};

    use super::LISTED;
    use crate::entities::{defenders, placements, sessions, staff, stays};

    const BACKENDS: [DbBackend; 2] = [DbBackend::Postgres, DbBackend::Sqlite];

    /// The select list of the SQL SeaORM really builds for `select`: each
    /// item's column (or, for an expression, its alias), in order.
    fn selected(select: impl QueryTrait, backend: DbBackend) -> Vec<String> {
        let sql = select.build(backend).sql;
        let list = sql
            .strip_prefix("SELECT ")
            .and_then(|rest| rest.split_once(" FROM ").map(|(list, _)| list))
            .unwrap_or_else(|| panic!("not a plain select: {sql}"));
        let mut items = Vec::new();
        let (mut depth, mut start) = (0i32, 0);
        for (i, c) in list.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&list[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&list[start..]);
        items
            .into_iter()
            .map(|item| {
                let item = item.trim();
                // `expr AS "alias"` is named by its alias when it is an
                // expression, by its column when it is `"t"."c" AS "B_c"`
                let (expr, alias) = item.split_once(" AS ").unwrap_or((item, item));
                let named = if expr.starts_with('(') { alias } else { expr };
                named
                    .rsplit('.')
                    .next()
                    .unwrap_or(named)
                    .trim_matches(|c| c == '"' || c == '`')
                    .to_owned()
            })
            .collect()
    }

    fn listed(entity: &str) -> Vec<String> {
        LISTED
            .iter()
            .find(|(e, _)| *e == entity)
            .unwrap_or_else(|| panic!("{entity} is not read by position"))
            .1
            .iter()
            .map(|f| (*f).to_owned())
            .collect()
    }

    fn find(entity: &str, backend: DbBackend) -> Vec<String> {
        match entity {
            "defenders" => selected(defenders::Entity::find(), backend),
            "placements" => selected(placements::Entity::find(), backend),
            "sessions" => selected(sessions::Entity::find(), backend),
            "staff" => selected(staff::Entity::find(), backend),
            "stays" => selected(stays::Entity::find(), backend),
            other => panic!("{other} is read by position but not checked here"),
        }
    }

    /// Each listed model reads the columns of the SQL SeaORM builds for
    /// `Entity::find()`, in that order, on both backends: a field added to
    /// an entity, or a SeaORM that orders its select list otherwise, fails.
    #[test]
    fn every_listed_model_names_the_columns_of_its_select_in_order() {
        for backend in BACKENDS {
            for (entity, _) in LISTED {
                assert_eq!(
                    listed(entity),
                    find(entity, backend),
                    "{entity} {backend:?}"
                );
            }
        }
    }

    /// The joined and extended selects read by position put the second
    /// entity's columns right after the first's, and an expression last.
    #[test]
    fn joined_selects_put_the_related_columns_after_and_expressions_last() {
        for backend in BACKENDS {
            let mut expected = listed("stays");
            expected.extend(listed("defenders"));
            assert_eq!(
                selected(
                    stays::Entity::find().find_also_related(defenders::Entity),
                    backend
                ),
                expected,
                "{backend:?}"
            );
            let mut expected = listed("sessions");
            expected.extend(listed("staff"));
            assert_eq!(
                selected(
                    sessions::Entity::find().find_also_related(staff::Entity),
                    backend
                ),
                expected,
                "{backend:?}"
            );
            let mut expected = listed("stays");
            expected.push("codename".to_owned());
            assert_eq!(
                selected(
                    crate::shelter::store::with_codename(stays::Entity::find()),
                    backend
                ),
                expected,
                "{backend:?}"
            );
        }
    }
}
