//! The stay lifecycle: the complete transition graph of PRODUCT.md and the
//! rules on top of it.

use super::model::Confidentiality;
use super::model::StayStatus::{self, *};

/// Where a stay may go from `from`.
pub(crate) fn allowed_targets(from: StayStatus) -> &'static [StayStatus] {
    match from {
        Referred => &[Intake, Withdrawn],
        Intake => &[PreArrival, Postponed, Withdrawn],
        Postponed => &[Intake, Withdrawn],
        PreArrival => &[InResidence, VisaRefused, Postponed, Withdrawn],
        VisaRefused => &[Intake, Closed],
        InResidence => &[ReturnPreparation, Returned, CannotReturn],
        ReturnPreparation => &[Returned, CannotReturn],
        Returned => &[Aftercare],
        CannotReturn => &[Closed],
        Aftercare => &[Closed],
        Withdrawn => &[Closed],
        Closed => &[Aftercare],
    }
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not in the graph: the allowed targets.
    NotAllowed(&'static [StayStatus]),
    /// Allowed, but only with a reason.
    ReasonRequired(&'static str),
    /// Allowed, but only for a coordinator.
    CoordinatorOnly,
}

/// Checks a transition. `reason` is the trimmed reason, if any.
pub(crate) fn check(
    from: StayStatus,
    to: StayStatus,
    reason: Option<&str>,
    coordinator: bool,
) -> Result<(), Refusal> {
    let targets = allowed_targets(from);
    if !targets.contains(&to) {
        return Err(Refusal::NotAllowed(targets));
    }
    let has_reason = reason.is_some_and(|r| !r.is_empty());
    match (from, to) {
        (Closed, Aftercare) => {
            if !coordinator {
                return Err(Refusal::CoordinatorOnly);
            }
            if !has_reason {
                return Err(Refusal::ReasonRequired(
                    "reopening a closed stay needs a reason",
                ));
            }
        }
        (InResidence, Returned) if !has_reason => {
            return Err(Refusal::ReasonRequired("an early return needs a reason"));
        }
        (CannotReturn, Closed) if !has_reason => {
            return Err(Refusal::ReasonRequired("closing a stay that cannot return needs the referral to another protection route as reason"));
        }
        _ => {}
    }
    Ok(())
}

/// Checks a change of a stay's confidentiality: only a coordinator changes
/// it (either way), and always with a reason in `X-Audit-Reason`. A
/// caseworker who could lower it would show a secret stay to every other
/// caseworker.
pub(crate) fn check_confidentiality(
    from: Confidentiality,
    to: Confidentiality,
    coordinator: bool,
    has_reason: bool,
) -> Result<(), Refusal> {
    if from == to {
        return Ok(());
    }
    if !coordinator {
        return Err(Refusal::CoordinatorOnly);
    }
    if !has_reason {
        return Err(Refusal::ReasonRequired(
            "changing a stay's confidentiality needs a reason in X-Audit-Reason",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_coordinator_changes_confidentiality_with_a_reason() {
        use Confidentiality::*;
        for from in Confidentiality::ALL {
            for to in Confidentiality::ALL {
                let same = from == to;
                assert_eq!(check_confidentiality(*from, *to, false, true).is_ok(), same);
                assert_eq!(check_confidentiality(*from, *to, true, false).is_ok(), same);
                assert!(check_confidentiality(*from, *to, true, true).is_ok());
            }
        }
        assert_eq!(
            check_confidentiality(Secret, Standard, false, true),
            Err(Refusal::CoordinatorOnly)
        );
    }

    #[test]
    fn every_pair_outside_the_graph_is_refused() {
        for from in StayStatus::ALL {
            for to in StayStatus::ALL {
                let allowed = allowed_targets(*from).contains(to);
                let result = check(*from, *to, Some("because"), true);
                assert_eq!(result.is_ok(), allowed, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn special_rules() {
        assert_eq!(
            check(Closed, Aftercare, Some("new threat"), false),
            Err(Refusal::CoordinatorOnly)
        );
        assert!(matches!(
            check(Closed, Aftercare, None, true),
            Err(Refusal::ReasonRequired(_))
        ));
        assert!(matches!(
            check(InResidence, Returned, Some(" ".trim()), true),
            Err(Refusal::ReasonRequired(_))
        ));
        assert!(check(ReturnPreparation, Returned, None, false).is_ok());
    }
}
