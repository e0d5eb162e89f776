//! Parsed Shelter City types: no HTTP, no SQL.

use unicode_normalization::UnicodeNormalization;

use crate::text::text_enum;
#[cfg(test)]
use crate::text::{normalized_name, parse_country};

text_enum!(
    /// A defender's field of work.
    FieldOfWork {
        Journalism => "journalism",
        EnvironmentAndLand => "environment_and_land",
        LgbtiqRights => "lgbtiq_rights",
        WomensRights => "womens_rights",
        IndigenousRights => "indigenous_rights",
        Labour => "labour",
        LegalDefence => "legal_defence",
        PoliticalParticipation => "political_participation",
        Other => "other",
    }
);

text_enum!(
    /// How much danger someone is in.
    RiskLevel { Low => "low", Medium => "medium", High => "high", Critical => "critical" }
);

text_enum!(
    /// Where a stay is in its lifecycle.
    StayStatus {
        Referred => "referred",
        Intake => "intake",
        Postponed => "postponed",
        PreArrival => "pre_arrival",
        VisaRefused => "visa_refused",
        InResidence => "in_residence",
        ReturnPreparation => "return_preparation",
        Returned => "returned",
        CannotReturn => "cannot_return",
        Aftercare => "aftercare",
        Withdrawn => "withdrawn",
        Closed => "closed",
    }
);

text_enum!(
    /// Visa status of a stay.
    VisaStatus { NotNeeded => "not_needed", ToApply => "to_apply", Applied => "applied", Granted => "granted", Refused => "refused" }
);

text_enum!(
    /// How widely a stay may be known among staff and partners. A `secret`
    /// stay, and its defender, do not exist (404, left out of every list) for
    /// anyone but shelter coordinators and the staff assigned to it; API
    /// clients never see it. `standard` and `restricted` stays follow the
    /// usual need to know.
    Confidentiality { Standard => "standard", Restricted => "restricted", Secret => "secret" }
);

text_enum!(
    /// What a note is about.
    NoteCategory { Safety => "safety", Wellbeing => "wellbeing", Programme => "programme", Logistics => "logistics", Other => "other" }
);

text_enum!(
    /// Kind of programme activity.
    ActivityKind { Training => "training", Meeting => "meeting", PublicEvent => "public_event", Advocacy => "advocacy", Rest => "rest" }
);

text_enum!(
    /// How an after-care check-in went.
    CheckInOutcome { Done => "done", Missed => "missed", Escalated => "escalated" }
);

text_enum!(
    /// What a publicity consent covers.
    ConsentItem { Name => "name", Photo => "photo", Story => "story", Event => "event" }
);

/// A defender's pseudonym: 2-40 characters, unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Codename(String);

impl Codename {
    pub(crate) fn parse(text: &str) -> Result<Self, &'static str> {
        let text: String = text.trim().nfc().collect();
        let len = text.chars().count();
        if !(2..=40).contains(&len) {
            return Err("must be 2 to 40 characters");
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        // UTS #39, as a confusables check: a codename is a name people tell
        // apart by sight, so no invisible or formatting characters (zero
        // width, direction overrides) and no characters identifiers avoid;
        // spaces, hyphens, apostrophes and full stops between words
        use unicode_security::{GeneralSecurityProfile, MixedScript};
        if !text
            .chars()
            .all(|c| c.identifier_allowed() || matches!(c, ' ' | '-' | '\'' | '.'))
        {
            return Err("must hold only letters, digits, spaces, hyphens, apostrophes and full stops (no invisible, formatting or look-alike characters)");
        }
        // and one script: Latin with a Cyrillic or Greek look-alike is refused
        if !text.as_str().is_single_script() {
            return Err("must be written in one script (a mix such as Latin with Cyrillic or Greek letters looks like another codename)");
        }
        Ok(Self(text))
    }
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
    pub(crate) fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codenames_and_countries() {
        assert_eq!(Codename::parse(" Kestrel ").unwrap().key(), "kestrel");
        assert!(Codename::parse("K").is_err());
        assert!(Codename::parse(&"k".repeat(41)).is_err());
        // look-alikes: Cyrillic а and е, Greek ο among Latin letters
        for fake in ["K\u{0435}strel", "\u{0430}lbatross", "Ospr\u{03bf}y"] {
            assert!(Codename::parse(fake).is_err(), "{fake}");
        }
        // invisible and formatting characters
        for fake in [
            "Kes\u{200b}trel",
            "Kes\u{200d}trel",
            "Kestrel\u{202e}",
            "\u{2066}Kestrel",
            "Kes\u{feff}trel",
            "Kes\u{00ad}trel",
        ] {
            assert!(Codename::parse(fake).is_err(), "{fake:?}");
        }
        // whole names in one script pass, with spaces and hyphens
        for fine in [
            "Blue Heron",
            "Kestrel-2",
            "Сокол",
            "Γεράκι",
            "O'Hara",
            "鷹の目",
        ] {
            assert!(Codename::parse(fine).is_ok(), "{fine}");
        }
        assert_eq!(parse_country("ug").unwrap(), "UG");
        assert!(parse_country("XX").is_err());
        assert!(parse_country("UGA").is_err());
    }

    #[test]
    fn names_normalise_for_the_index() {
        assert_eq!(
            normalized_name("  José   MARÍA "),
            normalized_name("jose\u{301} maría")
        );
        assert_eq!(normalized_name("ＡＢＣ"), "abc");
    }

    #[test]
    fn enums_round_trip() {
        for s in StayStatus::ALL {
            assert_eq!(StayStatus::parse(s.as_str()), Some(*s));
        }
    }
}
