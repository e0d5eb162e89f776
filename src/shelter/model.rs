//! Parsed Shelter City types: no HTTP, no SQL.

use poem_openapi::Enum;
use unicode_normalization::UnicodeNormalization;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
        #[oai(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }
    };
}

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
    /// How widely a stay may be known among staff and partners.
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
pub struct Codename(String);

impl Codename {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text: String = text.trim().nfc().collect();
        let len = text.chars().count();
        if !(2..=40).contains(&len) {
            return Err("must be 2 to 40 characters");
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(text))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// ISO 3166-1 alpha-2 codes (officially assigned).
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

pub fn parse_country(text: &str) -> Result<String, &'static str> {
    let code = text.trim().to_ascii_uppercase();
    if code.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == code) {
        Ok(code)
    } else {
        Err("must be an ISO 3166-1 alpha-2 country code such as UG")
    }
}

/// The form of a legal name that the blind index covers: Unicode NFKC,
/// case-folded, inner white space collapsed.
pub fn normalized_name(name: &str) -> String {
    let folded: String = name.nfkc().flat_map(char::to_lowercase).collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Free text with a length limit and no control characters except new lines.
pub fn parse_text(text: &str, max: usize) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err("must not contain control characters".to_owned());
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codenames_and_countries() {
        assert_eq!(Codename::parse(" Kestrel ").unwrap().key(), "kestrel");
        assert!(Codename::parse("K").is_err());
        assert!(Codename::parse(&"k".repeat(41)).is_err());
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
