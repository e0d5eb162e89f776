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
use sea_orm::ActiveValue::Set;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    check_ins,
    model::{ActivityKind, CheckInOutcome, NoteCategory, RiskLevel},
    sight::{self, is_coordinator},
    store,
    vault::{self, Field},
    views::{
        Activity, ActivityList, CheckIn, CheckInList, CheckInRecord, NewActivity, NewNote,
        NewRiskAssessment, Note, NoteList, OverdueReview, OverdueReviewList, RiskAssessment,
        RiskAssessmentList,
    },
};
use crate::{
    accounts::access::Caller,
    audit::{self, Event},
    db::begin_write,
    entities::{activities, risk_assessments, stay_notes},
    http::{
        body::JsonBody,
        etag,
        pagination::{paginate, PageRequest},
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
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        let key = found.data_key(&state.keys)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push(Note {
                id: r.id,
                stay_id: r.stay_id,
                category: NoteCategory::stored(&r.category, "stay_notes.category")?,
                body: vault::open_opt(&key, Field::NoteBody, r.id, r.body_enc.as_deref())?
                    .unwrap_or_default(),
                created_at: r.created_at.into(),
                created_by: r.created_by,
            });
        }
        audit::record_alone(
            &state.audit,
            state.clock.now(),
            &found.audit(&state.keys, &caller)?,
            Event::new("read", 200)
                .on("stay", id.0)
                .fields(vec!["notes"]),
        )
        .await?;
        Ok(NoteList::page(
            items,
            next,
            &state.config.public_url,
            req.uri(),
        ))
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
        let state = *state;
        let text = protected_text("body", &body.body, 10_000)?;
        let found = sight::stay_in_full(state, &caller, id.0).await?;
        let key = found.data_key(&state.keys)?;
        let now = state.clock.now();
        let note_id = Uuid::now_v7();
        let txn = begin_write(&state.db).await?;
        let row = stay_notes::ActiveModel {
            id: Set(note_id),
            stay_id: Set(id.0),
            category: Set(body.category.as_str().to_owned()),
            body_enc: Set(Some(vault::seal(&key, Field::NoteBody, note_id, &text))),
            created_at: Set(now),
            created_by: Set(caller.actor_id),
        };
        store::insert_record(
            &txn,
            &found.audit(&state.keys, &caller)?,
            now,
            row,
            Event::new("note.created", 201)
                .on("note", note_id)
                .fields(vec!["category", "body"]),
        )
        .await?;
        txn.commit().await?;
        Ok(NoteCreated::Created(Json(Note {
            id: note_id,
            stay_id: id.0,
            category: body.category,
            body: text,
            created_at: now.into(),
            created_by: caller.actor_id,
        })))
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
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        let key = found.data_key(&state.keys)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push(RiskAssessment {
                id: r.id,
                stay_id: r.stay_id,
                level: RiskLevel::stored(&r.level, "risk_assessments.level")?,
                threats: vault::open_opt(&key, Field::RiskThreats, r.id, r.threats_enc.as_deref())?
                    .unwrap_or_default(),
                measures: vault::open_opt(
                    &key,
                    Field::RiskMeasures,
                    r.id,
                    r.measures_enc.as_deref(),
                )?
                .unwrap_or_default(),
                next_review_on: r.next_review_on,
                created_at: r.created_at.into(),
                created_by: r.created_by,
            });
        }
        audit::record_alone(
            &state.audit,
            state.clock.now(),
            &found.audit(&state.keys, &caller)?,
            Event::new("read", 200)
                .on("stay", id.0)
                .fields(vec!["riskAssessments"]),
        )
        .await?;
        Ok(RiskAssessmentList::page(
            items,
            next,
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
        let state = *state;
        let threats = protected_text("threats", &body.threats, 10_000)?;
        let measures = protected_text("measures", &body.measures, 10_000)?;
        let found = sight::stay_in_full(state, &caller, id.0).await?;
        let key = found.data_key(&state.keys)?;
        let now = state.clock.now();
        let rid = Uuid::now_v7();
        let txn = begin_write(&state.db).await?;
        let row = risk_assessments::ActiveModel {
            id: Set(rid),
            stay_id: Set(id.0),
            level: Set(body.level.as_str().to_owned()),
            threats_enc: Set(Some(vault::seal(&key, Field::RiskThreats, rid, &threats))),
            measures_enc: Set(Some(vault::seal(&key, Field::RiskMeasures, rid, &measures))),
            next_review_on: Set(body.next_review_on),
            created_at: Set(now),
            created_by: Set(caller.actor_id),
        };
        store::insert_record(
            &txn,
            &found.audit(&state.keys, &caller)?,
            now,
            row,
            Event::new("risk_assessment.created", 201)
                .on("risk_assessment", rid)
                .fields(vec!["level", "threats", "measures", "nextReviewOn"]),
        )
        .await?;
        txn.commit().await?;
        Ok(RiskCreated::Created(Json(RiskAssessment {
            id: rid,
            stay_id: id.0,
            level: body.level,
            threats,
            measures,
            next_review_on: body.next_review_on,
            created_at: now.into(),
            created_by: caller.actor_id,
        })))
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
        let (rows, next) = paginate(rows, page.limit, |r| ReviewCursor(r.next_review_on, r.id))?;
        let stay_ids: Vec<Uuid> = rows.iter().map(|r| r.stay_id).collect();
        let stay_rows = store::stays_by_id(&state.db, stay_ids).await?;
        let names = store::codenames(
            &state.db,
            &stay_rows.iter().map(|s| s.defender_id).collect::<Vec<_>>(),
        )
        .await?;
        let mut items = Vec::new();
        for r in rows {
            let Some(s) = stay_rows.iter().find(|s| s.id == r.stay_id) else {
                continue;
            };
            items.push(OverdueReview {
                stay_id: s.id,
                reference: s.reference.clone(),
                codename: names.get(&s.defender_id).cloned().unwrap_or_default(),
                level: RiskLevel::stored(&r.level, "risk_assessments.level")?,
                next_review_on: r.next_review_on,
            });
        }
        Ok(OverdueReviewList::page(
            items,
            next,
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
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        let key = found.data_key(&state.keys)?;
        let mut items = Vec::with_capacity(rows.len());
        for a in rows {
            items.push(Activity {
                id: a.id,
                stay_id: a.stay_id,
                kind: ActivityKind::stored(&a.kind, "activities.kind")?,
                title: vault::open_opt(&key, Field::ActivityTitle, a.id, a.title_enc.as_deref())?
                    .unwrap_or_default(),
                date: a.date,
                public: a.public,
                created_at: a.created_at.into(),
                created_by: a.created_by,
            });
        }
        audit::record_alone(
            &state.audit,
            state.clock.now(),
            &found.audit(&state.keys, &caller)?,
            Event::new("read", 200)
                .on("stay", id.0)
                .fields(vec!["activities"]),
        )
        .await?;
        Ok(ActivityList::page(
            items,
            next,
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
        let state = *state;
        let title = protected_text("title", &body.title, 200)?;
        let found = sight::stay_in_full(state, &caller, id.0).await?;
        let key = found.data_key(&state.keys)?;
        let ctx = found.audit(&state.keys, &caller)?;
        let now = state.clock.now();
        let aid = Uuid::now_v7();
        let txn = begin_write(&state.db).await?;
        let row = activities::ActiveModel {
            id: Set(aid),
            stay_id: Set(id.0),
            kind: Set(body.kind.as_str().to_owned()),
            // the plaintext column of earlier versions stays empty
            title: Set(String::new()),
            title_enc: Set(Some(vault::seal(&key, Field::ActivityTitle, aid, &title))),
            date: Set(body.date),
            public: Set(body.public),
            created_at: Set(now),
            created_by: Set(caller.actor_id),
        };
        store::insert_record(
            &txn,
            &ctx,
            now,
            row,
            Event::new("activity.created", 201).on("activity", aid),
        )
        .await?;
        txn.commit().await?;
        Ok(ActivityCreated::Created(Json(Activity {
            id: aid,
            stay_id: id.0,
            kind: body.kind,
            title,
            date: body.date,
            public: body.public,
            created_at: now.into(),
            created_by: caller.actor_id,
        })))
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
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        let key = found.data_key(&state.keys)?;
        let mut items = Vec::with_capacity(rows.len());
        for c in rows {
            items.push(CheckIn {
                id: c.id,
                stay_id: c.stay_id,
                due_on: c.due_on,
                outcome: CheckInOutcome::stored_opt(c.outcome.as_deref(), "check_ins.outcome")?,
                note: vault::open_opt(&key, Field::CheckInNote, c.id, c.note_enc.as_deref())?,
                recorded_at: c.recorded_at.map(Into::into),
                recorded_by: c.recorded_by,
                version: c.version,
            });
        }
        audit::record_alone(
            &state.audit,
            state.clock.now(),
            &found.audit(&state.keys, &caller)?,
            Event::new("read", 200)
                .on("stay", id.0)
                .fields(vec!["checkIns"]),
        )
        .await?;
        Ok(CheckInList::page(
            items,
            next,
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
