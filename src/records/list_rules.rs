//! A destruction list's state machine, without I/O: which move a caller may
//! ask for from which status, and what each move needs (Open
//! Archiefbeheer's separation of duties: the author does not approve, nor
//! does a reviewer). `store::change_status` reads the facts, asks [`step`],
//! and carries the step out in its transaction.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::model::ListStatus;

/// What the rules need to know about a list and its items.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts {
    pub author: Uuid,
    /// When the waiting period of an approved list ends.
    pub execute_after: Option<DateTime<Utc>>,
    /// Whether a record of the list was destroyed already.
    pub execution_begun: bool,
    /// Whether a record is still on the list.
    pub holds_records: bool,
    /// Whether the caller reviewed an item of the list.
    pub caller_reviewed: bool,
}

/// A move the caller may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Back to the author, before anything was destroyed: reviews and the
    /// approval are cleared.
    Abort,
    /// To the reviewers; from `changes_requested` the author first takes the
    /// requested changes.
    Submit { after_changes: bool },
    /// A reviewed list to the archivist.
    ToArchivist,
    /// The archivist's approval: the waiting period starts.
    Approve,
}

/// Why a move is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// An approved list is executed after its waiting period, not on request.
    WaitingPeriod {
        ends: DateTime<Utc>,
    },
    /// The waiting period has passed and the execution runs.
    BeingExecuted,
    /// Not a move from `from`.
    Illegal {
        from: ListStatus,
    },
    /// A record was destroyed: the list can no longer be aborted.
    ExecutionBegun,
    NothingToReview,
    NothingToDestroy,
    /// The author asked to approve its own list.
    AuthorApproves,
    /// A reviewer asked to approve a list it reviewed.
    ReviewerApproves,
}

