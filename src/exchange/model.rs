//! Parsed exchange types and the placement lifecycle: no HTTP, no SQL.

use crate::text::text_enum;

text_enum!(
    /// Kind of institution.
    InstitutionKind {
        MboCollege => "mbo_college", Hbo => "hbo", University => "university",
        SecondarySchool => "secondary_school", Employer => "employer", Municipality => "municipality",
    }
);

text_enum!(
    /// Exchange programme of an agreement.
    Programme { ErasmusPlus => "erasmus_plus", SisterCity => "sister_city", Bilateral => "bilateral" }
);

text_enum!(
    /// State of an agreement.
    AgreementStatus { Draft => "draft", Active => "active", Expired => "expired", Terminated => "terminated" }
);

text_enum!(
    /// Outgoing (from the city) or incoming (to the city).
    Direction { Outgoing => "outgoing", Incoming => "incoming" }
);

text_enum!(
    /// A learner's education level.
    EducationLevel {
        Mbo1 => "mbo_1", Mbo2 => "mbo_2", Mbo3 => "mbo_3", Mbo4 => "mbo_4",
        Hbo => "hbo", Wo => "wo", Secondary => "secondary",
    }
);

impl EducationLevel {
    pub fn is_mbo(self) -> bool {
        matches!(
            self,
            EducationLevel::Mbo1
                | EducationLevel::Mbo2
                | EducationLevel::Mbo3
                | EducationLevel::Mbo4
        )
    }
}

text_enum!(
    /// Kind of placement.
    PlacementKind { Study => "study", Traineeship => "traineeship", GroupExchange => "group_exchange", JobShadowing => "job_shadowing" }
);

text_enum!(
    /// Where a placement is in its lifecycle.
    PlacementStatus {
        Applied => "applied", Nominated => "nominated", Accepted => "accepted", AgreementSigned => "agreement_signed",
        InProgress => "in_progress", Interrupted => "interrupted", Completed => "completed", Reported => "reported",
        Rejected => "rejected", Withdrawn => "withdrawn", Cancelled => "cancelled",
    }
);

impl PlacementStatus {
    /// Statuses that hold a quota place (accepted and everything after it that went ahead).
    pub const COUNTED: &'static [PlacementStatus] = &[
        PlacementStatus::Accepted,
        PlacementStatus::AgreementSigned,
        PlacementStatus::InProgress,
        PlacementStatus::Interrupted,
        PlacementStatus::Completed,
        PlacementStatus::Reported,
    ];
}

/// The complete placement graph of PRODUCT.md.
pub(crate) fn allowed_targets(from: PlacementStatus) -> &'static [PlacementStatus] {
    use PlacementStatus::*;
    match from {
        Applied => &[Nominated, Rejected, Withdrawn],
        Nominated => &[Accepted, Rejected, Withdrawn],
        Accepted => &[AgreementSigned, Cancelled, Withdrawn],
        AgreementSigned => &[InProgress, Cancelled, Withdrawn],
        InProgress => &[Completed, Interrupted],
        Interrupted => &[Completed, Cancelled],
        Completed => &[Reported],
        Reported | Rejected | Withdrawn | Cancelled => &[],
    }
}

/// An Erasmus institution code such as `NL AMSTERD01` or `D  BERLIN01`:
/// a country prefix of 1-3 letters, spaces to column 4, 2-8 letters (or `-`)
/// and two digits. Stored upper-case.
pub(crate) fn parse_erasmus_code(text: &str) -> Result<String, &'static str> {
    let code = text.trim().to_ascii_uppercase();
    let bad = "must be an Erasmus code such as NL AMSTERD01";
    // every byte index below is a character index only for ASCII text
    if !code.is_ascii() || code.len() < 6 || code.len() > 16 {
        return Err(bad);
    }
    let (prefix, rest) = code.split_once(' ').ok_or(bad)?;
    let rest = rest.trim_start();
    let (city, digits) = rest.split_at(rest.len().saturating_sub(2));
    let ok = (1..=3).contains(&prefix.len())
        && prefix.chars().all(|c| c.is_ascii_uppercase())
        && (2..=8).contains(&city.len())
        && city.chars().all(|c| c.is_ascii_uppercase() || c == '-')
        && digits.len() == 2
        && digits.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(code)
    } else {
        Err(bad)
    }
}

/// The search key of a learner's name: NFKC, case-folded, spaces collapsed.
pub(crate) fn name_key(given: &str, family: &str) -> String {
    crate::text::normalized_name(&format!("{given} {family}"))
}

/// Statuses from which the grant no longer changes.
pub(crate) const GRANT_FROZEN: &[PlacementStatus] = &[
    PlacementStatus::InProgress,
    PlacementStatus::Interrupted,
    PlacementStatus::Completed,
    PlacementStatus::Reported,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasmus_codes() {
        assert_eq!(parse_erasmus_code("nl amsterd01").unwrap(), "NL AMSTERD01");
        assert!(parse_erasmus_code("D  BERLIN01").is_ok());
        assert!(parse_erasmus_code("AMSTERDAM").is_err());
        assert!(parse_erasmus_code("NL AMSTERD1X").is_err());
    }

    #[test]
    fn final_states_have_no_targets() {
        for s in [
            PlacementStatus::Reported,
            PlacementStatus::Rejected,
            PlacementStatus::Withdrawn,
            PlacementStatus::Cancelled,
        ] {
            assert!(allowed_targets(s).is_empty());
        }
        assert!(allowed_targets(PlacementStatus::Nominated).contains(&PlacementStatus::Accepted));
    }
}
