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
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
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
    db::{
        begin_write,
        versioned::{self, Changes},
    },
    entities::{activities, check_ins, risk_assessments, stay_notes, stays},
    http::{
        body::JsonBody,
        etag, if_match_version,
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
        let q = stay_notes::Entity::find().filter(stay_notes::Column::StayId.eq(id.0));
        let rows = crate::http::pagination::newest_first(
            q,
            stay_notes::Column::Id,
            page.after,
            page.fetch_limit(),
        )
        .all(&state.db)
        .await?;
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
        stay_notes::Entity::insert(stay_notes::ActiveModel {
            id: Set(note_id),
            stay_id: Set(id.0),
            category: Set(body.category.as_str().to_owned()),
            body_enc: Set(Some(vault::seal(&key, Field::NoteBody, note_id, &text))),
            created_at: Set(now),
            created_by: Set(caller.actor_id),
        })
        .exec_without_returning(&txn)
        .await?;
        audit::record(
            &txn,
            now,
            &found.audit(&state.keys, &caller)?,
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
        let q = risk_assessments::Entity::find().filter(risk_assessments::Column::StayId.eq(id.0));
        let rows = crate::http::pagination::newest_first(
            q,
            risk_assessments::Column::Id,
            page.after,
            page.fetch_limit(),
        )
        .all(&state.db)
        .await?;
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
        risk_assessments::Entity::insert(risk_assessments::ActiveModel {
            id: Set(rid),
            stay_id: Set(id.0),
            level: Set(body.level.as_str().to_owned()),
            threats_enc: Set(Some(vault::seal(&key, Field::RiskThreats, rid, &threats))),
            measures_enc: Set(Some(vault::seal(&key, Field::RiskMeasures, rid, &measures))),
            next_review_on: Set(body.next_review_on),
            created_at: Set(now),
            created_by: Set(caller.actor_id),
        })
        .exec_without_returning(&txn)
        .await?;
        audit::record(
            &txn,
            now,
            &found.audit(&state.keys, &caller)?,
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
        use sea_orm::sea_query::{Alias, ExprTrait, Query as SqlQuery};
        let page = PageRequest::<ReviewCursor>::parse(limit.0, cursor.0.as_deref())?;
        let today = state.clock.now().date_naive();
        // the latest assessment of each stay: no later one exists for the same stay
        let later = SqlQuery::select()
            .expr(Expr::val(1))
            .from_as(risk_assessments::Entity, Alias::new("later"))
            .and_where(
                Expr::col((Alias::new("later"), risk_assessments::Column::StayId))
                    .equals((risk_assessments::Entity, risk_assessments::Column::StayId)),
            )
            .and_where(
                Expr::col((Alias::new("later"), risk_assessments::Column::Id)).gt(Expr::col((
                    risk_assessments::Entity,
                    risk_assessments::Column::Id,
                ))),
            )
            .to_owned();
        let mut stays_in_view = stays::Entity::find()
            .filter(store::stay_visible())
            .select_only()
            .column(stays::Column::Id);
        if !is_coordinator(&caller) {
            stays_in_view = stays_in_view.filter(store::stay_assigned_to(caller.actor_id));
        }
        let mut q = risk_assessments::Entity::find()
            .filter(Expr::exists(later).not())
            .filter(risk_assessments::Column::NextReviewOn.lte(today))
            .filter(
                risk_assessments::Column::StayId
                    .in_subquery(sea_orm::QueryTrait::into_query(stays_in_view)),
            );
        if let Some(ReviewCursor(date, rid)) = page.after {
            q = q.filter(
                Expr::tuple([
                    Expr::col((
                        risk_assessments::Entity,
                        risk_assessments::Column::NextReviewOn,
                    )),
                    Expr::col((risk_assessments::Entity, risk_assessments::Column::Id)),
                ])
                .gt(Expr::tuple([Expr::val(date), Expr::val(rid)])),
            );
        }
        let rows = q
            .order_by_asc(risk_assessments::Column::NextReviewOn)
            .order_by_asc(risk_assessments::Column::Id)
            .limit(page.fetch_limit())
            .all(&state.db)
            .await?;
        let (rows, next) = paginate(rows, page.limit, |r| ReviewCursor(r.next_review_on, r.id))?;
        let stay_ids: Vec<Uuid> = rows.iter().map(|r| r.stay_id).collect();
        let stay_rows = stays::Entity::find()
            .filter(stays::Column::Id.is_in(stay_ids))
            .all(&state.db)
            .await?;
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
        let q = activities::Entity::find().filter(activities::Column::StayId.eq(id.0));
        let rows = crate::http::pagination::newest_first(
            q,
            activities::Column::Id,
            page.after,
            page.fetch_limit(),
        )
        .all(&state.db)
        .await?;
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
        activities::Entity::insert(activities::ActiveModel {
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
        })
        .exec_without_returning(&txn)
        .await?;
        audit::record(
            &txn,
            now,
            &ctx,
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
        let q = check_ins::Entity::find().filter(check_ins::Column::StayId.eq(id.0));
        let rows = crate::http::pagination::newest_first(
            q,
            check_ins::Column::Id,
            page.after,
            page.fetch_limit(),
        )
        .all(&state.db)
        .await?;
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
        let state = *state;
        let note = match body.note.as_deref() {
            Some(n) => Some(protected_text("note", n, 10_000)?),
            None => None,
        };
        let found = sight::stay_in_full(state, &caller, id.0).await?;
        let key = found.data_key(&state.keys)?;
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let existing = check_ins::Entity::find_by_id(check_in_id.0)
            .filter(check_ins::Column::StayId.eq(id.0))
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), existing.version)?;
        let mut changes = Changes::<check_ins::Entity>::new();
        changes.set(
            "outcome",
            check_ins::Column::Outcome,
            Some(body.outcome.as_str()),
        );
        changes.also(check_ins::Column::RecordedBy, Some(caller.actor_id));
        if note.is_some() {
            let sealed = vault::seal_opt(&key, Field::CheckInNote, existing.id, note.as_deref());
            changes.set("note", check_ins::Column::NoteEnc, sealed);
        }
        let ctx = found.audit(&state.keys, &caller)?;
        let event = Event::new("check_in.recorded", 200).on("check_in", existing.id);
        // the outcome is always written: the check-in's version always moves
        let version = versioned::update(&txn, &ctx, now, existing.id, expected, changes, event)
            .await?
            .map_or(expected, |row| row.version);
        // the answer shows the note kept: a read of it, audited as one
        let note = match note {
            Some(n) => Some(n),
            None if existing.note_enc.is_some() => {
                audit::record(
                    &txn,
                    now,
                    &ctx,
                    Event::new("read", 200)
                        .on("check_in", existing.id)
                        .fields(vec!["note"]),
                )
                .await?;
                vault::open_opt(
                    &key,
                    Field::CheckInNote,
                    existing.id,
                    existing.note_enc.as_deref(),
                )?
            }
            None => None,
        };
        txn.commit().await?;
        Ok(CheckInRecorded::Ok(
            Json(CheckIn {
                id: existing.id,
                stay_id: id.0,
                due_on: existing.due_on,
                outcome: Some(body.outcome),
                note,
                recorded_at: Some(now.into()),
                recorded_by: Some(caller.actor_id),
                version,
            }),
            etag(version),
        ))
    }
}
