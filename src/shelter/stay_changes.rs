//! A stay's PATCH as the handler calls it: the free texts checked (every
//! problem at once), the stay found as far as the caller may see it, the
//! version and the confidentiality rule checked, the dates checked against
//! the stored ones, the free texts sealed under the defender's key, and the
//! changes written with their event and archive index entry.

use chrono::NaiveDate;
use uuid::Uuid;

use super::{
    lifecycle,
    model::{Confidentiality, StayStatus},
    sight::{self, StayInSight},
    stay_status, store,
    vault::{self, Field},
    views::StayUpdate,
};
use crate::{
    accounts::access::Caller,
    db::begin_write,
    entities::stays,
    http::{
        body::patch_text,
        if_match_version,
        problem::{ApiError, InvalidParam},
    },
    text::parse_text,
    versioned::Changes,
    AppState,
};

/// Changes stay `id` (as far as `caller` may see it) at the version
/// `if_match` names; answers the stay as it now stands.
pub(crate) async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    if_match: Option<&str>,
    body: &StayUpdate,
) -> Result<StayInSight, ApiError> {
    let mut problems = Vec::new();
    let texts = stay_texts(
        body.intake_round.as_deref(),
        patch_text(&body.referring_organisation),
        patch_text(&body.local_partner),
        patch_text(&body.accommodation_address),
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let found = sight::stay_in_full(state, caller, id).await?;
    let s = &found.stay;
    let expected = if_match_version(if_match, s.version)?;
    if let Some(to) = body.confidentiality {
        let from = Confidentiality::stored(&s.confidentiality, "stays.confidentiality")?;
        let coordinator = sight::is_coordinator(caller);
        lifecycle::check_confidentiality(from, to, coordinator, caller.audit.has_reason())
            .map_err(stay_status::confidentiality_problem)?;
    }
    let arrival = body.planned_arrival.unwrap_or(s.planned_arrival);
    let departure = body.planned_departure.unwrap_or(s.planned_departure);
    check_dates(arrival, departure, &mut problems);
    let status = StayStatus::stored(&s.status, "stays.status")?;
    check_clearing(body, s, status, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let now = state.clock.now();
    let key = found.data_key(&state.keys)?;
    let changes = stay_changes(body, texts, &key, s.id, arrival, departure);
    let txn = begin_write(&state.db).await?;
    let ctx = found.audit(&state.keys, caller)?;
    let stay = store::update_stay(&txn, &ctx, now, s, expected, changes).await?;
    txn.commit().await?;
    Ok(StayInSight {
        stay: stay.unwrap_or_else(|| found.stay.clone()),
        ..found
    })
}

/// A free text of at most `max` characters, none when empty; a problem
/// for `name` otherwise.
pub(crate) fn text_field(
    name: &str,
    value: Option<&str>,
    max: usize,
    problems: &mut Vec<InvalidParam>,
) -> Option<String> {
    value.and_then(|v| match parse_text(v, max) {
        Ok(v) => Some(v).filter(|v| !v.is_empty()),
        Err(reason) => {
            problems.push(InvalidParam::new(name, "invalid", reason));
            None
        }
    })
}

/// An actual day the status recorded is corrected, never removed: the
/// arrival can be cleared only before the stay began, the departure only
/// before the return.
fn check_clearing(
    body: &StayUpdate,
    s: &stays::Model,
    status: StayStatus,
    problems: &mut Vec<InvalidParam>,
) {
    use StayStatus::*;
    let not_begun = matches!(
        status,
        Referred | Intake | Postponed | PreArrival | VisaRefused
    );
    let not_returned = not_begun || matches!(status, InResidence | ReturnPreparation);
    let recorded = [
        (
            "actualArrival",
            &body.actual_arrival,
            s.actual_arrival,
            not_begun,
        ),
        (
            "actualDeparture",
            &body.actual_departure,
            s.actual_departure,
            not_returned,
        ),
    ];
    for (name, field, stored, clearable) in recorded {
        if field.is_null() && stored.is_some() && !clearable {
            problems.push(InvalidParam::new(
                name,
                "recorded_by_status",
                format!(
                    "The stay is {}: this day was recorded by its status and can be corrected, not removed.",
                    status.as_str()
                ),
            ));
        }
    }
}

/// The planned departure is not before the planned arrival.
pub(crate) fn check_dates(
    arrival: NaiveDate,
    departure: NaiveDate,
    problems: &mut Vec<InvalidParam>,
) {
    if departure < arrival {
        problems.push(InvalidParam::new(
            "plannedDeparture",
            "before_arrival",
            "The planned departure is before the planned arrival.",
        ));
    }
}

/// The checked free texts of a stay's body.
pub(crate) struct StayTexts {
    pub intake_round: Option<String>,
    pub referring: Option<String>,
    pub partner: Option<String>,
    pub address: Option<String>,
}

/// A stay's free texts in a body, each checked (every problem collected).
pub(crate) fn stay_texts(
    intake_round: Option<&str>,
    referring: Option<&str>,
    partner: Option<&str>,
    address: Option<&str>,
    problems: &mut Vec<InvalidParam>,
) -> StayTexts {
    StayTexts {
        intake_round: text_field("intakeRound", intake_round, 40, problems),
        referring: text_field("referringOrganisation", referring, 200, problems),
        partner: text_field("localPartner", partner, 200, problems),
        address: text_field("accommodationAddress", address, 500, problems),
    }
}

/// A stay's PATCH as field changes, each under its wire name; the free text
/// sealed under the defender's key.
fn stay_changes(
    body: &StayUpdate,
    texts: StayTexts,
    key: &crate::crypto::MasterKey,
    id: Uuid,
    arrival: chrono::NaiveDate,
    departure: chrono::NaiveDate,
) -> Changes<stays::Entity> {
    let StayTexts {
        intake_round,
        referring,
        partner,
        address,
    } = texts;
    let mut changes = Changes::<stays::Entity>::new();
    macro_rules! set {
        ($present:expr, $col:expr, $value:expr, $name:literal) => {
            if $present {
                changes.set($name, $col, $value);
            }
        };
    }
    set!(
        intake_round.is_some(),
        stays::Column::IntakeRound,
        intake_round.clone().unwrap_or_default(),
        "intakeRound"
    );
    set!(
        !body.referring_organisation.is_undefined(),
        stays::Column::ReferringOrganisationEnc,
        vault::seal_opt(
            key,
            Field::StayReferringOrganisation,
            id,
            referring.as_deref()
        ),
        "referringOrganisation"
    );
    set!(
        body.planned_arrival.is_some(),
        stays::Column::PlannedArrival,
        arrival,
        "plannedArrival"
    );
    set!(
        body.planned_departure.is_some(),
        stays::Column::PlannedDeparture,
        departure,
        "plannedDeparture"
    );
    set!(
        !body.actual_arrival.is_undefined(),
        stays::Column::ActualArrival,
        body.actual_arrival.value().copied(),
        "actualArrival"
    );
    set!(
        !body.actual_departure.is_undefined(),
        stays::Column::ActualDeparture,
        body.actual_departure.value().copied(),
        "actualDeparture"
    );
    set!(
        body.visa_status.is_some(),
        stays::Column::VisaStatus,
        body.visa_status.map(|v| v.as_str()).unwrap_or_default(),
        "visaStatus"
    );
    set!(
        body.insurance_arranged.is_some(),
        stays::Column::InsuranceArranged,
        body.insurance_arranged.unwrap_or_default(),
        "insuranceArranged"
    );
    set!(
        !body.local_partner.is_undefined(),
        stays::Column::LocalPartnerEnc,
        vault::seal_opt(key, Field::StayLocalPartner, id, partner.as_deref()),
        "localPartner"
    );
    set!(
        body.confidentiality.is_some(),
        stays::Column::Confidentiality,
        body.confidentiality.map(|c| c.as_str()).unwrap_or_default(),
        "confidentiality"
    );
    set!(
        !body.accommodation_address.is_undefined(),
        stays::Column::AccommodationAddressEnc,
        vault::seal_opt(key, Field::StayAddress, id, address.as_deref()),
        "accommodationAddress"
    );
    changes
}
