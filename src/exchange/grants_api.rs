//! Grant rate tables: versioned, valid from a date, never edited once used.

use chrono::NaiveDate;
use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, Object, OpenApi,
};
use uuid::Uuid;

use super::{
    grants::{check_rates, CountryGroup, Rates, TravelBand},
    store,
};
use crate::{
    accounts::access::Caller,
    db::begin_write,
    entities::grant_rate_tables,
    http::{
        body::JsonBody,
        if_match_version,
        pagination::PageRequest,
        problem::{ApiError, ApiResult},
        types::Timestamp,
        Tag,
    },
    versioned::WriteError,
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
pub(crate) struct NewGrantRateTable {
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

fn view(m: grant_rate_tables::Model) -> Result<GrantRateTable, ApiError> {
    let rates = store::parse_rates(&m)?;
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

const VALID_FROM_TAKEN: &str = "Another rate table is valid from this date.";

fn valid_from_taken() -> ApiError {
    ApiError::conflict(VALID_FROM_TAKEN)
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
        let rows = store::list_rate_tables(&state.db, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.valid_from)?;
        let items = rows.try_map(view)?;
        Ok(GrantRateTableList::page(
            items,
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
        let txn = begin_write(&state.db).await?;
        if store::valid_from_taken(&txn, body.valid_from, None).await? {
            return Err(valid_from_taken());
        }
        let created = store::insert_rate_table(&txn, &caller.audit, now, body.valid_from, rates)
            .await
            .map_err(crate::http::problem::taken(VALID_FROM_TAKEN))?;
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
        let m = store::find_rate_table(&state.db, id.0)
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
        let m = store::find_rate_table(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), m.version)?;
        if m.used {
            return Err(ApiError::conflict(
                "This rate table was used for a grant and can no longer change; add a new version.",
            ));
        }
        if store::valid_from_taken(&txn, body.valid_from, Some(m.id)).await? {
            return Err(valid_from_taken());
        }
        // only while still unused and unchanged: a grant computed meanwhile wins
        let updated = store::replace_rate_table(
            &txn,
            &caller.audit,
            now,
            m.id,
            expected,
            body.valid_from,
            rates,
        )
        .await
        .map_err(|e| match e {
            WriteError::Stale => {
                ApiError::conflict("The rate table changed or was used meanwhile; fetch it again.")
            }
            e => crate::http::problem::write_taken(VALID_FROM_TAKEN)(e),
        })?;
        txn.commit().await?;
        let tag = crate::http::etag(updated.version);
        Ok(GrantRateTableResponse::Ok(Json(view(updated)?), tag))
    }
}
