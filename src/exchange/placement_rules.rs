//! The rules of a placement's status change, without I/O: the transition
//! graph, who may accept over an agreement's quota and with what, and which
//! actual start and end days a move records. `placement_status::change`
//! applies them in one transaction; each refusal says which field it is
//! about and why, in the words the API answers with.

use chrono::NaiveDate;

use super::model::{allowed_targets, Direction, EducationLevel, PlacementStatus};

/// Why a status change is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Only an exchange coordinator accepts over quota.
    CoordinatorOnly,
    /// Accepting over quota needs a reason.
    ReasonRequired,
    /// `to` is not reachable from `from`.
    Illegal {
        from: PlacementStatus,
        to: PlacementStatus,
    },
    /// The agreement's quota for the placement's direction and level is used up.
    OverQuota {
        direction: Direction,
        level: EducationLevel,
        quota: i64,
        taken: i64,
    },
    /// An actual day after today.
    Future {
        field: &'static str,
        today: NaiveDate,
    },
    /// An actual start or end this move does not record.
    NotApplicable { field: &'static str },
    /// A start before the planned start must name its day.
    StartRequired { planned: NaiveDate },
    /// An end before the actual start.
    EndBeforeStart,
}

impl Refusal {
    /// The body field the refusal is about, if one.
    pub(crate) fn field(&self) -> Option<&'static str> {
        match self {
            Self::ReasonRequired => Some("reason"),
            Self::Future { field, .. } | Self::NotApplicable { field } => Some(field),
            Self::StartRequired { .. } => Some("actualStart"),
            Self::EndBeforeStart => Some("actualEnd"),
            Self::CoordinatorOnly | Self::Illegal { .. } | Self::OverQuota { .. } => None,
        }
    }

    /// The `invalidParams` code of a refusal about a field.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::ReasonRequired | Self::StartRequired { .. } => "required",
            Self::Future { .. } => "future",
            Self::NotApplicable { .. } => "not_applicable",
            Self::EndBeforeStart => "before_start",
            Self::CoordinatorOnly => "coordinator_only",
            Self::Illegal { .. } => "illegal_transition",
            Self::OverQuota { .. } => "over_quota",
        }
    }

    /// What the caller is told.
    pub(crate) fn detail(&self) -> String {
        match self {
            Self::CoordinatorOnly => "Only an exchange coordinator may accept over quota.".to_owned(),
            Self::ReasonRequired => "Overriding a quota needs a reason.".to_owned(),
            Self::Illegal { from, to } => {
                let names: Vec<&str> = allowed_targets(*from).iter().map(|t| t.as_str()).collect();
                let allowed = if names.is_empty() {
                    "none (a final state)".to_owned()
                } else {
                    names.join(", ")
                };
                format!(
                    "A placement cannot go from {} to {}; allowed: {allowed}.",
                    from.as_str(),
                    to.as_str()
                )
            }
            Self::OverQuota {
                direction,
                level,
                quota,
                taken,
            } => format!(
                "The agreement's quota for {} {} placements is {quota} and {taken} are taken; an exchange coordinator may override it with a reason.",
                direction.as_str(),
                level.as_str()
            ),
            Self::Future { today, .. } => format!("Must not be after today ({today})."),
            Self::NotApplicable { field: "actualStart" } => {
                "Only a move to in_progress of a placement not yet started records a start."
                    .to_owned()
            }
            Self::NotApplicable { .. } => {
                "Only ending a started placement (completed, interrupted, cancelled) records an end."
                    .to_owned()
            }
            Self::StartRequired { planned } => format!(
                "The planned start is {planned}; to start before it, say the day in actualStart."
            ),
            Self::EndBeforeStart => "Must not be before the placement's actual start.".to_owned(),
        }
    }
}

/// Whether the caller may ask to accept over quota: a coordinator, with a reason.
pub(crate) fn may_override(
    override_quota: bool,
    is_coordinator: bool,
    has_reason: bool,
) -> Result<(), Refusal> {
    match (override_quota, is_coordinator, has_reason) {
        (false, _, _) => Ok(()),
        (true, false, _) => Err(Refusal::CoordinatorOnly),
        (true, true, false) => Err(Refusal::ReasonRequired),
        (true, true, true) => Ok(()),
    }
}

/// Whether a placement may move from `from` to `to`.
pub(crate) fn transition(from: PlacementStatus, to: PlacementStatus) -> Result<(), Refusal> {
    if allowed_targets(from).contains(&to) {
        Ok(())
    } else {
        Err(Refusal::Illegal { from, to })
    }
}

/// An acceptance against a quota of `quota` places with `taken` taken:
/// whether it goes over (allowed only with `override_quota`).
pub(crate) fn over_quota(
    direction: Direction,
    level: EducationLevel,
    quota: i64,
    taken: i64,
    override_quota: bool,
) -> Result<bool, Refusal> {
    match (taken >= quota, override_quota) {
        (false, _) => Ok(false),
        (true, true) => Ok(true),
        (true, false) => Err(Refusal::OverQuota {
            direction,
            level,
            quota,
            taken,
        }),
    }
}

