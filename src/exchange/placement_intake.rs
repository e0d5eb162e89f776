//! A placement created and changed as the handlers call it: the body's
//! problems all at once ([`new_problems`], [`changes`], pure), then one
//! transaction that checks what the placement names, writes the row with
//! its first status (or its changes) and its event.

use chrono::{DateTime, Datelike, Utc};
use sea_orm::{ActiveValue::Set, DatabaseTransaction};
use uuid::Uuid;

use super::{
    model::{Direction, PlacementStatus},
    store,
    views::{NewPlacement, PlacementUpdate},
};
use crate::{
    accounts::access::Caller,
    db::begin_write,
    entities::{institutions, participants, placements},
    http::{
        body::patch_text,
        if_match_version,
        problem::{ApiError, InvalidParam},
    },
    text::parse_text,
    versioned::Changes,
    AppState,
};

const BEFORE_START: &str = "The planned end is before the planned start.";

/// A funding programme as stored: text of at most 60 characters, none when
/// empty; a problem for `fundingProgramme` otherwise.
fn funding(text: &str, problems: &mut Vec<InvalidParam>) -> Option<String> {
    match parse_text(text, 60) {
        Ok(v) => Some(v).filter(|v| !v.is_empty()),
        Err(r) => {
            problems.push(InvalidParam::new("fundingProgramme", "invalid", r));
            None
        }
    }
}

