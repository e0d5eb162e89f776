//! A defender registered, as the handler calls it: one transaction that
//! makes the defender's own data key, seals the identity under it, indexes
//! the legal name blindly, and writes the defender with its event (a taken
//! codename is a 409).

use sea_orm::ActiveValue::Set;
use uuid::Uuid;

use super::{
    model::{Codename, FieldOfWork, RiskLevel},
    store,
    vault::{self, Field},
    views::DefenderIdentity,
};
use crate::{
    accounts::access::Caller,
    crypto::DataKey,
    db::begin_write,
    entities::defenders,
    http::problem::{taken, ApiError},
    text::normalized_name,
    AppState,
};

/// What two defenders may not share.
pub(crate) const CODENAME_TAKEN: &str = "Another defender has this codename.";

/// A new defender, parsed.
pub(crate) struct NewDefender {
    pub codename: Codename,
    pub country_of_work: String,
    pub field_of_work: FieldOfWork,
    pub languages: Vec<String>,
    pub gender: Option<String>,
    pub risk_level: RiskLevel,
    pub identity: Option<DefenderIdentity>,
}

/// A defender's identity sealed under its data key, bound to its row.
pub(crate) fn seal_identity(
    key: &DataKey,
    id: Uuid,
    identity: &DefenderIdentity,
) -> Result<String, ApiError> {
    let json =
        zeroize::Zeroizing::new(serde_json::to_string(identity).map_err(|_| ApiError::internal())?);
    Ok(vault::seal(key, Field::DefenderIdentity, id, &json))
}

/// Registers `new`; answers the defender as stored.
pub(crate) async fn register(
    state: &AppState,
    caller: &Caller,
    new: &NewDefender,
) -> Result<defenders::Model, ApiError> {
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let languages = serde_json::to_string(&new.languages).map_err(|_| ApiError::internal())?;
    let txn = begin_write(&state.db).await?;
    let (key_id, key) = crate::keyring::new_data_key(&txn, &state.keys, now).await?;
    let identity_enc = new
        .identity
        .as_ref()
        .map(|i| seal_identity(&key, id, i))
        .transpose()?;
    let index = new.identity.as_ref().map(|i| {
        state
            .keys
            .index
            .blind_index(&normalized_name(&i.legal_name))
    });
    let model = defenders::ActiveModel {
        id: Set(id),
        codename: Set(new.codename.as_str().to_owned()),
        codename_key: Set(new.codename.key()),
        country_of_work: Set(new.country_of_work.clone()),
        field_of_work: Set(new.field_of_work.as_str().to_owned()),
        languages: Set(languages),
        gender: Set(new.gender.clone().filter(|g| !g.is_empty())),
        risk_level: Set(new.risk_level.as_str().to_owned()),
        data_key_id: Set(Some(key_id)),
        identity_enc: Set(identity_enc),
        legal_name_index: Set(index),
        erased_at: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let mut fields = vec![
        "codename",
        "countryOfWork",
        "fieldOfWork",
        "languages",
        "gender",
        "riskLevel",
    ];
    if new.identity.is_some() {
        fields.push("identity");
    }
    let audit = caller.audit.about_defender(Some(key_id), &key);
    let created = store::insert_defender(&txn, &audit, now, model, fields)
        .await
        .map_err(taken(CODENAME_TAKEN))?;
    txn.commit().await?;
    Ok(created)
}
