//! What hangs off a stay, as the handlers call it: a note, a risk
//! assessment or an activity added (the stay found as far as the caller
//! may see it, the protected text sealed under the defender's data key,
//! the record written with its audit event in one transaction), and each
//! record as the API shows it, its protected text opened.

use uuid::Uuid;

use super::{
    model::{ActivityKind, CheckInOutcome, NoteCategory, RiskLevel},
    sight, store,
    vault::{self, Field},
    views::{
        Activity, CheckIn, NewActivity, NewRiskAssessment, Note, OverdueReview, RiskAssessment,
    },
};
use crate::{
    accounts::access::Caller,
    audit::Event,
    crypto::DataKey,
    db::begin_write,
    entities::{activities, check_ins, risk_assessments, stay_notes},
    http::problem::ApiError,
    AppState,
};
use sea_orm::ActiveValue::Set;

/// The stays' latest risk assessments that are overdue for review, as the
/// API shows them: each with its stay's reference and defender's codename.
pub(crate) async fn overdue_views(
    db: &sea_orm::DatabaseConnection,
    rows: Vec<risk_assessments::Model>,
) -> Result<Vec<OverdueReview>, ApiError> {
    let stay_ids: Vec<Uuid> = rows.iter().map(|r| r.stay_id).collect();
    let stay_rows = store::stays_by_id(db, stay_ids).await?;
    let defenders: Vec<Uuid> = stay_rows.iter().map(|s| s.defender_id).collect();
    let names = store::codenames(db, &defenders).await?;
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
    Ok(items)
}

/// A note as the API shows it.
pub(crate) fn note_view(key: &DataKey, r: &stay_notes::Model) -> Result<Note, ApiError> {
    Ok(Note {
        id: r.id,
        stay_id: r.stay_id,
        category: NoteCategory::stored(&r.category, "stay_notes.category")?,
        body: vault::open_opt(key, Field::NoteBody, r.id, r.body_enc.as_deref())?
            .unwrap_or_default(),
        created_at: r.created_at.into(),
        created_by: r.created_by,
    })
}

/// A risk assessment as the API shows it.
pub(crate) fn risk_view(
    key: &DataKey,
    r: &risk_assessments::Model,
) -> Result<RiskAssessment, ApiError> {
    let open = |field, text: &Option<String>| vault::open_opt(key, field, r.id, text.as_deref());
    Ok(RiskAssessment {
        id: r.id,
        stay_id: r.stay_id,
        level: RiskLevel::stored(&r.level, "risk_assessments.level")?,
        threats: open(Field::RiskThreats, &r.threats_enc)?.unwrap_or_default(),
        measures: open(Field::RiskMeasures, &r.measures_enc)?.unwrap_or_default(),
        next_review_on: r.next_review_on,
        created_at: r.created_at.into(),
        created_by: r.created_by,
    })
}

/// An activity as the API shows it.
pub(crate) fn activity_view(key: &DataKey, a: &activities::Model) -> Result<Activity, ApiError> {
    Ok(Activity {
        id: a.id,
        stay_id: a.stay_id,
        kind: ActivityKind::stored(&a.kind, "activities.kind")?,
        title: vault::open_opt(key, Field::ActivityTitle, a.id, a.title_enc.as_deref())?
            .unwrap_or_default(),
        date: a.date,
        public: a.public,
        created_at: a.created_at.into(),
        created_by: a.created_by,
    })
}

/// A check-in as the API shows it.
pub(crate) fn check_in_view(key: &DataKey, c: &check_ins::Model) -> Result<CheckIn, ApiError> {
    Ok(CheckIn {
        id: c.id,
        stay_id: c.stay_id,
        due_on: c.due_on,
        outcome: CheckInOutcome::stored_opt(c.outcome.as_deref(), "check_ins.outcome")?,
        note: vault::open_opt(key, Field::CheckInNote, c.id, c.note_enc.as_deref())?,
        recorded_at: c.recorded_at.map(Into::into),
        recorded_by: c.recorded_by,
        version: c.version,
    })
}

