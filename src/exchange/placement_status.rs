//! A placement's status change as the handler calls it: one transaction
//! that locks the agreement for an acceptance, applies the rules of
//! `placement_rules` and writes the change with its history row and event.

use chrono::NaiveDate;
use uuid::Uuid;

use super::{
    model::{Direction, EducationLevel, PlacementStatus},
    placement_rules::{self, Days, Refusal},
    store,
};
use crate::{
    accounts::{access::Caller, model::Role},
    db::begin_write,
    entities::{placement_status_changes, placements},
    http::problem::{ApiError, ProblemType},
    versioned::{Changes, WriteError},
    AppState,
};

/// A status change, parsed.
pub(crate) struct StatusChange {
    pub to: PlacementStatus,
    pub reason: Option<String>,
    pub override_quota: bool,
    pub actual_start: Option<NaiveDate>,
    pub actual_end: Option<NaiveDate>,
}

/// Moves placement `id` to `change.to`, counting its agreement's quota for
/// an acceptance one acceptance at a time. Answers the placement and the
/// status change as stored.
pub(crate) async fn change(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    change: StatusChange,
) -> Result<(placements::Model, placement_status_changes::Model), ApiError> {
    let coordinator = caller.has(Role::ExchangeCoordinator);
    placement_rules::may_override(change.override_quota, coordinator, change.reason.is_some())
        .map_err(problem)?;
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let m = store::find_placement(&txn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let acceptance = m
        .agreement_id
        .filter(|_| change.to == PlacementStatus::Accepted);
    if let Some(agreement_id) = acceptance {
        store::lock_agreement(&txn, agreement_id).await?;
    }
    // read again under the lock
    let m = store::find_placement(&txn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let from = PlacementStatus::stored(&m.status, "placements.status")?;
    placement_rules::transition(from, change.to).map_err(problem)?;
    let mut overridden = false;
    if let Some(agreement_id) = acceptance {
        let direction = Direction::stored(&m.direction, "placements.direction")?;
        let level = EducationLevel::stored(&m.education_level, "placements.education_level")?;
        let quota = store::quota_places(&txn, agreement_id, direction, level).await?;
        let taken = store::places_taken(&txn, agreement_id, direction, level).await? as i64;
        overridden =
            placement_rules::over_quota(direction, level, quota, taken, change.override_quota)
                .map_err(problem)?;
    }
    let days = Days {
        planned_start: m.planned_start,
        actual_start: m.actual_start,
        actual_end: m.actual_end,
    };
    let today = now.date_naive();
    let (start, end) = placement_rules::actual_dates(
        days,
        change.to,
        change.actual_start,
        change.actual_end,
        today,
    )
    .map_err(problem)?;
    let mut changes = Changes::<placements::Entity>::new();
    if let Some(start) = start {
        changes.set("actualStart", placements::Column::ActualStart, Some(start));
    }
    if let Some(end) = end {
        changes.set("actualEnd", placements::Column::ActualEnd, Some(end));
    }
    let action = if overridden {
        "placement.status_changed.quota_overridden"
    } else {
        "placement.status_changed"
    };
    let row = store::NewStatusChange {
        from: Some(from),
        to: change.to,
        reason: change.reason,
        quota_overridden: overridden,
        by: caller.actor_id,
        by_type: caller.actor_kind().as_str(),
    };
    let written = store::change_status(&txn, &caller.audit, now, &m, changes, row, action)
        .await
        .map_err(|e| match e {
            WriteError::Stale => ApiError::conflict("The placement changed meanwhile; try again."),
            e => e.into(),
        })?;
    txn.commit().await?;
    Ok(written)
}

/// A refusal as the problem the API answers.
pub(crate) fn problem(r: Refusal) -> ApiError {
    let kind = match r {
        Refusal::CoordinatorOnly => ProblemType::CoordinatorOnly,
        Refusal::Illegal { .. } => ProblemType::IllegalTransition,
        Refusal::OverQuota { .. } => ProblemType::OverQuota,
        _ => return ApiError::field(r.field().unwrap_or("body"), r.code(), r.detail()),
    };
    ApiError::typed(kind, r.detail())
}
