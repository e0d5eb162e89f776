//! What the exchange API sends and receives.

use chrono::NaiveDate;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::Object;
use uuid::Uuid;

use super::model::{
    AgreementStatus, Direction, EducationLevel, InstitutionKind, PlacementKind, PlacementStatus,
    Programme,
};
use crate::{
    accounts::model::ActorKind,
    http::{
        formats::{CountryCode, EmailText, Format, Formatted},
        types::Timestamp,
    },
};

/// A school, college, university, employer or municipality.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Institution {
    pub id: Uuid,
    #[oai(validator(max_length = 200))]
    pub name: String,
    pub kind: InstitutionKind,
    /// ISO 3166-1 alpha-2.
    #[oai(validator(max_length = 2))]
    pub country: String,
    #[oai(validator(max_length = 100))]
    pub city: String,
    #[oai(validator(max_length = 16))]
    pub erasmus_code: Option<String>,
    pub sister_city: bool,
    #[oai(validator(max_length = 254))]
    pub contact_email: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewInstitution {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    pub kind: InstitutionKind,
    pub country: CountryCode,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub city: String,
    /// Such as `NL AMSTERD01`; unique where present.
    pub erasmus_code: Option<ErasmusCode>,
    pub sister_city: bool,
    /// Empty or left out: none.
    pub contact_email: Option<EmailText>,
}

/// Changes to an institution; absent fields stay.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct InstitutionUpdate {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    pub kind: Option<InstitutionKind>,
    pub country: Option<CountryCode>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub city: Option<String>,
    /// `null` (or an empty text) removes it.
    #[oai(nullable)]
    pub erasmus_code: MaybeUndefined<ErasmusCode>,
    pub sister_city: Option<bool>,
    /// `null` (or an empty text) removes the contact address.
    #[oai(nullable)]
    pub contact_email: MaybeUndefined<EmailText>,
}

/// Places (and months) an agreement offers for one direction and education level.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quota {
    pub direction: Direction,
    pub education_level: EducationLevel,
    #[oai(validator(minimum(value = "0"), maximum(value = "10000")))]
    pub places: i32,
    #[oai(validator(minimum(value = "0"), maximum(value = "100000")))]
    pub total_months: i32,
}

/// An agreement with a partner institution.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Agreement {
    pub id: Uuid,
    pub partner_institution_id: Uuid,
    pub programme: Programme,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub status: AgreementStatus,
    pub quotas: Vec<Quota>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewAgreement {
    pub partner_institution_id: Uuid,
    pub programme: Programme,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub status: AgreementStatus,
    #[oai(validator(max_items = 14))]
    pub quotas: Vec<Quota>,
}

/// Changes to an agreement; `quotas` replaces all quotas.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AgreementUpdate {
    pub programme: Option<Programme>,
    pub valid_from: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
    pub status: Option<AgreementStatus>,
    #[oai(validator(max_items = 14))]
    pub quotas: Option<Vec<Quota>>,
}

/// A learner. Personal data: every read is audited.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Participant {
    pub id: Uuid,
    #[oai(validator(max_length = 100))]
    pub given_name: String,
    #[oai(validator(max_length = 100))]
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    #[oai(validator(max_length = 254))]
    pub email: String,
    pub education_level: EducationLevel,
    pub home_institution_id: Uuid,
    #[oai(validator(max_length = 100))]
    pub field_of_study: String,
    /// ISO 3166-1 alpha-2.
    #[oai(validator(max_length = 2))]
    pub nationality: String,
    /// Erasmus+ inclusion support; the reason is never stored.
    pub fewer_opportunities: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewParticipant {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub given_name: String,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub email: EmailText,
    pub education_level: EducationLevel,
    pub home_institution_id: Uuid,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub field_of_study: String,
    pub nationality: CountryCode,
    pub fewer_opportunities: bool,
}

/// Changes to a participant; absent fields stay.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ParticipantUpdate {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub given_name: Option<String>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub email: Option<EmailText>,
    pub education_level: Option<EducationLevel>,
    pub home_institution_id: Option<Uuid>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub field_of_study: Option<String>,
    pub nationality: Option<CountryCode>,
    pub fewer_opportunities: Option<bool>,
}

/// A learner's duty-of-care record: who decides for them and whom to call
/// while they are abroad. Sealed under the participant's own data key and
/// destroyed with them; shown only here (in no list, search, export, event
/// or statistic), every read audited; replaced whole, with `If-Match`.
#[derive(Debug, Clone, Default, Object, serde::Serialize, serde::Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", default)]
pub struct ParticipantCare {
    /// Who decides for a minor learner (a parent or guardian); none for an
    /// adult.
    pub legal_representative: Option<LegalRepresentative>,
    /// Whom to call in an emergency while the learner is abroad, the first
    /// first; none when absent.
    #[oai(default, validator(max_items = 3))]
    pub emergency_contacts: Vec<EmergencyContact>,
}

/// Someone to call in an emergency.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyContact {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// How they are related to the learner: parent, host family, teacher, ...
    #[oai(validator(min_length = 1, max_length = 100))]
    pub relationship: String,
    #[oai(validator(min_length = 1, max_length = 40))]
    pub phone: String,
}

/// A minor learner's parent or guardian.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct LegalRepresentative {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// How they are related to the learner: parent, guardian, ...
    #[oai(validator(min_length = 1, max_length = 100))]
    pub relationship: String,
    #[oai(validator(min_length = 1, max_length = 40))]
    pub phone: String,
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
}

