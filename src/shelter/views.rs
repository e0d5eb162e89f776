//! What the Shelter City API sends and receives.

use chrono::NaiveDate;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::Object;
use uuid::Uuid;

use super::model::{
    ActivityKind, CheckInOutcome, Confidentiality, ConsentItem, FieldOfWork, NoteCategory,
    RiskLevel, StayStatus, VisaStatus,
};
use crate::http::{
    formats::{CountryCode, Format, Formatted},
    types::Timestamp,
};

/// The protected identity of a defender: encrypted at rest, shown only to
/// those who need to know, every read audited.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct DefenderIdentity {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub legal_name: String,
    pub date_of_birth: Option<NaiveDate>,
    #[oai(validator(max_length = 40))]
    pub passport_number: Option<String>,
    pub passport_expiry: Option<NaiveDate>,
    #[oai(validator(max_length = 40))]
    pub phone: Option<String>,
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    /// A secure-messenger handle.
    #[oai(validator(max_length = 200))]
    pub messenger: Option<String>,
    #[oai(validator(max_length = 500))]
    pub emergency_contact: Option<String>,
}

/// A defender. `identity` is present only for callers who may see it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Defender {
    pub id: Uuid,
    #[oai(validator(max_length = 40))]
    pub codename: String,
    /// ISO 3166-1 alpha-2.
    #[oai(validator(max_length = 2))]
    pub country_of_work: String,
    pub field_of_work: FieldOfWork,
    pub languages: Vec<String>,
    #[oai(validator(max_length = 40))]
    pub gender: Option<String>,
    pub risk_level: RiskLevel,
    #[oai(skip_serializing_if_is_none)]
    pub identity: Option<DefenderIdentity>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

/// A new defender.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewDefender {
    pub codename: CodenameText,
    pub country_of_work: CountryCode,
    pub field_of_work: FieldOfWork,
    #[oai(validator(max_items = 20))]
    pub languages: Vec<LanguageName>,
    #[oai(validator(max_length = 40))]
    pub gender: Option<String>,
    pub risk_level: RiskLevel,
    pub identity: Option<DefenderIdentity>,
}

/// A language, by name or code: 1 to 40 characters of text.
pub(crate) struct LanguageFormat;
impl Format for LanguageFormat {
    const NAME: &'static str = "language-name";
    const MAX_LEN: usize = 40;
    const EXAMPLE: &'static str = "English";
    fn check(text: &str) -> Result<(), &'static str> {
        match crate::text::parse_text(text, Self::MAX_LEN) {
            Ok(t) if !t.is_empty() => Ok(()),
            _ => Err("must be 1 to 40 characters of text"),
        }
    }
}

/// A language, by name or code.
pub(crate) type LanguageName = Formatted<LanguageFormat>;

/// Changes to a defender; absent fields stay. `identity` replaces the whole identity.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DefenderUpdate {
    pub codename: Option<CodenameText>,
    pub country_of_work: Option<CountryCode>,
    pub field_of_work: Option<FieldOfWork>,
    #[oai(validator(max_items = 20))]
    pub languages: Option<Vec<LanguageName>>,
    /// `null` (or an empty text) clears it.
    #[oai(nullable, validator(max_length = 40))]
    pub gender: MaybeUndefined<String>,
    pub risk_level: Option<RiskLevel>,
    pub identity: Option<DefenderIdentity>,
}

/// A search by legal name: exact after Unicode normalisation and case folding.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DefenderSearch {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub legal_name: String,
}

/// The defenders found.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct DefenderSearchResult {
    pub items: Vec<Defender>,
}

