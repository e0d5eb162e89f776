//! Placements: the mobilities, their lifecycle and the agreements' quotas.

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use uuid::Uuid;

use super::{
    grants::Grant,
    model::{Direction, EducationLevel, PlacementKind, PlacementStatus, GRANT_FROZEN},
    placement_intake, placement_status, store,
    views::{
        NewPlacement, NewPlacementStatusChange, Placement, PlacementList, PlacementPage,
        PlacementStatusChange, PlacementStatusChangeList, PlacementUpdate,
    },
};
use crate::{
    accounts::{access::Caller, model::ActorKind},
    audit::{self, Event},
    entities::{placement_status_changes, placements},
    http::etag,
    http::{
        body::JsonBody,
        csv::Csv,
        pagination::PageRequest,
        problem::{ApiError, ApiResult},
        Tag,
    },
    text::{parse_text, stored_json, Corrupt},
    AppState,
};

crate::created_response!(
    PlacementCreated,
    Placement,
    "placement, with status `applied`,"
);

#[derive(ApiResponse)]
pub enum PlacementResponse {
    /// The placement.
    #[oai(status = 200)]
    Ok(Json<Placement>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum PlacementStatusChanged {
    /// The change, recorded.
    #[oai(status = 201)]
    Created(
        Json<PlacementStatusChange>,
        /// The placement's new version, for `If-Match`.
        #[oai(header = "ETag")]
        String,
    ),
}

/// The placement as the API shows it. A stored grant that does not read
/// back is an internal error, never a placement without a grant.
pub(crate) fn placement_view(m: placements::Model) -> Result<Placement, ApiError> {
    let status = PlacementStatus::stored(&m.status, "placements.status")?;
    let grant = match m.grant_json.as_deref() {
        None => None,
        Some(g) => {
            let g = stored_json::<Grant>(g, "placements.grant_json")?;
            Some(Grant {
                frozen: GRANT_FROZEN.contains(&status),
                ..g
            })
        }
    };
    Ok(Placement {
        id: m.id,
        reference: m.reference,
        participant_id: m.participant_id,
        direction: Direction::stored(&m.direction, "placements.direction")?,
        agreement_id: m.agreement_id,
        sending_institution_id: m.sending_institution_id,
        receiving_institution_id: m.receiving_institution_id,
        kind: PlacementKind::stored(&m.kind, "placements.kind")?,
        planned_start: m.planned_start,
        planned_end: m.planned_end,
        actual_start: m.actual_start,
        actual_end: m.actual_end,
        funding_programme: m.funding_programme,
        status,
        education_level: EducationLevel::stored(&m.education_level, "placements.education_level")?,
        country: m.country,
        travel_distance_km: m.travel_distance_km,
        green_travel: m.green_travel,
        grant,
        created_at: m.created_at.into(),
        updated_at: m.updated_at.into(),
        version: m.version,
    })
}

fn change_view(r: placement_status_changes::Model) -> Result<PlacementStatusChange, ApiError> {
    Ok(PlacementStatusChange {
        id: r.id,
        from: PlacementStatus::stored_opt(
            r.from_status.as_deref(),
            "placement_status_changes.from_status",
        )?,
        to: PlacementStatus::stored(&r.to_status, "placement_status_changes.to_status")?,
        reason: r.reason,
        quota_overridden: r.quota_overridden,
        changed_at: r.changed_at.into(),
        changed_by: r.changed_by,
        changed_by_type: ActorKind::stored(
            &r.changed_by_type,
            "placement_status_changes.changed_by_type",
        )?,
    })
}

#[derive(ApiResponse)]
pub enum PlacementListResponse {
    /// A page of placements.
    #[oai(status = 200)]
    Ok(
        crate::http::json::SerdeJson<PlacementPage>,
        /// `<...>; rel="next"` when there is a next page.
        #[oai(header = "Link")]
        Option<String>,
    ),
}

#[derive(ApiResponse)]
pub enum PlacementExport {
    /// Every matching placement as CSV, streamed, newest first.
    #[oai(status = 200)]
    Ok(Csv),
}

/// The filters of the placement list and its export.
#[allow(clippy::too_many_arguments)]
fn filter(
    status: Option<PlacementStatus>,
    direction: Option<Direction>,
    education_level: Option<EducationLevel>,
    country: Option<&str>,
    year: Option<i32>,
    institution: Option<Uuid>,
    agreement: Option<Uuid>,
) -> store::PlacementFilter {
    store::PlacementFilter {
        status,
        direction,
        education_level,
        country: country.map(|c| c.to_ascii_uppercase()),
        year,
        institution,
        agreement,
    }
}

/// The export's columns: the fields of `Placement` (checked by a test), but
/// the record's bookkeeping; the grant as its amount, and the year. Columns
/// added later come last, so that a spreadsheet's formulas keep their places.
const CSV_HEADER: [&str; 20] = [
    "reference",
    "id",
    "participantId",
    "direction",
    "agreementId",
    "sendingInstitutionId",
    "receivingInstitutionId",
    "kind",
    "plannedStart",
    "plannedEnd",
    "actualStart",
    "actualEnd",
    "fundingProgramme",
    "status",
    "educationLevel",
    "country",
    "year",
    "grantAmountCents",
    "travelDistanceKm",
    "greenTravel",
];

/// A placement's CSV row; a stored grant that does not read back is an
/// error (the export stops), not an empty amount.
fn csv_row(m: &placements::Model) -> Result<Vec<String>, Corrupt> {
    let opt = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let grant = match m.grant_json.as_deref() {
        None => String::new(),
        Some(g) => stored_json::<Grant>(g, "placements.grant_json")?
            .amount_cents
            .to_string(),
    };
    Ok(vec![
        m.reference.clone(),
        m.id.to_string(),
        m.participant_id.to_string(),
        m.direction.clone(),
        m.agreement_id.map(|a| a.to_string()).unwrap_or_default(),
        m.sending_institution_id.to_string(),
        m.receiving_institution_id.to_string(),
        m.kind.clone(),
        m.planned_start.to_string(),
        m.planned_end.to_string(),
        opt(m.actual_start),
        opt(m.actual_end),
        m.funding_programme.clone().unwrap_or_default(),
        m.status.clone(),
        m.education_level.clone(),
        m.country.clone(),
        m.year.to_string(),
        grant,
        m.travel_distance_km
            .map(|d| d.to_string())
            .unwrap_or_default(),
        m.green_travel.to_string(),
    ])
}

/// Streams every row of `query` as CSV, newest first, in keyset batches, so an
/// export of any size holds one batch in memory at a time.
fn stream_csv(db: sea_orm::DatabaseConnection, filter: store::PlacementFilter) -> poem::Body {
    const BATCH: u64 = 500;
    enum Step {
        Header,
        After(Option<Uuid>),
        Done,
    }
    let stream = futures_util::stream::unfold(Step::Header, move |step| {
        let db = db.clone();
        let filter = filter.clone();
        async move {
            match step {
                Step::Done => None,
                Step::Header => {
                    let header = vec![CSV_HEADER.iter().map(|h| (*h).to_owned()).collect()];
                    Some((
                        Ok(bytes::Bytes::from(crate::http::csv::to_csv_bytes(&header))),
                        Step::After(None),
                    ))
                }
                Step::After(after) => {
                    match store::list_placements(&db, &filter, after, BATCH).await {
                        Err(e) => {
                            tracing::error!(error = %e, "placement export failed mid-stream");
                            Some((Err(std::io::Error::other("export failed")), Step::Done))
                        }
                        Ok(rows) if rows.is_empty() => None,
                        Ok(rows) => {
                            let next = if (rows.len() as u64) < BATCH {
                                Step::Done
                            } else {
                                Step::After(rows.last().map(|r| r.id))
                            };
                            let table =
                                match rows.iter().map(csv_row).collect::<Result<Vec<_>, _>>() {
                                    Ok(table) => table,
                                    Err(corrupt) => {
                                        tracing::error!(%corrupt, "placement export stopped");
                                        return Some((
                                            Err(std::io::Error::other("export failed")),
                                            Step::Done,
                                        ));
                                    }
                                };
                            Some((
                                Ok(bytes::Bytes::from(crate::http::csv::to_csv_bytes(&table))),
                                next,
                            ))
                        }
                    }
                }
            }
        }
    });
    poem::Body::from_bytes_stream(stream)
}

pub struct PlacementsApi;

#[OpenApi(tag = "Tag::Exchange")]
impl PlacementsApi {
    /// List placements, newest first, with filters.
    ///
    /// For all matching placements as CSV, see `exportPlacements`.
    #[oai(path = "/placements", method = "get", operation_id = "listPlacements")]
    #[allow(clippy::too_many_arguments)]
    async fn list_placements(
        &self,
        state: Data<&AppState>,
        req: &Request,
        status: Query<Option<PlacementStatus>>,
        direction: Query<Option<Direction>>,
        #[oai(name = "educationLevel")] education_level: Query<Option<EducationLevel>>,
        /// The partner country (ISO 3166-1 alpha-2).
        #[oai(validator(max_length = 2))]
        country: Query<Option<String>>,
        /// The year of the planned start.
        #[oai(validator(minimum(value = "1900"), maximum(value = "2200")))]
        year: Query<Option<i32>>,
        /// Sending or receiving institution.
        #[oai(name = "institutionId")]
        institution_id: Query<Option<Uuid>>,
        #[oai(name = "agreementId")] agreement_id: Query<Option<Uuid>>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<PlacementListResponse> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let filter = filter(
            status.0,
            direction.0,
            education_level.0,
            country.0.as_deref(),
            year.0,
            institution_id.0,
            agreement_id.0,
        );
        let rows =
            store::list_placements(&state.db, &filter, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?.try_map(placement_view)?;
        // the list's own answer, said as this operation documents it
        let PlacementList::Ok(body, link) =
            PlacementList::page(rows, &state.config.public_url, req.uri());
        Ok(PlacementListResponse::Ok(body, link))
    }

    /// Export placements as CSV: every placement that matches the filters
    /// (those of `listPlacements`), newest first, streamed (no paging). The
    /// export is audited. Cells a spreadsheet would run as a formula are
    /// prefixed with `'`.
    #[oai(
        path = "/placement-exports",
        method = "get",
        operation_id = "exportPlacements"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn export_placements(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        status: Query<Option<PlacementStatus>>,
        direction: Query<Option<Direction>>,
        #[oai(name = "educationLevel")] education_level: Query<Option<EducationLevel>>,
        /// The partner country (ISO 3166-1 alpha-2).
        #[oai(validator(max_length = 2))]
        country: Query<Option<String>>,
        /// The year of the planned start.
        #[oai(validator(minimum(value = "1900"), maximum(value = "2200")))]
        year: Query<Option<i32>>,
        /// Sending or receiving institution.
        #[oai(name = "institutionId")]
        institution_id: Query<Option<Uuid>>,
        #[oai(name = "agreementId")] agreement_id: Query<Option<Uuid>>,
    ) -> ApiResult<PlacementExport> {
        let filter = filter(
            status.0,
            direction.0,
            education_level.0,
            country.0.as_deref(),
            year.0,
            institution_id.0,
            agreement_id.0,
        );
        audit::record_alone(
            &state.audit,
            state.clock.now(),
            &caller.audit,
            Event::new("placements.exported", 200).on("export", "placements"),
        )
        .await?;
        Ok(PlacementExport::Ok(Csv {
            body: stream_csv(state.db.clone(), filter),
            filename: "placements.csv",
        }))
    }

    /// Register a placement; it starts as `applied` with a new reference.
    #[oai(
        path = "/placements",
        method = "post",
        operation_id = "createPlacement"
    )]
    async fn create_placement(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<NewPlacement>,
    ) -> ApiResult<PlacementCreated> {
        let created = placement_intake::open(*state, &caller, &body).await?;
        let path = format!("/placements/{}", created.id);
        let version = created.version;
        let view = placement_view(created)?;
        Ok(PlacementCreated::at(
            view,
            &state.config.public_url,
            &path,
            version,
        ))
    }

