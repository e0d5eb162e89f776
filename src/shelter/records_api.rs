//! What hangs off a stay: notes, risk assessments, activities and after-care
//! check-ins. Protected texts are encrypted with the defender's data key; every
//! list of notes, risk assessments or check-ins is audited before it leaves.

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
    check_ins,
    sight::{self, is_coordinator},
    stay_records, store,
    views::{
        Activity, ActivityList, CheckIn, CheckInList, CheckInRecord, NewActivity, NewNote,
        NewRiskAssessment, Note, NoteList, OverdueReviewList, RiskAssessment, RiskAssessmentList,
    },
};
use crate::{
    accounts::access::Caller,
    http::{
        body::JsonBody,
        etag,
        pagination::{Page, PageRequest},
        problem::{ApiError, ApiResult},
        Tag,
    },
    text::parse_text,
    AppState,
};

#[derive(ApiResponse)]
pub enum NoteCreated {
    /// Recorded.
    #[oai(status = 201)]
    Created(Json<Note>),
}

#[derive(ApiResponse)]
pub enum RiskCreated {
    /// Recorded.
    #[oai(status = 201)]
    Created(Json<RiskAssessment>),
}

#[derive(ApiResponse)]
pub enum ActivityCreated {
    /// Recorded.
    #[oai(status = 201)]
    Created(Json<Activity>),
}

#[derive(ApiResponse)]
pub enum CheckInRecorded {
    /// Recorded.
    #[oai(status = 200)]
    Ok(Json<CheckIn>, #[oai(header = "ETag")] String),
}

fn protected_text(name: &str, value: &str, max: usize) -> Result<String, ApiError> {
    match parse_text(value, max) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err(ApiError::field(name, "required", "Must not be empty.")),
        Err(reason) => Err(ApiError::field(name, "invalid", reason)),
    }
}

#[derive(Serialize, Deserialize)]
struct ReviewCursor(NaiveDate, Uuid);

pub struct StayRecordsApi;