/// Adds a note with `text` (checked) to stay `stay_id`, as `caller`.
pub(crate) async fn add_note(
    state: &AppState,
    caller: &Caller,
    stay_id: Uuid,
    category: NoteCategory,
    text: &str,
) -> Result<Note, ApiError> {
    let found = sight::stay_in_full(state, caller, stay_id).await?;
    let key = found.data_key(&state.keys)?;
    let ctx = found.audit(&state.keys, caller)?;
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let row = stay_notes::ActiveModel {
        id: Set(id),
        stay_id: Set(stay_id),
        category: Set(category.as_str().to_owned()),
        body_enc: Set(Some(vault::seal(&key, Field::NoteBody, id, text))),
        created_at: Set(now),
        created_by: Set(caller.actor_id),
    };
    let event = Event::new("note.created", 201)
        .on("note", id)
        .fields(vec!["category", "body"]);
    let txn = begin_write(&state.db).await?;
    let created = store::insert_record(&txn, &ctx, now, row, event).await?;
    txn.commit().await?;
    note_view(&key, &created)
}

/// A risk assessment's protected texts, checked.
pub(crate) struct RiskTexts {
    pub threats: String,
    pub measures: String,
}

/// Records a risk assessment of stay `stay_id`, as `caller`.
pub(crate) async fn add_risk_assessment(
    state: &AppState,
    caller: &Caller,
    stay_id: Uuid,
    body: &NewRiskAssessment,
    texts: RiskTexts,
) -> Result<RiskAssessment, ApiError> {
    let found = sight::stay_in_full(state, caller, stay_id).await?;
    let key = found.data_key(&state.keys)?;
    let ctx = found.audit(&state.keys, caller)?;
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let row = risk_assessments::ActiveModel {
        id: Set(id),
        stay_id: Set(stay_id),
        level: Set(body.level.as_str().to_owned()),
        threats_enc: Set(Some(vault::seal(
            &key,
            Field::RiskThreats,
            id,
            &texts.threats,
        ))),
        measures_enc: Set(Some(vault::seal(
            &key,
            Field::RiskMeasures,
            id,
            &texts.measures,
        ))),
        next_review_on: Set(body.next_review_on),
        created_at: Set(now),
        created_by: Set(caller.actor_id),
    };
    let event = Event::new("risk_assessment.created", 201)
        .on("risk_assessment", id)
        .fields(vec!["level", "threats", "measures", "nextReviewOn"]);
    let txn = begin_write(&state.db).await?;
    let created = store::insert_record(&txn, &ctx, now, row, event).await?;
    txn.commit().await?;
    risk_view(&key, &created)
}

/// Adds an activity with `title` (checked) to stay `stay_id`, as `caller`.
pub(crate) async fn add_activity(
    state: &AppState,
    caller: &Caller,
    stay_id: Uuid,
    body: &NewActivity,
    title: String,
) -> Result<Activity, ApiError> {
    let found = sight::stay_in_full(state, caller, stay_id).await?;
    let key = found.data_key(&state.keys)?;
    let ctx = found.audit(&state.keys, caller)?;
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let row = activities::ActiveModel {
        id: Set(id),
        stay_id: Set(stay_id),
        kind: Set(body.kind.as_str().to_owned()),
        // the plaintext column of earlier versions stays empty
        title: Set(String::new()),
        title_enc: Set(Some(vault::seal(&key, Field::ActivityTitle, id, &title))),
        date: Set(body.date),
        public: Set(body.public),
        created_at: Set(now),
        created_by: Set(caller.actor_id),
    };
    let event = Event::new("activity.created", 201).on("activity", id);
    let txn = begin_write(&state.db).await?;
    let created = store::insert_record(&txn, &ctx, now, row, event).await?;
    txn.commit().await?;
    activity_view(&key, &created)
}
