//! Grant rate tables: versioned, valid from a date, never edited once used.

use chrono::NaiveDate;
use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, Object, OpenApi,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::grants::{check_rates, CountryGroup, Rates, TravelBand};
use crate::{
    accounts::access::Caller,
    audit::{self, Event},
    db::begin_write,
    entities::grant_rate_tables,
    http::{
        body::JsonBody,
        if_match_version,
        pagination::{paginate, PageRequest},
        problem::{ApiError, ApiResult},
        types::Timestamp,
        Tag,
    },
    AppState,
};

/// A version of the grant rates.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct GrantRateTable {
    pub id: Uuid,
    /// 1, 2, 3, ... in order of creation.
    pub table_version: i32,
    /// Placements starting on or after this date use this table (until a later one).
    pub valid_from: NaiveDate,
    pub country_groups: Vec<CountryGroup>,
    pub travel_bands: Vec<TravelBand>,
    pub inclusion_top_up_monthly_cents: i64,
    /// A placement's grant was computed from it: it can no longer change.
    pub used: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewGrantRateTable {
    pub valid_from: NaiveDate,
    #[oai(validator(max_items = 50))]
    pub country_groups: Vec<CountryGroup>,
    #[oai(validator(max_items = 50))]
    pub travel_bands: Vec<TravelBand>,
    #[oai(validator(minimum(value = "0"), maximum(value = "10000000")))]
    pub inclusion_top_up_monthly_cents: i64,
}

crate::created_response!(GrantRateTableCreated, GrantRateTable, "grant rate table");