/// A search by name (in the body, never the URL): exact after normalisation.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ParticipantSearch {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub given_name: String,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub family_name: String,
}

/// Participants found.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ParticipantSearchResult {
    pub items: Vec<Participant>,
}

/// One mobility of a participant.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    pub id: Uuid,
    /// `EX-<year>-<nnnn>`.
    #[oai(validator(max_length = 20))]
    pub reference: String,
    pub participant_id: Uuid,
    pub direction: Direction,
    pub agreement_id: Option<Uuid>,
    pub sending_institution_id: Uuid,
    pub receiving_institution_id: Uuid,
    pub kind: PlacementKind,
    #[serde(serialize_with = "crate::http::types::serialize_date")]
    pub planned_start: NaiveDate,
    #[serde(serialize_with = "crate::http::types::serialize_date")]
    pub planned_end: NaiveDate,
    #[serde(serialize_with = "crate::http::types::serialize_optional_date")]
    pub actual_start: Option<NaiveDate>,
    #[serde(serialize_with = "crate::http::types::serialize_optional_date")]
    pub actual_end: Option<NaiveDate>,
    #[oai(validator(max_length = 60))]
    pub funding_programme: Option<String>,
    pub status: PlacementStatus,
    /// The participant's level when the placement was made.
    pub education_level: EducationLevel,
    /// The partner country: the receiving institution's for outgoing, the sending one's for incoming.
    #[oai(validator(max_length = 2))]
    pub country: String,
    /// One-way distance for the travel allowance.
    pub travel_distance_km: Option<i32>,
    pub green_travel: bool,
    /// The grant, when a rate table covers the start date and destination.
    pub grant: Option<super::grants::Grant>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewPlacement {
    pub participant_id: Uuid,
    pub direction: Direction,
    pub agreement_id: Option<Uuid>,
    pub sending_institution_id: Uuid,
    pub receiving_institution_id: Uuid,
    pub kind: PlacementKind,
    pub planned_start: NaiveDate,
    pub planned_end: NaiveDate,
    #[oai(validator(max_length = 60))]
    pub funding_programme: Option<String>,
    /// One-way distance in km (the Erasmus+ distance calculator's figure).
    #[oai(validator(minimum(value = "0"), maximum(value = "40000")))]
    pub travel_distance_km: Option<i32>,
    /// Travel by train, bus or car-pooling.
    pub green_travel: Option<bool>,
}

/// Changes to a placement; absent fields stay.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PlacementUpdate {
    pub kind: Option<PlacementKind>,
    pub planned_start: Option<NaiveDate>,
    pub planned_end: Option<NaiveDate>,
    /// A correction; `null` clears it only while the placement has not
    /// started (a start the status recorded is corrected, not removed).
    #[oai(nullable)]
    pub actual_start: MaybeUndefined<NaiveDate>,
    /// A correction; `null` clears it only while the placement has not ended.
    #[oai(nullable)]
    pub actual_end: MaybeUndefined<NaiveDate>,
    /// `null` (or an empty text) clears it.
    #[oai(nullable, validator(max_length = 60))]
    pub funding_programme: MaybeUndefined<String>,
    /// `null` clears it.
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "40000")))]
    pub travel_distance_km: MaybeUndefined<i32>,
    pub green_travel: Option<bool>,
}

/// A change of a placement's status.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PlacementStatusChange {
    pub id: Uuid,
    pub from: Option<PlacementStatus>,
    pub to: PlacementStatus,
    #[oai(validator(max_length = 2000))]
    pub reason: Option<String>,
    /// An exchange coordinator accepted it over its agreement's quota.
    pub quota_overridden: bool,
    pub changed_at: Timestamp,
    /// The staff member or API client who made the change.
    pub changed_by: Uuid,
    pub changed_by_type: ActorKind,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewPlacementStatusChange {
    pub to: PlacementStatus,
    #[oai(validator(max_length = 2000))]
    pub reason: Option<String>,
    /// Accept over the agreement's quota (exchange coordinators; needs a reason).
    pub override_quota: Option<bool>,
    /// The day the placement actually started, when moving to `in_progress`
    /// (today if left out). Required when today is before the planned start:
    /// an early start is recorded as said, never guessed.
    pub actual_start: Option<NaiveDate>,
    /// The day the placement actually ended, when moving a started placement
    /// to `completed`, `interrupted` or `cancelled` (today if left out).
    pub actual_end: Option<NaiveDate>,
}

crate::list_types!(
    InstitutionPage,
    InstitutionList,
    Institution,
    "institutions"
);
crate::list_types!(AgreementPage, AgreementList, Agreement, "agreements");
crate::list_types!(
    ParticipantPage,
    ParticipantList,
    Participant,
    "participants"
);
crate::list_types!(
    serde PlacementPage,
    PlacementList,
    Placement,
    "placements, newest first"
);
crate::list_types!(
    PlacementStatusChangePage,
    PlacementStatusChangeList,
    PlacementStatusChange,
    "status changes, newest first"
);

/// An Erasmus institution code (empty where the field allows none).
pub(crate) struct ErasmusCodeFormat;
impl Format for ErasmusCodeFormat {
    const NAME: &'static str = "erasmus-code";
    const MAX_LEN: usize = 16;
    const EXAMPLE: &'static str = "NL AMSTERD01";
    fn check(text: &str) -> Result<(), &'static str> {
        if text.trim().is_empty() {
            return Ok(());
        }
        super::model::parse_erasmus_code(text).map(drop)
    }
}

pub(crate) type ErasmusCode = Formatted<ErasmusCodeFormat>;
