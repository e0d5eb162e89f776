//! A stay opened for a defender, as the handler calls it: one transaction
//! that finds the defender, seals the stay's protected fields under the
//! defender's data key, numbers the stay and writes it with its event.

use chrono::NaiveDate;
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

use super::{
    model::{Confidentiality, StayStatus, VisaStatus},
    store,
    vault::{self, Field},
};
use crate::{
    accounts::access::Caller, db::begin_write, entities::stays, http::problem::ApiError, AppState,
};

/// A new stay, parsed.
pub(crate) struct NewStay {
    pub defender_id: Uuid,
    pub intake_round: String,
    pub referring_organisation: Option<String>,
    pub local_partner: Option<String>,
    pub accommodation_address: Option<String>,
    pub planned_arrival: NaiveDate,
    pub planned_departure: NaiveDate,
    pub visa_status: VisaStatus,
    pub insurance_arranged: bool,
    pub confidentiality: Confidentiality,
}

/// Opens `new` (status `referred`); answers the stay as stored and its
/// defender's codename. An unknown defender is a 400 on `defenderId`.
pub(crate) async fn open(
    state: &AppState,
    caller: &Caller,
    new: &NewStay,
) -> Result<(stays::Model, String), ApiError> {
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let txn = begin_write(&state.db).await?;
    let Some(defender) = store::defender(&txn, new.defender_id).await? else {
        return Err(ApiError::field(
            "defenderId",
            "unknown",
            "There is no such defender.",
        ));
    };
    let key = vault::data_key(&txn, &state.keys, defender.data_key_id).await?;
    let ctx = caller.audit.about_defender(defender.data_key_id, &key);
    let reference = store::next_stay_reference(&txn, now).await?;
    let seal = |field, text: &Option<String>| vault::seal_opt(&key, field, id, text.as_deref());
    let row = stays::ActiveModel {
        id: Set(id),
        reference: Set(reference),
        defender_id: Set(defender.id),
        intake_round: Set(new.intake_round.clone()),
        referring_organisation: Set(None),
        referring_organisation_enc: Set(seal(
            Field::StayReferringOrganisation,
            &new.referring_organisation,
        )),
        local_partner_enc: Set(seal(Field::StayLocalPartner, &new.local_partner)),
        planned_arrival: Set(new.planned_arrival),
        planned_departure: Set(new.planned_departure),
        actual_arrival: Set(None),
        actual_departure: Set(None),
        visa_status: Set(new.visa_status.as_str().to_owned()),
        insurance_arranged: Set(new.insurance_arranged),
        local_partner: Set(None),
        status: Set(StayStatus::Referred.as_str().to_owned()),
        confidentiality: Set(new.confidentiality.as_str().to_owned()),
        accommodation_address_enc: Set(seal(Field::StayAddress, &new.accommodation_address)),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let stay = store::insert_stay(&txn, &ctx, now, row, caller.actor_id).await?;
    txn.commit().await?;
    Ok((stay, defender.codename))
}