/// Every problem of a new placement's body that needs no database, and
/// its funding programme as stored.
pub(crate) fn new_problems(body: &NewPlacement) -> (Vec<InvalidParam>, Option<String>) {
    let mut problems = Vec::new();
    if body.planned_end < body.planned_start {
        problems.push(InvalidParam::new(
            "plannedEnd",
            "before_start",
            BEFORE_START,
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
        .and_then(|f| funding(f, &mut problems));
    (problems, funding)
}

/// Creates a placement, `applied`, as `caller`.
pub(crate) async fn open(
    state: &AppState,
    caller: &Caller,
    body: &NewPlacement,
) -> Result<placements::Model, ApiError> {
    let (problems, funding) = new_problems(body);
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let (participant, sending, receiving) = references(&txn, body).await?;
    let country = match body.direction {
        Direction::Outgoing => receiving.country,
        Direction::Incoming => sending.country,
    };
    let reference = store::next_placement_reference(&txn, now).await?;
    let row = new_row(body, reference, funding, participant, country, now);
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
    Ok(created)
}

/// The columns `body` changes in `current`, or every problem at once.
pub(crate) fn changes(
    body: &PlacementUpdate,
    current: &placements::Model,
) -> Result<Changes<placements::Entity>, Vec<InvalidParam>> {
    use placements::Column as C;
    let mut problems = Vec::new();
    let mut changes = Changes::<placements::Entity>::new();
    let start = body.planned_start.unwrap_or(current.planned_start);
    let end = body.planned_end.unwrap_or(current.planned_end);
    if end < start {
        problems.push(InvalidParam::new(
            "plannedEnd",
            "before_start",
            BEFORE_START,
        ));
    }
    if let Some(k) = body.kind {
        changes.set("kind", C::Kind, k.as_str());
    }
    if body.planned_start.is_some() {
        changes.set("plannedStart", C::PlannedStart, start);
        changes.also(C::Year, start.year());
    }
    if body.planned_end.is_some() {
        changes.set("plannedEnd", C::PlannedEnd, end);
    }
    check_clearing(body, current, &mut problems);
    if let Some(a) = body.actual_start.as_opt_ref() {
        changes.set("actualStart", C::ActualStart, a.copied());
    }
    if let Some(a) = body.actual_end.as_opt_ref() {
        changes.set("actualEnd", C::ActualEnd, a.copied());
    }
    if let Some(f) = patch_text(&body.funding_programme) {
        let f = funding(f, &mut problems);
        changes.set("fundingProgramme", C::FundingProgramme, f);
    }
    if let Some(d) = body.travel_distance_km.as_opt_ref() {
        changes.set("travelDistanceKm", C::TravelDistanceKm, d.copied());
    }
    if let Some(g) = body.green_travel {
        changes.set("greenTravel", C::GreenTravel, g);
    }
    if problems.is_empty() {
        Ok(changes)
    } else {
        Err(problems)
    }
}

/// An actual day the status recorded is corrected, never removed: the
/// start can be cleared only before the placement started, the end only
/// before it ended.
fn check_clearing(
    body: &PlacementUpdate,
    current: &placements::Model,
    problems: &mut Vec<InvalidParam>,
) {
    use PlacementStatus::*;
    let Some(status) = PlacementStatus::parse(&current.status) else {
        return; // a stored status it cannot read: the write refuses it elsewhere
    };
    let not_started = matches!(
        status,
        Applied | Nominated | Accepted | AgreementSigned | Rejected | Withdrawn
    );
    let not_ended = not_started || status == InProgress;
    let recorded = [
        (
            "actualStart",
            body.actual_start.is_null(),
            current.actual_start,
            not_started,
        ),
        (
            "actualEnd",
            body.actual_end.is_null(),
            current.actual_end,
            not_ended,
        ),
    ];
    for (name, cleared, stored, clearable) in recorded {
        if cleared && stored.is_some() && !clearable {
            problems.push(InvalidParam::new(
                name,
                "recorded_by_status",
                format!(
                    "The placement is {}: this day was recorded by its status and can be corrected, not removed.",
                    status.as_str()
                ),
            ));
        }
    }
}

/// Changes placement `id` at the version `if_match` names, as `caller`.
pub(crate) async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    if_match: Option<&str>,
    body: &PlacementUpdate,
) -> Result<placements::Model, ApiError> {
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let m = store::find_placement(&txn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let expected = if_match_version(if_match, m.version)?;
    let changes = changes(body, &m).map_err(ApiError::invalid)?;
    let updated = store::update_placement(&txn, &caller.audit, now, m.id, expected, changes)
        .await?
        .unwrap_or(m);
    txn.commit().await?;
    Ok(updated)
}

/// The records a new placement names, each checked to exist (one problem
/// per unknown id), and an agreement's partner on the partner side.
async fn references(
    txn: &DatabaseTransaction,
    body: &NewPlacement,
) -> Result<
    (
        participants::Model,
        institutions::Model,
        institutions::Model,
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
    let mut missing = |absent: bool, field: &str, what: &str| {
        if absent {
            let detail = format!("There is no such {what}.");
            unknown.push(InvalidParam::new(field, "unknown", detail));
        }
    };
    missing(participant.is_none(), "participantId", "participant");
    missing(sending.is_none(), "sendingInstitutionId", "institution");
    missing(receiving.is_none(), "receivingInstitutionId", "institution");
    missing(matches!(agreement, Some(None)), "agreementId", "agreement");
    let (Some(participant), Some(sending), Some(receiving)) = (participant, sending, receiving)
    else {
        return Err(ApiError::invalid(unknown));
    };
    if !unknown.is_empty() {
        return Err(ApiError::invalid(unknown));
    }
    // a placement under an agreement goes to (or comes from) that agreement's partner
    if let Some(Some(a)) = &agreement {
        let (partner_side, field) = match body.direction {
            Direction::Outgoing => (&receiving, "receivingInstitutionId"),
            Direction::Incoming => (&sending, "sendingInstitutionId"),
        };
        if partner_side.id != a.partner_institution_id {
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
    body: &NewPlacement,
    reference: String,
    funding: Option<String>,
    participant: participants::Model,
    country: String,
    now: DateTime<Utc>,
) -> placements::ActiveModel {
    placements::ActiveModel {
        id: Set(Uuid::now_v7()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use poem_openapi::types::MaybeUndefined;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    fn current() -> placements::Model {
        let now = DateTime::<Utc>::default();
        placements::Model {
            id: Uuid::nil(),
            reference: "EX-2027-0001".into(),
            participant_id: Uuid::nil(),
            direction: "outgoing".into(),
            agreement_id: None,
            sending_institution_id: Uuid::nil(),
            receiving_institution_id: Uuid::nil(),
            kind: "traineeship".into(),
            planned_start: day("2027-02-01"),
            planned_end: day("2027-04-30"),
            actual_start: None,
            actual_end: None,
            funding_programme: None,
            status: "applied".into(),
            education_level: "mbo_4".into(),
            country: "PT".into(),
            year: 2027,
            travel_distance_km: None,
            green_travel: false,
            grant_json: None,
            grant_rate_table_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    fn update() -> PlacementUpdate {
        PlacementUpdate {
            kind: None,
            planned_start: None,
            planned_end: None,
            actual_start: MaybeUndefined::Undefined,
            actual_end: MaybeUndefined::Undefined,
            funding_programme: MaybeUndefined::Undefined,
            travel_distance_km: MaybeUndefined::Undefined,
            green_travel: None,
        }
    }

    #[test]
    fn a_patch_reports_every_problem_at_once() {
        let body = PlacementUpdate {
            planned_end: Some(day("2027-01-01")),
            funding_programme: MaybeUndefined::Value("bad\u{0}text".into()),
            ..update()
        };
        let problems = changes(&body, &current()).err().unwrap_or_default();
        let fields: Vec<&str> = problems.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(fields, ["plannedEnd", "fundingProgramme"]);
    }

    #[test]
    fn the_end_is_checked_against_the_stored_start() {
        let body = PlacementUpdate {
            planned_start: Some(day("2027-05-01")),
            ..update()
        };
        assert!(changes(&body, &current()).is_err());
        let body = PlacementUpdate {
            planned_start: Some(day("2027-03-01")),
            ..update()
        };
        assert!(changes(&body, &current()).is_ok());
    }

    #[test]
    fn an_actual_day_the_status_recorded_is_corrected_not_removed() {
        let cleared = PlacementUpdate {
            actual_start: MaybeUndefined::Null,
            actual_end: MaybeUndefined::Null,
            ..update()
        };
        let started = |status: &str, end: Option<NaiveDate>| placements::Model {
            status: status.into(),
            actual_start: Some(day("2027-02-03")),
            actual_end: end,
            ..current()
        };
        let refused = |m: &placements::Model| -> Vec<String> {
            let problems = changes(&cleared, m).err().unwrap_or_default();
            problems
                .iter()
                .map(|p| format!("{} {}", p.name, p.code))
                .collect()
        };
        assert_eq!(
            refused(&started("completed", Some(day("2027-04-30")))),
            [
                "actualStart recorded_by_status",
                "actualEnd recorded_by_status"
            ]
        );
        assert_eq!(
            refused(&started("in_progress", None)),
            ["actualStart recorded_by_status"]
        );
        // a day set by hand before the placement started may be taken back
        let early = started("agreement_signed", None);
        assert!(refused(&early).is_empty());
        let corrected = PlacementUpdate {
            actual_start: MaybeUndefined::Value(day("2027-02-04")),
            ..update()
        };
        assert!(changes(&corrected, &started("completed", Some(day("2027-04-30")))).is_ok());
    }
}