    /// Show a placement.
    #[oai(
        path = "/placements/:id",
        method = "get",
        operation_id = "getPlacement"
    )]
    async fn get_placement(
        &self,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<PlacementResponse> {
        let m = store::find_placement(&state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let tag = etag(m.version);
        Ok(PlacementResponse::Ok(Json(placement_view(m)?), tag))
    }

    /// Change a placement's dates, kind or funding (needs `If-Match`).
    #[oai(
        path = "/placements/:id",
        method = "patch",
        operation_id = "updatePlacement"
    )]
    async fn update_placement(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the version being changed.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<PlacementUpdate>,
    ) -> ApiResult<PlacementResponse> {
        let updated =
            placement_intake::update(*state, &caller, id.0, if_match.0.as_deref(), &body).await?;
        let tag = etag(updated.version);
        Ok(PlacementResponse::Ok(Json(placement_view(updated)?), tag))
    }

    /// The placement's status history, newest first.
    #[oai(
        path = "/placements/:id/status-changes",
        method = "get",
        operation_id = "listPlacementStatusChanges"
    )]
    async fn list_status_changes(
        &self,
        state: Data<&AppState>,
        req: &Request,
        id: Path<Uuid>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<PlacementStatusChangeList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        store::find_placement(&state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let rows =
            store::list_status_changes(&state.db, id.0, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        Ok(PlacementStatusChangeList::page(
            rows.try_map(change_view)?,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Move a placement through its lifecycle.
    ///
    /// Transitions outside the graph are refused with 409, naming the allowed
    /// targets. Accepting a placement under an agreement takes a place of the
    /// quota for its direction and education level; over quota is 409 unless
    /// an exchange coordinator sends `"overrideQuota": true` with a reason.
    /// Concurrent acceptances never overshoot a quota.
    #[oai(
        path = "/placements/:id/status-changes",
        method = "post",
        operation_id = "changePlacementStatus"
    )]
    async fn change_status(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        body: JsonBody<NewPlacementStatusChange>,
    ) -> ApiResult<PlacementStatusChanged> {
        let reason = body
            .reason
            .as_deref()
            .map(parse_reason)
            .transpose()?
            .flatten();
        let change = placement_status::StatusChange {
            to: body.to,
            reason,
            override_quota: body.override_quota == Some(true),
            actual_start: body.actual_start,
            actual_end: body.actual_end,
        };
        let (updated, change) = placement_status::change(*state, &caller, id.0, change).await?;
        Ok(PlacementStatusChanged::Created(
            Json(change_view(change)?),
            etag(updated.version),
        ))
    }
}

/// A status change's reason: text of at most 2,000 characters, none when empty.
fn parse_reason(text: &str) -> Result<Option<String>, ApiError> {
    let reason = parse_text(text, 2000).map_err(|e| ApiError::field("reason", "invalid", e))?;
    Ok(Some(reason).filter(|r| !r.is_empty()))
}
