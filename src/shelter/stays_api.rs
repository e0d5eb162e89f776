//! Stays: the cases, their lifecycle and who is assigned to them.

use chrono::NaiveDate;
use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    model::{Confidentiality, StayStatus, VisaStatus},
    sight::{self, StayInSight},
    stay_changes::{self, check_dates, stay_texts, text_field, StayTexts},
    stay_intake, stay_status, store,
    vault::{self, Field},
    views::{
        Assignment, AssignmentList, NewStatusChange, NewStay, StatusChange, StatusChangeList, Stay,
        StayList, StayUpdate,
    },
};
use crate::{
    accounts::{self, access::Caller, model::Role},
    db::begin_write,
    entities::{stay_assignments, stays},
    http::etag,
    http::{
        body::JsonBody,
        pagination::PageRequest,
        problem::{ApiError, ApiResult, InvalidParam},
        Tag,
    },
    AppState,
};

#[derive(ApiResponse)]
pub enum StayResponse {
    /// The stay.
    #[oai(status = 200)]
    Ok(Json<Stay>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum StayCreated {
    /// Created, with status `referred`.
    #[oai(status = 201)]
    Created(
        Json<Stay>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum StatusChanged {
    /// The change, recorded.
    #[oai(status = 201)]
    Created(
        Json<StatusChange>,
        /// The stay's new version, for `If-Match`.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum AssignmentResponse {
    /// Assigned (or already assigned).
    #[oai(status = 200)]
    Ok(Json<Assignment>),
}

#[derive(ApiResponse)]
pub enum Unassigned {
    /// No longer assigned.
    #[oai(status = 204)]
    Done,
}

/// Sort orders offered for stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
pub(crate) enum StaySort {
    #[oai(rename = "plannedArrival")]
    PlannedArrival,
    #[oai(rename = "-plannedArrival")]
    PlannedArrivalDesc,
}

#[derive(Serialize, Deserialize)]
struct StayCursor(NaiveDate, Uuid);

/// What only those who need to know see of a stay, decrypted.
#[derive(Debug, Default)]
pub(crate) struct StayDetails {
    pub referring_organisation: Option<String>,
    pub local_partner: Option<String>,
    pub accommodation_address: Option<String>,
}

/// A stay as shown: its summary (reference, codename, intake round, status,
/// dates, confidentiality) for everyone who sees it, and with `details`
/// (visa, insurance, the protected texts) for those who need to know.
pub(crate) fn stay_view(
    s: &stays::Model,
    codename: &str,
    details: Option<StayDetails>,
) -> Result<Stay, ApiError> {
    let full = details.is_some();
    let details = details.unwrap_or_default();
    Ok(Stay {
        id: s.id,
        reference: s.reference.clone(),
        defender_id: s.defender_id,
        codename: codename.to_owned(),
        intake_round: s.intake_round.clone(),
        referring_organisation: details.referring_organisation,
        planned_arrival: s.planned_arrival,
        planned_departure: s.planned_departure,
        actual_arrival: s.actual_arrival,
        actual_departure: s.actual_departure,
        visa_status: full
            .then(|| VisaStatus::stored(&s.visa_status, "stays.visa_status"))
            .transpose()?,
        insurance_arranged: full.then_some(s.insurance_arranged),
        local_partner: details.local_partner,
        status: StayStatus::stored(&s.status, "stays.status")?,
        confidentiality: Confidentiality::stored(&s.confidentiality, "stays.confidentiality")?,
        accommodation_address: details.accommodation_address,
        created_at: s.created_at.into(),
        updated_at: s.updated_at.into(),
        version: s.version,
    })
}

/// The details of a stay the caller fully sees (`None` otherwise),
/// decrypted, and their read audited before they leave.
async fn shown_details(
    state: &AppState,
    caller: &Caller,
    found: &StayInSight,
) -> Result<Option<StayDetails>, ApiError> {
    if !found.full {
        return Ok(None);
    }
    let s = &found.stay;
    let sealed = [
        (
            Field::StayAddress,
            &s.accommodation_address_enc,
            "accommodationAddress",
        ),
        (
            Field::StayReferringOrganisation,
            &s.referring_organisation_enc,
            "referringOrganisation",
        ),
        (
            Field::StayLocalPartner,
            &s.local_partner_enc,
            "localPartner",
        ),
    ];
    let read: Vec<&str> = sealed
        .iter()
        .filter(|(_, v, _)| v.is_some())
        .map(|(_, _, name)| *name)
        .collect();
    if read.is_empty() {
        return Ok(Some(StayDetails::default()));
    }
    let key = found.data_key(&state.keys)?;
    let open =
        |field: Field, value: &Option<String>| vault::open_opt(&key, field, s.id, value.as_deref());
    let details = StayDetails {
        accommodation_address: open(Field::StayAddress, &s.accommodation_address_enc)?,
        referring_organisation: open(
            Field::StayReferringOrganisation,
            &s.referring_organisation_enc,
        )?,
        local_partner: open(Field::StayLocalPartner, &s.local_partner_enc)?,
    };
    found.record_read(state, caller, read).await?;
    Ok(Some(details))
}

/// A new stay's body, parsed: every problem at once.
fn new_stay(body: &NewStay) -> Result<stay_intake::NewStay, ApiError> {
    let mut problems = Vec::new();
    let StayTexts {
        intake_round,
        referring: referring_organisation,
        partner: local_partner,
        address: accommodation_address,
    } = stay_texts(
        Some(&body.intake_round),
        body.referring_organisation.as_deref(),
        body.local_partner.as_deref(),
        body.accommodation_address.as_deref(),
        &mut problems,
    );
    check_dates(body.planned_arrival, body.planned_departure, &mut problems);
    let Some(intake_round) = intake_round.filter(|_| problems.is_empty()) else {
        if problems.is_empty() {
            problems.push(InvalidParam::new(
                "intakeRound",
                "required",
                "An intake round is required.",
            ));
        }
        return Err(ApiError::invalid(problems));
    };
    Ok(stay_intake::NewStay {
        defender_id: body.defender_id,
        intake_round,
        referring_organisation,
        local_partner,
        accommodation_address,
        planned_arrival: body.planned_arrival,
        planned_departure: body.planned_departure,
        visa_status: body.visa_status,
        insurance_arranged: body.insurance_arranged,
        confidentiality: body.confidentiality,
    })
}

/// A status change as the API shows it, its reason opened.
fn status_change_view(
    key: &crate::crypto::DataKey,
    r: &crate::entities::stay_status_changes::Model,
) -> Result<StatusChange, ApiError> {
    let reason = r.reason_enc.as_deref();
    Ok(StatusChange {
        id: r.id,
        from: StayStatus::stored_opt(r.from_status.as_deref(), "stay_status_changes.from_status")?,
        to: StayStatus::stored(&r.to_status, "stay_status_changes.to_status")?,
        reason: vault::open_opt(key, Field::StatusChangeReason, r.id, reason)?,
        changed_at: r.changed_at.into(),
        changed_by: r.changed_by,
    })
}

fn assignment_view(a: stay_assignments::Model) -> Assignment {
    Assignment {
        stay_id: a.stay_id,
        staff_id: a.staff_id,
        assigned_at: a.assigned_at.into(),
        assigned_by: a.assigned_by,
    }
}

pub struct StaysApi;

#[OpenApi(tag = "Tag::Stays")]
impl StaysApi {
    /// List stays (summaries, never the address), by planned arrival.
    #[oai(path = "/stays", method = "get", operation_id = "listStays")]
    #[allow(clippy::too_many_arguments)]
    async fn list_stays(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        status: Query<Option<StayStatus>>,
        #[oai(name = "intakeRound", validator(max_length = 40))] intake_round: Query<
            Option<String>,
        >,
        #[oai(name = "defenderId")] defender_id: Query<Option<Uuid>>,
        /// Only stays assigned to the caller.
        #[oai(name = "assignedToMe")]
        assigned_to_me: Query<Option<bool>>,
        /// `plannedArrival` (default) or `-plannedArrival`.
        sort: Query<Option<StaySort>>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<StayList> {
        let page = PageRequest::<StayCursor>::parse(limit.0, cursor.0.as_deref())?;
        let descending = sort.0 == Some(StaySort::PlannedArrivalDesc);
        let filter = store::StayFilter {
            visible: sight::visible_stays(&caller),
            status: status.0,
            intake_round: intake_round.0,
            defender: defender_id.0,
            assigned_to: (assigned_to_me.0 == Some(true)).then_some(caller.actor_id),
        };
        let after = page.after.as_ref().map(|StayCursor(date, id)| (*date, *id));
        let rows =
            store::list_stays(&state.db, filter, after, descending, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| StayCursor(r.stay.planned_arrival, r.stay.id))?;
        let items =
            rows.try_map(|r| stay_view(&r.stay, r.codename.as_deref().unwrap_or_default(), None))?;
        Ok(StayList::page(items, &state.config.public_url, req.uri()))
    }

    /// Open a stay for a defender; it starts as `referred` with a new reference.
    #[oai(path = "/stays", method = "post", operation_id = "createStay")]
    async fn create_stay(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<NewStay>,
    ) -> ApiResult<StayCreated> {
        let new = new_stay(&body)?;
        let (stay, codename) = stay_intake::open(*state, &caller, &new).await?;
        let details = StayDetails {
            referring_organisation: new.referring_organisation,
            local_partner: new.local_partner,
            accommodation_address: new.accommodation_address,
        };
        let location = format!("/stays/{}", stay.id);
        Ok(StayCreated::Created(
            Json(stay_view(&stay, &codename, Some(details))?),
            crate::http::resource_url(&state.config.public_url, &location),
            etag(stay.version),
        ))
    }

    /// Show a stay; the address only to those who need to know (audited).
    #[oai(path = "/stays/:id", method = "get", operation_id = "getStay")]
    async fn get_stay(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<StayResponse> {
        let found = sight::stay(&state, &caller, id.0).await?;
        let details = shown_details(&state, &caller, &found).await?;
        Ok(StayResponse::Ok(
            Json(stay_view(&found.stay, &found.defender.codename, details)?),
            etag(found.stay.version),
        ))
    }

    /// Change a stay (needs `If-Match`). Coordinators, and caseworkers assigned to it.
    ///
    /// Only a coordinator changes `confidentiality`, and only with a reason
    /// in `X-Audit-Reason` (403 `coordinator-only`, 400 without a reason).
    #[oai(path = "/stays/:id", method = "patch", operation_id = "updateStay")]
    async fn update_stay(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the version being changed.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<StayUpdate>,
    ) -> ApiResult<StayResponse> {
        let state = *state;
        let updated =
            stay_changes::update(state, &caller, id.0, if_match.0.as_deref(), &body).await?;
        let shown = shown_details(state, &caller, &updated).await?;
        Ok(StayResponse::Ok(
            Json(stay_view(&updated.stay, &updated.defender.codename, shown)?),
            etag(updated.stay.version),
        ))
    }

    /// The stay's status history, newest first.
    #[oai(
        path = "/stays/:id/status-changes",
        method = "get",
        operation_id = "listStayStatusChanges"
    )]
    async fn list_status_changes(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        id: Path<Uuid>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<StatusChangeList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let found = sight::stay_in_full(&state, &caller, id.0).await?;
        let rows =
            store::stay_status_changes(&state.db, id.0, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        let key = found.data_key(&state.keys)?;
        let items = rows.try_map(|r| status_change_view(&key, &r))?;
        // the reasons are protected free text: their read is on record first
        found
            .record_read(&state, &caller, vec!["statusChanges"])
            .await?;
        Ok(StatusChangeList::page(
            items,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Move a stay through its lifecycle.
    ///
    /// Transitions outside the graph of the product are refused with 409,
    /// naming the allowed targets. Entering `in_residence` sets
    /// `actualArrival` if empty; `returned` sets `actualDeparture` if empty and
    /// schedules the after-care check-ins. Reopening `closed` is for
    /// coordinators and needs a reason; so does an early return.
    #[oai(
        path = "/stays/:id/status-changes",
        method = "post",
        operation_id = "changeStayStatus"
    )]
    async fn change_status(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        body: JsonBody<NewStatusChange>,
    ) -> ApiResult<StatusChanged> {
        let state = *state;
        // an invalid reason is refused, as placements refuse it, not dropped
        let mut problems = Vec::new();
        let reason = text_field("reason", body.reason.as_deref(), 2000, &mut problems);
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let changed = stay_status::change(state, &caller, id.0, body.to, reason.as_deref()).await?;
        Ok(StatusChanged::Created(
            Json(StatusChange {
                id: changed.id,
                from: Some(changed.from),
                to: body.to,
                reason,
                changed_at: changed.at.into(),
                changed_by: caller.actor_id,
            }),
            etag(changed.stay.version),
        ))
    }

    /// Who is assigned to the stay.
    #[oai(
        path = "/stays/:id/assignments",
        method = "get",
        operation_id = "listAssignments"
    )]
    async fn list_assignments(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        id: Path<Uuid>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<AssignmentList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        sight::stay(&state, &caller, id.0).await?;
        let rows = store::assignments(&state.db, id.0, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.staff_id)?;
        Ok(AssignmentList::page(
            rows.map(assignment_view),
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Assign a shelter caseworker or coordinator to the stay.
    #[oai(
        path = "/stays/:id/assignments/:staffId",
        method = "put",
        operation_id = "assignStaff"
    )]
    async fn assign(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        #[oai(name = "staffId")] staff_id: Path<Uuid>,
    ) -> ApiResult<AssignmentResponse> {
        let state = *state;
        let now = state.clock.now();
        let ctx = sight::stay(state, &caller, id.0)
            .await?
            .audit(&state.keys, &caller)?;
        let txn = begin_write(&state.db).await?;
        store::stay(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let member = accounts::store::staff_by_id(&txn, staff_id.0)
            .await?
            .filter(|s| s.active);
        let roles = match &member {
            Some(m) => accounts::store::roles_of(&txn, m.id).await?,
            None => Vec::new(),
        };
        if !roles
            .iter()
            .any(|r| matches!(r, Role::ShelterCaseworker | Role::ShelterCoordinator))
        {
            return Err(ApiError::field(
                "staffId",
                "not_shelter_staff",
                "Only active shelter caseworkers and coordinators can be assigned.",
            ));
        }
        let assignment = store::assign(&txn, &ctx, now, id.0, staff_id.0, caller.actor_id).await?;
        txn.commit().await?;
        Ok(AssignmentResponse::Ok(Json(assignment_view(assignment))))
    }

    /// End an assignment.
    #[oai(
        path = "/stays/:id/assignments/:staffId",
        method = "delete",
        operation_id = "unassignStaff"
    )]
    async fn unassign(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        #[oai(name = "staffId")] staff_id: Path<Uuid>,
    ) -> ApiResult<Unassigned> {
        let state = *state;
        let now = state.clock.now();
        let ctx = sight::stay(state, &caller, id.0)
            .await?
            .audit(&state.keys, &caller)?;
        let txn = begin_write(&state.db).await?;
        store::stay(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if !store::unassign(&txn, &ctx, now, id.0, staff_id.0).await? {
            return Err(ApiError::not_found());
        }
        txn.commit().await?;
        Ok(Unassigned::Done)
    }
}
