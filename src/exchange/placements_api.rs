//! Placements: the mobilities, their lifecycle and the agreements' quotas.

use chrono::Datelike;
use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

use super::{
    grants::Grant,
    model::{Direction, EducationLevel, PlacementKind, PlacementStatus, GRANT_FROZEN},
    placement_status, store,
    views::{
        NewPlacement, NewPlacementStatusChange, Placement, PlacementPage, PlacementStatusChange,
        PlacementStatusChangeList, PlacementUpdate,
    },
};
use crate::{
    accounts::{access::Caller, model::ActorKind},
    audit::{self, Event},
    db::begin_write,
    entities::{placement_status_changes, placements},
    http::etag,
    http::{
        body::JsonBody,
        csv::Csv,
        if_match_version,
        pagination::{paginate, PageRequest},
        problem::{ApiError, ApiResult, InvalidParam},
        Tag,
    },
    text::{parse_text, stored_json, Corrupt},
    versioned::Changes,
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
pub fn placement_view(m: placements::Model) -> Result<Placement, ApiError> {
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
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        let link = next.as_deref().and_then(|n| {
            crate::http::pagination::next_link(&state.config.public_url, req.uri(), n)
        });
        Ok(PlacementListResponse::Ok(
            crate::http::json::SerdeJson(PlacementPage {
                items: rows
                    .into_iter()
                    .map(placement_view)
                    .collect::<Result<_, _>>()?,
                next,
            }),
            link,
        ))
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
        let state = *state;
        let mut problems = Vec::new();
        if body.planned_end < body.planned_start {
            problems.push(InvalidParam::new(
                "plannedEnd",
                "before_start",
                "The planned end is before the planned start.",
            ));
        }
        if body.sending_institution_id == body.receiving_institution_id {
            problems.push(InvalidParam::new(
                "receivingInstitutionId",
                "same_as_sending",
                "Sending and receiving institutions differ.",
            ));
        }
        let funding = body
            .funding_programme
            .as_deref()
            .and_then(|f| match parse_text(f, 60) {
                Ok(v) => Some(v).filter(|v| !v.is_empty()),
                Err(r) => {
                    problems.push(InvalidParam::new("fundingProgramme", "invalid", r));
                    None
                }
            });
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let now = state.clock.now();
        let id = Uuid::now_v7();
        let txn = begin_write(&state.db).await?;
        let (participant, sending, receiving) = references(&txn, &body).await?;
        let country = match body.direction {
            Direction::Outgoing => receiving.country,
            Direction::Incoming => sending.country,
        };
        let reference = store::next_placement_reference(&txn, now).await?;
        let row = new_row(id, &body, reference, funding, participant, country, now);
        let first = store::NewStatusChange {
            from: None,
            to: PlacementStatus::Applied,
            reason: None,
            quota_overridden: false,
            by: caller.actor_id,
            by_type: caller.actor_kind().as_str(),
        };
        let created = store::insert_placement(&txn, &caller.audit, now, row, first).await?;
        txn.commit().await?;
        let tag = etag(created.version);
        let location = crate::http::resource_url(
            &state.config.public_url,
            &format!("/placements/{}", created.id),
        );
        Ok(PlacementCreated::Created(
            Json(placement_view(created)?),
            location,
            tag,
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
        let state = *state;
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let m = store::find_placement(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), m.version)?;
        let start = body.planned_start.unwrap_or(m.planned_start);
        let end = body.planned_end.unwrap_or(m.planned_end);
        if end < start {
            return Err(ApiError::field(
                "plannedEnd",
                "before_start",
                "The planned end is before the planned start.",
            ));
        }
        let mut changes = Changes::<placements::Entity>::new();
        if let Some(k) = body.kind {
            changes.set("kind", placements::Column::Kind, k.as_str());
        }
        if body.planned_start.is_some() {
            changes.set("plannedStart", placements::Column::PlannedStart, start);
            changes.also(placements::Column::Year, start.year());
        }
        if body.planned_end.is_some() {
            changes.set("plannedEnd", placements::Column::PlannedEnd, end);
        }
        if let Some(a) = body.actual_start {
            changes.set("actualStart", placements::Column::ActualStart, Some(a));
        }
        if let Some(a) = body.actual_end {
            changes.set("actualEnd", placements::Column::ActualEnd, Some(a));
        }
        if let Some(f) = &body.funding_programme {
            let f =
                parse_text(f, 60).map_err(|r| ApiError::field("fundingProgramme", "invalid", r))?;
            changes.set(
                "fundingProgramme",
                placements::Column::FundingProgramme,
                Some(f).filter(|f| !f.is_empty()),
            );
        }
        if let Some(d) = body.travel_distance_km {
            changes.set(
                "travelDistanceKm",
                placements::Column::TravelDistanceKm,
                Some(d),
            );
        }
        if let Some(g) = body.green_travel {
            changes.set("greenTravel", placements::Column::GreenTravel, g);
        }
        let updated = store::update_placement(&txn, &caller.audit, now, m.id, expected, changes)
            .await?
            .unwrap_or(m);
        txn.commit().await?;
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
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        Ok(PlacementStatusChangeList::page(
            rows.into_iter()
                .map(change_view)
                .collect::<Result<_, _>>()?,
            next,
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

/// The records a new placement names, each checked to exist (one problem
/// per unknown id), and an agreement's partner on the partner side.
async fn references(
    txn: &sea_orm::DatabaseTransaction,
    body: &NewPlacement,
) -> Result<
    (
        crate::entities::participants::Model,
        crate::entities::institutions::Model,
        crate::entities::institutions::Model,
    ),
    ApiError,
> {
    let participant = store::find_participant(txn, body.participant_id).await?;
    let sending = store::find_institution(txn, body.sending_institution_id).await?;
    let receiving = store::find_institution(txn, body.receiving_institution_id).await?;
    let agreement = match body.agreement_id {
        Some(a) => Some(store::find_agreement(txn, a).await?),
        None => None,
    };
    let mut unknown = Vec::new();
    if participant.is_none() {
        unknown.push(InvalidParam::new(
            "participantId",
            "unknown",
            "There is no such participant.",
        ));
    }
    if sending.is_none() {
        unknown.push(InvalidParam::new(
            "sendingInstitutionId",
            "unknown",
            "There is no such institution.",
        ));
    }
    if receiving.is_none() {
        unknown.push(InvalidParam::new(
            "receivingInstitutionId",
            "unknown",
            "There is no such institution.",
        ));
    }
    if matches!(agreement, Some(None)) {
        unknown.push(InvalidParam::new(
            "agreementId",
            "unknown",
            "There is no such agreement.",
        ));
    }
    let (Some(participant), Some(sending), Some(receiving)) = (participant, sending, receiving)
    else {
        return Err(ApiError::invalid(unknown));
    };
    if !unknown.is_empty() {
        return Err(ApiError::invalid(unknown));
    }
    // a placement under an agreement goes to (or comes from) that agreement's partner
    if let Some(Some(a)) = &agreement {
        let partner_side = match body.direction {
            Direction::Outgoing => &receiving,
            Direction::Incoming => &sending,
        };
        if partner_side.id != a.partner_institution_id {
            let field = match body.direction {
                Direction::Outgoing => "receivingInstitutionId",
                Direction::Incoming => "sendingInstitutionId",
            };
            return Err(ApiError::field(
                field,
                "not_agreement_partner",
                "Under an agreement, the partner institution (receiving for outgoing placements, sending for incoming ones) is the agreement's partner.",
            ));
        }
    }
    Ok((participant, sending, receiving))
}

/// The row of a new placement, `applied`.
fn new_row(
    id: Uuid,
    body: &NewPlacement,
    reference: String,
    funding: Option<String>,
    participant: crate::entities::participants::Model,
    country: String,
    now: chrono::DateTime<chrono::Utc>,
) -> placements::ActiveModel {
    placements::ActiveModel {
        id: Set(id),
        reference: Set(reference),
        participant_id: Set(participant.id),
        direction: Set(body.direction.as_str().to_owned()),
        agreement_id: Set(body.agreement_id),
        sending_institution_id: Set(body.sending_institution_id),
        receiving_institution_id: Set(body.receiving_institution_id),
        kind: Set(body.kind.as_str().to_owned()),
        planned_start: Set(body.planned_start),
        planned_end: Set(body.planned_end),
        actual_start: Set(None),
        actual_end: Set(None),
        funding_programme: Set(funding),
        status: Set(PlacementStatus::Applied.as_str().to_owned()),
        education_level: Set(participant.education_level),
        country: Set(country),
        year: Set(body.planned_start.year()),
        travel_distance_km: Set(body.travel_distance_km),
        green_travel: Set(body.green_travel.unwrap_or(false)),
        grant_json: Set(None),
        grant_rate_table_id: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
}