/// A publicity consent.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Consent {
    pub id: Uuid,
    pub defender_id: Uuid,
    pub item: ConsentItem,
    pub granted_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
    pub revoked_on: Option<NaiveDate>,
    /// Granted, not expired and not revoked today.
    pub live: bool,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewConsent {
    pub item: ConsentItem,
    pub granted_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ConsentRevocation {
    pub revoked_on: NaiveDate,
}

/// A stay: the case. Everyone who sees it sees its summary: reference,
/// codename, intake round, status, dates and confidentiality. Visa status,
/// insurance, referring organisation, local partner and accommodation address
/// are present only for callers who need to know (coordinators and the
/// assigned staff, in a stay's own answers; lists show summaries).
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Stay {
    pub id: Uuid,
    /// `SC-<year>-<nnn>`.
    #[oai(validator(max_length = 20))]
    pub reference: String,
    pub defender_id: Uuid,
    #[oai(validator(max_length = 40))]
    pub codename: String,
    #[oai(validator(max_length = 40))]
    pub intake_round: String,
    /// Protected free text (encrypted at rest).
    #[oai(skip_serializing_if_is_none, validator(max_length = 200))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referring_organisation: Option<String>,
    #[serde(serialize_with = "crate::http::types::serialize_date")]
    pub planned_arrival: NaiveDate,
    #[serde(serialize_with = "crate::http::types::serialize_date")]
    pub planned_departure: NaiveDate,
    #[serde(serialize_with = "crate::http::types::serialize_optional_date")]
    pub actual_arrival: Option<NaiveDate>,
    #[serde(serialize_with = "crate::http::types::serialize_optional_date")]
    pub actual_departure: Option<NaiveDate>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visa_status: Option<VisaStatus>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insurance_arranged: Option<bool>,
    /// Protected free text (encrypted at rest).
    #[oai(skip_serializing_if_is_none, validator(max_length = 200))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_partner: Option<String>,
    pub status: StayStatus,
    pub confidentiality: Confidentiality,
    #[oai(skip_serializing_if_is_none, validator(max_length = 500))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accommodation_address: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewStay {
    pub defender_id: Uuid,
    /// Such as `2026-autumn`.
    #[oai(validator(min_length = 1, max_length = 40))]
    pub intake_round: String,
    #[oai(validator(max_length = 200))]
    pub referring_organisation: Option<String>,
    pub planned_arrival: NaiveDate,
    pub planned_departure: NaiveDate,
    pub visa_status: VisaStatus,
    pub insurance_arranged: bool,
    #[oai(validator(max_length = 200))]
    pub local_partner: Option<String>,
    pub confidentiality: Confidentiality,
    #[oai(validator(max_length = 500))]
    pub accommodation_address: Option<String>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StayUpdate {
    #[oai(validator(min_length = 1, max_length = 40))]
    pub intake_round: Option<String>,
    /// `null` (or an empty text) clears it.
    #[oai(nullable, validator(max_length = 200))]
    pub referring_organisation: MaybeUndefined<String>,
    pub planned_arrival: Option<NaiveDate>,
    pub planned_departure: Option<NaiveDate>,
    /// A correction; `null` clears it only while the stay has not begun
    /// (an arrival the status recorded is corrected, not removed).
    #[oai(nullable)]
    pub actual_arrival: MaybeUndefined<NaiveDate>,
    /// A correction; `null` clears it only before the return.
    #[oai(nullable)]
    pub actual_departure: MaybeUndefined<NaiveDate>,
    pub visa_status: Option<VisaStatus>,
    pub insurance_arranged: Option<bool>,
    /// `null` (or an empty text) clears it.
    #[oai(nullable, validator(max_length = 200))]
    pub local_partner: MaybeUndefined<String>,
    pub confidentiality: Option<Confidentiality>,
    /// `null` (or an empty text) clears it.
    #[oai(nullable, validator(max_length = 500))]
    pub accommodation_address: MaybeUndefined<String>,
}

/// A change of a stay's status.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct StatusChange {
    pub id: Uuid,
    pub from: Option<StayStatus>,
    pub to: StayStatus,
    /// Protected free text (encrypted at rest; reading it is audited).
    #[oai(validator(max_length = 2000))]
    pub reason: Option<String>,
    pub changed_at: Timestamp,
    pub changed_by: Uuid,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewStatusChange {
    pub to: StayStatus,
    #[oai(validator(max_length = 2000))]
    pub reason: Option<String>,
}

/// A staff member assigned to a stay.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Assignment {
    pub stay_id: Uuid,
    pub staff_id: Uuid,
    pub assigned_at: Timestamp,
    pub assigned_by: Uuid,
}

/// A note on a stay; its body is protected.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Note {
    pub id: Uuid,
    pub stay_id: Uuid,
    pub category: NoteCategory,
    #[oai(validator(max_length = 10000))]
    pub body: String,
    pub created_at: Timestamp,
    pub created_by: Uuid,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewNote {
    pub category: NoteCategory,
    #[oai(validator(min_length = 1, max_length = 10000))]
    pub body: String,
}

/// A risk assessment; threats and measures are protected.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct RiskAssessment {
    pub id: Uuid,
    pub stay_id: Uuid,
    pub level: RiskLevel,
    #[oai(validator(max_length = 10000))]
    pub threats: String,
    #[oai(validator(max_length = 10000))]
    pub measures: String,
    pub next_review_on: NaiveDate,
    pub created_at: Timestamp,
    pub created_by: Uuid,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewRiskAssessment {
    pub level: RiskLevel,
    #[oai(validator(min_length = 1, max_length = 10000))]
    pub threats: String,
    #[oai(validator(min_length = 1, max_length = 10000))]
    pub measures: String,
    pub next_review_on: NaiveDate,
}

/// A stay whose latest risk assessment is due for review.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct OverdueReview {
    pub stay_id: Uuid,
    #[oai(validator(max_length = 20))]
    pub reference: String,
    #[oai(validator(max_length = 40))]
    pub codename: String,
    pub level: RiskLevel,
    pub next_review_on: NaiveDate,
}