#[derive(ApiResponse)]
pub enum GrantRateTableResponse {
    /// The table.
    #[oai(status = 200)]
    Ok(Json<GrantRateTable>, #[oai(header = "ETag")] String),
}

crate::list_types!(
    GrantRateTablePage,
    GrantRateTableList,
    GrantRateTable,
    "grant rate tables, by valid-from date"
);

pub fn parse_rates(m: &grant_rate_tables::Model) -> Result<Rates, ApiError> {
    serde_json::from_str(&m.rates).map_err(|_| {
        tracing::error!(table = %m.id, "stored grant rates do not parse");
        ApiError::internal()
    })
}

fn view(m: grant_rate_tables::Model) -> Result<GrantRateTable, ApiError> {
    let rates = parse_rates(&m)?;
    Ok(GrantRateTable {
        id: m.id,
        table_version: m.table_version,
        valid_from: m.valid_from,
        country_groups: rates.country_groups,
        travel_bands: rates.travel_bands,
        inclusion_top_up_monthly_cents: rates.inclusion_top_up_monthly_cents,
        used: m.used,
        created_at: m.created_at.into(),
        updated_at: m.updated_at.into(),
        version: m.version,
    })
}

fn rates_of(body: &NewGrantRateTable) -> Result<String, ApiError> {
    let rates = Rates {
        country_groups: body
            .country_groups
            .iter()
            .map(|g| CountryGroup {
                countries: g
                    .countries
                    .iter()
                    .map(|c| c.trim().to_ascii_uppercase())
                    .collect(),
                ..g.clone()
            })
            .collect(),
        travel_bands: body.travel_bands.clone(),
        inclusion_top_up_monthly_cents: body.inclusion_top_up_monthly_cents,
    };
    let mut problems = Vec::new();
    check_rates(&rates, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    serde_json::to_string(&rates).map_err(|_| ApiError::internal())
}

async fn valid_from_taken(
    db: &impl ConnectionTrait,
    date: NaiveDate,
    except: Option<Uuid>,
) -> Result<bool, ApiError> {
    let mut q =
        grant_rate_tables::Entity::find().filter(grant_rate_tables::Column::ValidFrom.eq(date));
    if let Some(id) = except {
        q = q.filter(grant_rate_tables::Column::Id.ne(id));
    }
    Ok(q.one(db).await?.is_some())
}

pub struct GrantRatesApi;

#[OpenApi(tag = "Tag::Exchange")]
impl GrantRatesApi {
    /// List grant rate tables by valid-from date.
    #[oai(path = "/grant-rates", method = "get", operation_id = "listGrantRates")]
    async fn list(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<GrantRateTableList> {
        let page = PageRequest::<NaiveDate>::parse(limit.0, cursor.0.as_deref())?;
        let mut q = grant_rate_tables::Entity::find();
        if let Some(after) = page.after {
            q = q.filter(grant_rate_tables::Column::ValidFrom.gt(after));
        }
        let rows = q
            .order_by_asc(grant_rate_tables::Column::ValidFrom)
            .limit(page.fetch_limit())
            .all(&state.db)
            .await?;
        let (rows, next) = paginate(rows, page.limit, |r| r.valid_from)?;
        let items = rows.into_iter().map(view).collect::<Result<Vec<_>, _>>()?;
        Ok(GrantRateTableList::page(
            items,
            next,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Add a version of the grant rates.
    #[oai(
        path = "/grant-rates",
        method = "post",
        operation_id = "createGrantRates"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<NewGrantRateTable>,
    ) -> ApiResult<GrantRateTableCreated> {
        let state = *state;
        let rates = rates_of(&body)?;
        let now = state.clock.now();
        let id = Uuid::now_v7();
        let txn = begin_write(&state.db).await?;
        if valid_from_taken(&txn, body.valid_from, None).await? {
            return Err(ApiError::conflict(
                "Another rate table is valid from this date.",
            ));
        }
        let last = grant_rate_tables::Entity::find()
            .order_by_desc(grant_rate_tables::Column::TableVersion)
            .one(&txn)
            .await?
            .map_or(0, |t| t.table_version);
        grant_rate_tables::Entity::insert(grant_rate_tables::ActiveModel {
            id: Set(id),
            table_version: Set(last + 1),
            valid_from: Set(body.valid_from),
            rates: Set(rates),
            used: Set(false),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        audit::record(
            &txn,
            now,
            &caller.audit,
            Event::new("grant_rates.created", 201).on("grant_rates", id),
        )
        .await?;
        let created = grant_rate_tables::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::internal)?;
        txn.commit().await?;
        let tag = crate::http::etag(created.version);
        let location = crate::http::resource_url(
            &state.config.public_url,
            &format!("/grant-rates/{}", created.id),
        );
        Ok(GrantRateTableCreated::Created(
            Json(view(created)?),
            location,
            tag,
        ))
    }

    /// Show a grant rate table.
    #[oai(
        path = "/grant-rates/:id",
        method = "get",
        operation_id = "getGrantRates"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<GrantRateTableResponse> {
        let m = grant_rate_tables::Entity::find_by_id(id.0)
            .one(&state.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let tag = crate::http::etag(m.version);
        Ok(GrantRateTableResponse::Ok(Json(view(m)?), tag))
    }

    /// Replace a grant rate table's rates and date (needs `If-Match`); refused
    /// with 409 once a placement's grant was computed from it.
    #[oai(
        path = "/grant-rates/:id",
        method = "put",
        operation_id = "replaceGrantRates"
    )]
    async fn replace(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the version being replaced.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<NewGrantRateTable>,
    ) -> ApiResult<GrantRateTableResponse> {
        let state = *state;
        let rates = rates_of(&body)?;
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let m = grant_rate_tables::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), m.version)?;
        if m.used {
            return Err(ApiError::conflict(
                "This rate table was used for a grant and can no longer change; add a new version.",
            ));
        }
        if valid_from_taken(&txn, body.valid_from, Some(m.id)).await? {
            return Err(ApiError::conflict(
                "Another rate table is valid from this date.",
            ));
        }
        // only while still unused and unchanged: a grant computed meanwhile wins
        use sea_orm::sea_query::Expr;
        let written = grant_rate_tables::Entity::update_many()
            .col_expr(
                grant_rate_tables::Column::ValidFrom,
                Expr::value(body.valid_from),
            )
            .col_expr(grant_rate_tables::Column::Rates, Expr::value(rates))
            .col_expr(
                grant_rate_tables::Column::Version,
                Expr::value(expected + 1),
            )
            .col_expr(grant_rate_tables::Column::UpdatedAt, Expr::value(now))
            .filter(grant_rate_tables::Column::Id.eq(m.id))
            .filter(grant_rate_tables::Column::Version.eq(expected))
            .filter(grant_rate_tables::Column::Used.eq(false))
            .exec(&txn)
            .await?;
        if written.rows_affected != 1 {
            return Err(ApiError::conflict(
                "The rate table changed or was used meanwhile; fetch it again.",
            ));
        }
        audit::record(
            &txn,
            now,
            &caller.audit,
            Event::new("grant_rates.replaced", 200)
                .on("grant_rates", m.id)
                .fields(vec!["validFrom", "rates"]),
        )
        .await?;
        let updated = grant_rate_tables::Entity::find_by_id(m.id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::internal)?;
        txn.commit().await?;
        let tag = crate::http::etag(updated.version);
        Ok(GrantRateTableResponse::Ok(Json(view(updated)?), tag))
    }
}
