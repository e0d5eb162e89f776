//! A stay's status change as the handler calls it: one transaction that
//! re-reads the stay, applies the rules of `lifecycle`, records the actual
//! arrival or departure, and writes the change with its sealed reason, its
//! history row, its event and, for a stay that closes or reopens, its
//! archive index entry.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    lifecycle::{self, Refusal},
    model::StayStatus,
    sight::{self, is_coordinator},
    store,
    vault::{self, Field},
};
use crate::{
    accounts::access::Caller,
    db::begin_write,
    entities::stays,
    http::problem::{ApiError, ProblemType},
    versioned::{Changes, WriteError},
    AppState,
};

/// A written status change.
pub(crate) struct Changed {
    pub id: Uuid,
    pub from: StayStatus,
    pub at: DateTime<Utc>,
    pub stay: stays::Model,
}

/// Moves stay `id` (as far as the caller may see it) to `to`, with
/// `reason` (trimmed, empty as none).
pub(crate) async fn change(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    to: StayStatus,
    reason: Option<&str>,
) -> Result<Changed, ApiError> {
    let found = sight::stay_in_full(state, caller, id).await?;
    let now = state.clock.now();
    let today = now.date_naive();
    let txn = begin_write(&state.db).await?;
    // re-read inside the write transaction: the status may have moved meanwhile
    let (s, _) = store::stay(&txn, found.stay.id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let from = StayStatus::stored(&s.status, "stays.status")?;
    lifecycle::check(from, to, reason, is_coordinator(caller)).map_err(|r| problem(r, from, to))?;
    let mut changes = Changes::<stays::Entity>::new();
    if to == StayStatus::InResidence && s.actual_arrival.is_none() {
        changes.set("actualArrival", stays::Column::ActualArrival, Some(today));
    }
    if to == StayStatus::Returned && s.actual_departure.is_none() {
        changes.set(
            "actualDeparture",
            stays::Column::ActualDeparture,
            Some(today),
        );
    }
    let change_id = Uuid::now_v7();
    let key = found.data_key(&state.keys)?;
    let change = store::NewStayStatusChange {
        id: change_id,
        from: Some(from),
        to,
        reason_enc: vault::seal_opt(&key, Field::StatusChangeReason, change_id, reason),
        by: caller.actor_id,
    };
    let ctx = found.audit(&state.keys, caller)?;
    let months = &state.config.aftercare_months;
    let stay = store::change_stay_status(&txn, &ctx, now, &s, changes, change, months)
        .await
        .map_err(|e| match e {
            WriteError::Stale => ApiError::conflict("The stay changed meanwhile; try again."),
            e => e.into(),
        })?;
    txn.commit().await?;
    Ok(Changed {
        id: change_id,
        from,
        at: now,
        stay,
    })
}

/// A refusal of the lifecycle as the problem the API answers.
pub(crate) fn problem(refusal: Refusal, from: StayStatus, to: StayStatus) -> ApiError {
    match refusal {
        Refusal::NotAllowed(targets) => {
            let names: Vec<&str> = targets.iter().map(|t| t.as_str()).collect();
            ApiError::typed(
                ProblemType::IllegalTransition,
                format!(
                    "A stay cannot go from {} to {}; allowed: {}.",
                    from.as_str(),
                    to.as_str(),
                    names.join(", ")
                ),
            )
        }
        Refusal::ReasonRequired(why) => ApiError::field(
            "reason",
            "required",
            format!("A reason is required: {why}."),
        ),
        Refusal::CoordinatorOnly => ApiError::typed(
            ProblemType::CoordinatorOnly,
            "Only a shelter coordinator may reopen a closed stay.",
        ),
    }
}

/// A refusal of a confidentiality change as the problem the API answers.
pub(crate) fn confidentiality_problem(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::CoordinatorOnly => ApiError::typed(
            ProblemType::CoordinatorOnly,
            "Only a shelter coordinator may change a stay's confidentiality.",
        ),
        Refusal::ReasonRequired(why) => ApiError::field(
            "X-Audit-Reason",
            "required",
            format!("A reason is required: {why}."),
        ),
        // not a refusal check_confidentiality makes
        Refusal::NotAllowed(_) => ApiError::internal(),
    }
}