/// A programme activity.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Activity {
    pub id: Uuid,
    pub stay_id: Uuid,
    pub kind: ActivityKind,
    /// Protected free text (encrypted at rest; reading it is audited).
    #[oai(validator(max_length = 200))]
    pub title: String,
    pub date: NaiveDate,
    /// May it be mentioned publicly at all.
    pub public: bool,
    pub created_at: Timestamp,
    pub created_by: Uuid,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewActivity {
    pub kind: ActivityKind,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    pub date: NaiveDate,
    pub public: bool,
}

/// An after-care check-in; its note is protected.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CheckIn {
    pub id: Uuid,
    pub stay_id: Uuid,
    pub due_on: NaiveDate,
    pub outcome: Option<CheckInOutcome>,
    #[oai(skip_serializing_if_is_none, validator(max_length = 10000))]
    pub note: Option<String>,
    pub recorded_at: Option<Timestamp>,
    pub recorded_by: Option<Uuid>,
    /// Send it as `If-Match` to record the check-in.
    pub version: i32,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CheckInRecord {
    pub outcome: CheckInOutcome,
    /// The protected note; left out, the note recorded before is kept.
    #[oai(validator(min_length = 1, max_length = 10000))]
    pub note: Option<String>,
}

crate::list_types!(DefenderPage, DefenderList, Defender, "defenders");
crate::list_types!(ConsentPage, ConsentList, Consent, "consents, newest first");
crate::list_types!(serde StayPage, StayList, Stay, "stays");
crate::list_types!(
    StatusChangePage,
    StatusChangeList,
    StatusChange,
    "status changes, newest first"
);
crate::list_types!(AssignmentPage, AssignmentList, Assignment, "assignments");
crate::list_types!(NotePage, NoteList, Note, "notes, newest first");
crate::list_types!(
    RiskAssessmentPage,
    RiskAssessmentList,
    RiskAssessment,
    "risk assessments, newest first"
);
crate::list_types!(
    OverdueReviewPage,
    OverdueReviewList,
    OverdueReview,
    "stays with an overdue risk review"
);
crate::list_types!(
    ActivityPage,
    ActivityList,
    Activity,
    "activities, newest first"
);
crate::list_types!(CheckInPage, CheckInList, CheckIn, "check-ins, newest first");

/// What an integration may know of a stay: its reference, status and dates.
/// Never the defender, the codename, the address or any other field.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct StaySummary {
    pub id: Uuid,
    /// `SC-<year>-<nnn>`.
    #[oai(validator(max_length = 20))]
    pub reference: String,
    pub status: StayStatus,
    pub planned_arrival: NaiveDate,
    pub planned_departure: NaiveDate,
    pub actual_arrival: Option<NaiveDate>,
    pub actual_departure: Option<NaiveDate>,
    pub updated_at: Timestamp,
}

crate::list_types!(
    StaySummaryPage,
    StaySummaryList,
    StaySummary,
    "stay summaries, newest first"
);

/// A defender's codename: 2 to 40 characters of one script (letters, digits,
/// spaces, hyphens, apostrophes, full stops), nothing invisible (UTS #39).
pub(crate) struct CodenameFormat;
impl Format for CodenameFormat {
    const NAME: &'static str = "codename";
    const MAX_LEN: usize = 40;
    const EXAMPLE: &'static str = "Kestrel";
    fn check(text: &str) -> Result<(), &'static str> {
        super::model::Codename::parse(text).map(drop)
    }
}

pub(crate) type CodenameText = Formatted<CodenameFormat>;