impl Refusal {
    /// What the caller is told.
    pub(crate) fn detail(&self) -> String {
        match self {
            Self::WaitingPeriod { ends } => format!(
                "The waiting period ends at {}: the list is executed after that, not before.",
                ends.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            Self::BeingExecuted => {
                "The waiting period has passed: the list is being executed in the background."
                    .to_owned()
            }
            Self::Illegal { from } => {
                let allowed: Vec<&str> = from.targets().iter().map(|s| s.as_str()).collect();
                format!(
                    "A list in status {} can move to: {}.",
                    from.as_str(),
                    if allowed.is_empty() {
                        "nothing (final)".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                )
            }
            Self::ExecutionBegun => {
                "The list's execution has begun; it can no longer be aborted.".to_owned()
            }
            Self::NothingToReview => "The list holds no record to review.".to_owned(),
            Self::NothingToDestroy => "The list holds no record to destroy.".to_owned(),
            Self::AuthorApproves => "The author of a destruction list does not approve it: another records officer does.".to_owned(),
            Self::ReviewerApproves => "A reviewer of a destruction list does not approve it: a records officer who did not review it does.".to_owned(),
        }
    }
}

/// The move from `from` to `to` that `caller` asks for, at `now`.
pub(crate) fn step(
    from: ListStatus,
    to: ListStatus,
    facts: &Facts,
    caller: Uuid,
    now: DateTime<Utc>,
) -> Result<Step, Refusal> {
    use ListStatus::*;
    if to == Deleted && from == ReadyToDelete {
        // the execution runs in the background; asking for it early is refused
        return Err(match facts.execute_after {
            Some(ends) if ends > now => Refusal::WaitingPeriod { ends },
            _ => Refusal::BeingExecuted,
        });
    }
    if !from.targets().contains(&to) {
        return Err(Refusal::Illegal { from });
    }
    match to {
        New if facts.execution_begun => Err(Refusal::ExecutionBegun),
        New => Ok(Step::Abort),
        ReadyToReview if from == ChangesRequested => Ok(Step::Submit {
            after_changes: true,
        }),
        ReadyToReview if !facts.holds_records => Err(Refusal::NothingToReview),
        ReadyToReview => Ok(Step::Submit {
            after_changes: false,
        }),
        ReadyForArchivist => Ok(Step::ToArchivist),
        ReadyToDelete if !facts.holds_records => Err(Refusal::NothingToDestroy),
        ReadyToDelete if caller == facts.author => Err(Refusal::AuthorApproves),
        ReadyToDelete if facts.caller_reviewed => Err(Refusal::ReviewerApproves),
        ReadyToDelete => Ok(Step::Approve),
        // reached by the reviews (internally reviewed, changes requested) or
        // the execution (deleted), never asked for
        ChangesRequested | InternallyReviewed | Deleted => Err(Refusal::Illegal { from }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ListStatus::*;

    fn facts() -> Facts {
        Facts {
            author: Uuid::from_u128(1),
            execute_after: None,
            execution_begun: false,
            holds_records: true,
            caller_reviewed: false,
        }
    }

    const ARCHIVIST: Uuid = Uuid::from_u128(3);

    #[test]
    fn a_list_goes_to_review_to_the_archivist_and_is_approved() {
        let now = Utc::now();
        let f = facts();
        assert_eq!(
            step(New, ReadyToReview, &f, f.author, now),
            Ok(Step::Submit {
                after_changes: false
            })
        );
        assert_eq!(
            step(ChangesRequested, ReadyToReview, &f, f.author, now),
            Ok(Step::Submit {
                after_changes: true
            })
        );
        assert_eq!(
            step(InternallyReviewed, ReadyForArchivist, &f, f.author, now),
            Ok(Step::ToArchivist)
        );
        assert_eq!(
            step(ReadyForArchivist, ReadyToDelete, &f, ARCHIVIST, now),
            Ok(Step::Approve)
        );
    }

    #[test]
    fn author_reviewer_and_archivist_are_different_people() {
        let now = Utc::now();
        let f = facts();
        assert_eq!(
            step(ReadyForArchivist, ReadyToDelete, &f, f.author, now),
            Err(Refusal::AuthorApproves)
        );
        let reviewed = Facts {
            caller_reviewed: true,
            ..f
        };
        assert_eq!(
            step(ReadyForArchivist, ReadyToDelete, &reviewed, ARCHIVIST, now),
            Err(Refusal::ReviewerApproves)
        );
    }

    #[test]
    fn an_empty_list_is_neither_reviewed_nor_destroyed_and_a_begun_one_not_aborted() {
        let now = Utc::now();
        let empty = Facts {
            holds_records: false,
            ..facts()
        };
        assert_eq!(
            step(New, ReadyToReview, &empty, empty.author, now),
            Err(Refusal::NothingToReview)
        );
        assert_eq!(
            step(ReadyForArchivist, ReadyToDelete, &empty, ARCHIVIST, now),
            Err(Refusal::NothingToDestroy)
        );
        let begun = Facts {
            execution_begun: true,
            ..facts()
        };
        assert_eq!(
            step(ReadyToDelete, New, &begun, ARCHIVIST, now),
            Err(Refusal::ExecutionBegun)
        );
        assert_eq!(
            step(ReadyToDelete, New, &facts(), ARCHIVIST, now),
            Ok(Step::Abort)
        );
    }

    #[test]
    fn deletion_is_never_asked_for() {
        let now = Utc::now();
        let waiting = Facts {
            execute_after: Some(now + chrono::TimeDelta::days(1)),
            ..facts()
        };
        assert!(matches!(
            step(ReadyToDelete, Deleted, &waiting, ARCHIVIST, now),
            Err(Refusal::WaitingPeriod { .. })
        ));
        let passed = Facts {
            execute_after: Some(now - chrono::TimeDelta::days(1)),
            ..facts()
        };
        assert_eq!(
            step(ReadyToDelete, Deleted, &passed, ARCHIVIST, now),
            Err(Refusal::BeingExecuted)
        );
        // every status: a move outside the graph, or to a status only the
        // reviews and the execution reach, is illegal
        for from in ListStatus::ALL {
            for to in [ChangesRequested, InternallyReviewed, Deleted] {
                if (*from, to) == (ReadyToDelete, Deleted) {
                    continue;
                }
                assert!(
                    matches!(
                        step(*from, to, &facts(), ARCHIVIST, now),
                        Err(Refusal::Illegal { .. })
                    ),
                    "{from:?} -> {to:?}"
                );
            }
        }
        assert_eq!(
            Refusal::Illegal { from: Deleted }.detail(),
            "A list in status deleted can move to: nothing (final)."
        );
    }
}
