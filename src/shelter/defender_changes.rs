//! A defender's PATCH as the handler calls it: one transaction that loads
//! the defender, checks the version, seals a new identity under the
//! defender's own key (with its blind index), and writes the changed
//! columns with an event about the defender (a taken codename is a 409).

use uuid::Uuid;

use super::{
    defender_intake::{seal_identity, CODENAME_TAKEN},
    model::{Codename, FieldOfWork, RiskLevel},
    sight, store, vault,
    views::DefenderIdentity,
};
use crate::{
    accounts::access::Caller,
    db::begin_write,
    entities::defenders,
    http::{
        if_match_version,
        problem::{write_taken, ApiError},
    },
    text::normalized_name,
    versioned::Changes,
    AppState,
};

/// A defender's fields to change, parsed; `None` leaves a field alone.
#[derive(Default)]
pub(crate) struct Update {
    pub codename: Option<Codename>,
    pub country_of_work: Option<String>,
    pub field_of_work: Option<FieldOfWork>,
    pub languages: Option<Vec<String>>,
    /// `Some(None)` clears it.
    pub gender: Option<Option<String>>,
    pub risk_level: Option<RiskLevel>,
    pub identity: Option<DefenderIdentity>,
}

/// Applies `update` to defender `id` at the version `if_match` names;
/// answers the defender as it now stands.
pub(crate) async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    if_match: Option<&str>,
    update: &Update,
) -> Result<defenders::Model, ApiError> {
    use defenders::Column as C;
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let m = store::defender(&txn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let expected = if_match_version(if_match, m.version)?;
    let mut changes = Changes::<defenders::Entity>::new();
    if let Some(c) = update
        .codename
        .as_ref()
        .filter(|c| c.as_str() != m.codename)
    {
        changes.set("codename", C::Codename, c.as_str());
        changes.set("codename", C::CodenameKey, c.key());
    }
    if let Some(c) = &update.country_of_work {
        changes.set("countryOfWork", C::CountryOfWork, c.as_str());
    }
    if let Some(f) = update.field_of_work {
        changes.set("fieldOfWork", C::FieldOfWork, f.as_str());
    }
    if let Some(l) = &update.languages {
        let l = serde_json::to_string(l).map_err(|_| ApiError::internal())?;
        changes.set("languages", C::Languages, l);
    }
    if let Some(g) = &update.gender {
        changes.set("gender", C::Gender, g.clone());
    }
    if let Some(r) = update.risk_level {
        changes.set("riskLevel", C::RiskLevel, r.as_str());
    }
    if let Some(i) = &update.identity {
        let key = vault::data_key(&txn, &state.keys, m.data_key_id).await?;
        let sealed = seal_identity(&key, m.id, i)?;
        let index = state
            .keys
            .index
            .blind_index(&normalized_name(&i.legal_name));
        changes.set("identity", C::IdentityEnc, Some(sealed));
        changes.set("identity", C::LegalNameIndex, Some(index));
    }
    let audit = sight::defender_audit(state, caller, &m).await?;
    let updated = store::update_defender(&txn, &audit, now, m.id, expected, changes)
        .await
        .map_err(write_taken(CODENAME_TAKEN))?
        .unwrap_or(m);
    txn.commit().await?;
    Ok(updated)
}