/// A placement's days as they stand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Days {
    pub planned_start: NaiveDate,
    pub actual_start: Option<NaiveDate>,
    pub actual_end: Option<NaiveDate>,
}

/// The actual start and end a move to `to` records: a start when a
/// placement not yet started goes `in_progress` (today, or the day said,
/// which must be said when before the planned start), an end when a started
/// one ends (today or the day said, not before its start). Days said for a
/// move that records none, or after today, are refused.
pub(crate) fn actual_dates(
    days: Days,
    to: PlacementStatus,
    said_start: Option<NaiveDate>,
    said_end: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>), Refusal> {
    for (field, day) in [("actualStart", said_start), ("actualEnd", said_end)] {
        if day.is_some_and(|d| d > today) {
            return Err(Refusal::Future { field, today });
        }
    }
    let starts = to == PlacementStatus::InProgress && days.actual_start.is_none();
    let ends = matches!(
        to,
        PlacementStatus::Completed | PlacementStatus::Interrupted | PlacementStatus::Cancelled
    ) && days.actual_start.is_some()
        && days.actual_end.is_none();
    if said_start.is_some() && !starts {
        return Err(Refusal::NotApplicable {
            field: "actualStart",
        });
    }
    if said_end.is_some() && !ends {
        return Err(Refusal::NotApplicable { field: "actualEnd" });
    }
    let start = match (starts, said_start) {
        (false, _) => None,
        (true, Some(day)) => Some(day),
        (true, None) if today < days.planned_start => {
            return Err(Refusal::StartRequired {
                planned: days.planned_start,
            })
        }
        (true, None) => Some(today),
    };
    let end = if ends {
        let day = said_end.unwrap_or(today);
        if days.actual_start.is_some_and(|s| day < s) {
            return Err(Refusal::EndBeforeStart);
        }
        Some(day)
    } else {
        None
    };
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlacementStatus::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn every_status_reaches_only_its_targets() {
        for from in PlacementStatus::ALL {
            for to in PlacementStatus::ALL {
                let allowed = allowed_targets(*from).contains(to);
                assert_eq!(
                    transition(*from, *to).is_ok(),
                    allowed,
                    "{from:?} -> {to:?}"
                );
            }
        }
        let refusal = transition(Reported, Applied).unwrap_err();
        assert_eq!(
            refusal.detail(),
            "A placement cannot go from reported to applied; allowed: none (a final state)."
        );
        assert_eq!(refusal.field(), None);
    }

    #[test]
    fn only_a_coordinator_with_a_reason_accepts_over_quota() {
        assert_eq!(may_override(false, false, false), Ok(()));
        assert_eq!(
            may_override(true, false, true),
            Err(Refusal::CoordinatorOnly)
        );
        assert_eq!(
            may_override(true, true, false),
            Err(Refusal::ReasonRequired)
        );
        assert_eq!(may_override(true, true, true), Ok(()));
        let (d, l) = (Direction::Outgoing, EducationLevel::Mbo4);
        assert_eq!(over_quota(d, l, 2, 1, false), Ok(false));
        assert_eq!(over_quota(d, l, 2, 2, true), Ok(true));
        let refusal = over_quota(d, l, 2, 2, false).unwrap_err();
        assert!(refusal
            .detail()
            .contains("quota for outgoing mbo_4 placements is 2 and 2 are taken"));
    }

    #[test]
    fn a_start_and_an_end_are_recorded_when_the_move_records_them() {
        let today = day("2026-06-10");
        let planned = Days {
            planned_start: day("2026-06-01"),
            actual_start: None,
            actual_end: None,
        };
        assert_eq!(
            actual_dates(planned, InProgress, None, None, today),
            Ok((Some(today), None))
        );
        let early = Days {
            planned_start: day("2026-07-01"),
            ..planned
        };
        assert_eq!(
            actual_dates(early, InProgress, None, None, today),
            Err(Refusal::StartRequired {
                planned: day("2026-07-01")
            })
        );
        assert_eq!(
            actual_dates(early, InProgress, Some(day("2026-06-09")), None, today),
            Ok((Some(day("2026-06-09")), None))
        );
        let started = Days {
            actual_start: Some(day("2026-06-05")),
            ..planned
        };
        assert_eq!(
            actual_dates(started, Completed, None, Some(day("2026-06-04")), today),
            Err(Refusal::EndBeforeStart)
        );
        assert_eq!(
            actual_dates(started, Interrupted, None, None, today),
            Ok((None, Some(today)))
        );
        // said for a move that records none, or in the future
        let refusal = actual_dates(planned, Nominated, Some(today), None, today).unwrap_err();
        assert_eq!(
            (refusal.field(), refusal.code()),
            (Some("actualStart"), "not_applicable")
        );
        let refusal =
            actual_dates(started, Completed, None, Some(day("2026-06-11")), today).unwrap_err();
        assert_eq!(refusal.detail(), "Must not be after today (2026-06-10).");
        // a placement ended without a start records no end
        let refusal = actual_dates(planned, Cancelled, None, Some(today), today).unwrap_err();
        assert_eq!(refusal.field(), Some("actualEnd"));
    }
}