#[OpenApi(tag = "Tag::StayRecords")]
impl StayRecordsApi {
    /// A stay's notes, newest first (audited).
    #[oai(path = "/stays/:id/notes", method = "get", operation_id = "listNotes")]
    async fn list_notes(
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
    ) -> ApiResult<NoteList> {
        let state = *state;
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let found = sight::stay_in_full(state, &caller, id.0).await?;
        let rows = store::notes(&state.db, id.0, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        let key = found.data_key(&state.keys)?;
        let items = rows.try_map(|r| stay_records::note_view(&key, &r))?;
        found.record_read(state, &caller, vec!["notes"]).await?;
        Ok(NoteList::page(items, &state.config.public_url, req.uri()))
    }

    /// Add a note to a stay.
    #[oai(
        path = "/stays/:id/notes",
        method = "post",
        operation_id = "createNote"
    )]
    async fn create_note(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        body: JsonBody<NewNote>,
    ) -> ApiResult<NoteCreated> {
        let text = protected_text("body", &body.body, 10_000)?;
        let note = stay_records::add_note(*state, &caller, id.0, body.category, &text).await?;
        Ok(NoteCreated::Created(Json(note)))
    }

    /// A stay's risk assessments, newest first (audited).
    #[oai(
        path = "/stays/:id/risk-assessments",
        method = "get",
        operation_id = "listRiskAssessments"
    )]
    async fn list_risk_assessments(
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
    ) -> ApiResult<RiskAssessmentList> {
        let state = *state;
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let found = sight::stay_in_full(state, &caller, id.0).await?;
        let rows = store::risk_assessments(&state.db, id.0, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        let key = found.data_key(&state.keys)?;
        let items = rows.try_map(|r| stay_records::risk_view(&key, &r))?;
        found
            .record_read(state, &caller, vec!["riskAssessments"])
            .await?;
        Ok(RiskAssessmentList::page(
            items,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Record a risk assessment.
    #[oai(
        path = "/stays/:id/risk-assessments",
        method = "post",
        operation_id = "createRiskAssessment"
    )]
    async fn create_risk_assessment(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        body: JsonBody<NewRiskAssessment>,
    ) -> ApiResult<RiskCreated> {
        let texts = stay_records::RiskTexts {
            threats: protected_text("threats", &body.threats, 10_000)?,
            measures: protected_text("measures", &body.measures, 10_000)?,
        };
        let assessment =
            stay_records::add_risk_assessment(*state, &caller, id.0, &body, texts).await?;
        Ok(RiskCreated::Created(Json(assessment)))
    }

    /// Stays whose latest risk assessment is due for review (review date
    /// today or earlier), earliest first. Caseworkers see their assigned stays.
    #[oai(
        path = "/overdue-risk-reviews",
        method = "get",
        operation_id = "listOverdueRiskReviews"
    )]
    async fn list_overdue(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<OverdueReviewList> {
        let page = PageRequest::<ReviewCursor>::parse(limit.0, cursor.0.as_deref())?;
        let today = state.clock.now().date_naive();
        let assigned_to = (!is_coordinator(&caller)).then_some(caller.actor_id);
        let after = page
            .after
            .as_ref()
            .map(|ReviewCursor(date, id)| (*date, *id));
        let rows = store::overdue_reviews(&state.db, today, assigned_to, after, page.fetch_limit())
            .await?;
        let Page { rows, next } = page.cut(rows, |r| ReviewCursor(r.next_review_on, r.id))?;
        let items = Page {
            rows: stay_records::overdue_views(&state.db, rows).await?,
            next,
        };
        Ok(OverdueReviewList::page(
            items,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// A stay's programme activities, newest first.
    #[oai(
        path = "/stays/:id/activities",
        method = "get",
        operation_id = "listActivities"
    )]
    async fn list_activities(
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
    ) -> ApiResult<ActivityList> {
        let state = *state;
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        // titles are protected free text: need to know, like notes
        let found = sight::stay_in_full(state, &caller, id.0).await?;
        let rows = store::activities(&state.db, id.0, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        let key = found.data_key(&state.keys)?;
        let items = rows.try_map(|a| stay_records::activity_view(&key, &a))?;
        found
            .record_read(state, &caller, vec!["activities"])
            .await?;
        Ok(ActivityList::page(
            items,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Add a programme activity.
    #[oai(
        path = "/stays/:id/activities",
        method = "post",
        operation_id = "createActivity"
    )]
    async fn create_activity(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        body: JsonBody<NewActivity>,
    ) -> ApiResult<ActivityCreated> {
        let title = protected_text("title", &body.title, 200)?;
        let activity = stay_records::add_activity(*state, &caller, id.0, &body, title).await?;
        Ok(ActivityCreated::Created(Json(activity)))
    }

    /// A stay's after-care check-ins, latest due first (audited).
    #[oai(
        path = "/stays/:id/check-ins",
        method = "get",
        operation_id = "listCheckIns"
    )]
    async fn list_check_ins(
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
    ) -> ApiResult<CheckInList> {
        let state = *state;
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let found = sight::stay_in_full(state, &caller, id.0).await?;
        let rows = store::check_ins(&state.db, id.0, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        let key = found.data_key(&state.keys)?;
        let items = rows.try_map(|c| stay_records::check_in_view(&key, &c))?;
        found.record_read(state, &caller, vec!["checkIns"]).await?;
        Ok(CheckInList::page(
            items,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Record how a check-in went: done, missed or escalated, with a protected note.
    ///
    /// Needs the check-in's version in `If-Match` (its `version` in the list),
    /// so that recording it again never overwrites a record the caller has not
    /// seen. A note left out keeps the note recorded before.
    #[oai(
        path = "/stays/:id/check-ins/:checkInId",
        method = "put",
        operation_id = "recordCheckIn"
    )]
    async fn record_check_in(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        #[oai(name = "checkInId")] check_in_id: Path<Uuid>,
        /// The ETag of the version being recorded.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<CheckInRecord>,
    ) -> ApiResult<CheckInRecorded> {
        let note = match body.note.as_deref() {
            Some(n) => Some(protected_text("note", n, 10_000)?),
            None => None,
        };
        let ids = (id.0, check_in_id.0);
        let if_match = if_match.0.as_deref();
        let r = check_ins::record(*state, &caller, ids, if_match, body.outcome, note).await?;
        Ok(CheckInRecorded::Ok(
            Json(CheckIn {
                id: r.id,
                stay_id: id.0,
                due_on: r.due_on,
                outcome: Some(body.outcome),
                note: r.note,
                recorded_at: Some(r.at.into()),
                recorded_by: Some(caller.actor_id),
                version: r.version,
            }),
            etag(r.version),
        ))
    }
}
