//! The retention rules a new installation starts with. Every default is a
//! policy choice the city confirms or changes (`PATCH /retention-rules/{id}`);
//! where each comes from is in `docs/retention.md`.

use super::model::{Archiefnominatie, RecordType};

pub(crate) struct DefaultRule {
    pub record_type: RecordType,
    pub outcome: &'static str,
    pub archiefnominatie: Archiefnominatie,
    pub term: &'static str,
    pub selectielijstklasse: &'static str,
}

const fn rule(
    record_type: RecordType,
    outcome: &'static str,
    term: &'static str,
    selectielijstklasse: &'static str,
) -> DefaultRule {
    DefaultRule {
        record_type,
        outcome,
        archiefnominatie: Archiefnominatie::Vernietigen,
        term,
        selectielijstklasse,
    }
}

use RecordType::*;

pub(crate) const DEFAULT_RULES: &[DefaultRule] = &[
    // Shelter City: as short as the programme's duty allows (AVG art. 5(1)(e));
    // a defender's data endangers them for as long as it exists
    rule(Stay, "aftercare", "P2Y", "casedesk:shelter.stay.aftercare"),
    rule(Stay, "withdrawn", "P1Y", "casedesk:shelter.stay.withdrawn"),
    rule(
        Stay,
        "visa_refused",
        "P1Y",
        "casedesk:shelter.stay.visa_refused",
    ),
    rule(
        Stay,
        "cannot_return",
        "P5Y",
        "casedesk:shelter.stay.cannot_return",
    ),
    rule(Defender, "all", "P1Y", "casedesk:shelter.defender"),
    rule(Defender, "none", "P1Y", "casedesk:shelter.defender.no_stay"),
    // exchange: the Erasmus+ grant agreement's record keeping (five years
    // after the balance is paid) where a grant may have been paid
    rule(
        Placement,
        "reported",
        "P5Y",
        "casedesk:exchange.placement.reported",
    ),
    rule(
        Placement,
        "cancelled",
        "P5Y",
        "casedesk:exchange.placement.cancelled",
    ),
    rule(
        Placement,
        "rejected",
        "P1Y",
        "casedesk:exchange.placement.rejected",
    ),
    rule(
        Placement,
        "withdrawn",
        "P1Y",
        "casedesk:exchange.placement.withdrawn",
    ),
    rule(Participant, "all", "P1Y", "casedesk:exchange.participant"),
    rule(
        Participant,
        "none",
        "P1Y",
        "casedesk:exchange.participant.not_placed",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_default_per_outcome_and_every_term_parses() {
        for t in RecordType::ALL {
            for outcome in t.outcomes() {
                let n = DEFAULT_RULES
                    .iter()
                    .filter(|r| r.record_type == *t && r.outcome == *outcome)
                    .count();
                assert_eq!(n, 1, "{t:?}/{outcome}");
            }
        }
        for r in DEFAULT_RULES {
            assert!(r.record_type.outcomes().contains(&r.outcome));
            assert!(super::super::model::Term::parse(r.term).is_ok());
        }
    }
}
