//! Parsing shared by every area: enumerations as snake_case strings, country
//! codes, free text with limits, and the normal form of names for exact search.

use unicode_normalization::UnicodeNormalization;

/// Declares an enumeration that travels as the given strings (in the spec,
/// in JSON and in the database), with `ALL`, `as_str` and `parse`.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, poem_openapi::Enum)]
        pub enum $name { $(#[oai(rename = $text)] $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The values as the API writes them, comma-separated.
            pub fn names() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
            /// A value read back from the database. One the service never
            /// writes is corrupt data: an error naming the column, never a
            /// default that would feed a lifecycle or a count.
            pub fn stored(text: &str, column: &'static str) -> Result<Self, $crate::text::Corrupt> {
                Self::parse(text).ok_or($crate::text::Corrupt { column })
            }
            /// `stored` for a nullable column.
            pub fn stored_opt(
                text: Option<&str>,
                column: &'static str,
            ) -> Result<Option<Self>, $crate::text::Corrupt> {
                text.map(|t| Self::stored(t, column)).transpose()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

/// A stored value that does not decode: the column is named in the log,
/// the caller gets a 500, and the value itself is never shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt {
    pub column: &'static str,
}

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the stored {} is not a value the service writes",
            self.column
        )
    }
}

impl std::error::Error for Corrupt {}

/// A stored JSON value read back; one that does not is `Corrupt`.
pub(crate) fn stored_json<T: serde::de::DeserializeOwned>(
    text: &str,
    column: &'static str,
) -> Result<T, Corrupt> {
    serde_json::from_str(text).map_err(|_| Corrupt { column })
}

impl From<Corrupt> for sea_orm::DbErr {
    fn from(c: Corrupt) -> Self {
        tracing::error!(column = c.column, "a stored value does not decode");
        sea_orm::DbErr::Type(c.to_string())
    }
}

/// An e-mail address, kept as entered; `key()` is its case-insensitive identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err("must be an e-mail address of at most 254 characters");
        }
        let Some((local, domain)) = text.rsplit_once('@') else {
            return Err("must be an e-mail address such as name@example.org");
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@');
        if domain_ok && local_ok {
            Ok(Self(text.to_owned()))
        } else {
            Err("must be an e-mail address such as name@example.org")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased form that makes addresses unique case-insensitively.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// ISO 3166-1 alpha-2 codes (officially assigned).
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Every code [`parse_country`] accepts, upper case.
pub(crate) fn country_codes() -> Vec<&'static str> {
    ISO_3166_ALPHA2.split(' ').collect()
}

pub(crate) fn parse_country(text: &str) -> Result<String, &'static str> {
    let code = text.trim().to_ascii_uppercase();
    if code.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == code) {
        Ok(code)
    } else {
        Err("must be an ISO 3166-1 alpha-2 country code such as UG")
    }
}

/// The form of a legal name that the blind index covers: Unicode NFKC,
/// case-folded, inner white space collapsed.
pub(crate) fn normalized_name(name: &str) -> String {
    let folded: String = name.nfkc().flat_map(char::to_lowercase).collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Free text with a length limit and no control characters except new lines.
pub(crate) fn parse_text(text: &str, max: usize) -> Result<String, String> {
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
