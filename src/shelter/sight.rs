//! Need to know, decided in one place per resource: coordinators see
//! everything; caseworkers see every stay's summary, and protected fields,
//! notes, risk assessments and check-in notes only of stays they are assigned
//! to. (Other roles never get here: the access rules answer 404.)

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::store;
use crate::{
    accounts::{access::Caller, model::Role},
    audit::{self, Event},
    entities::{defenders, stays},
    http::problem::ApiError,
    AppState,
};

pub(crate) fn is_coordinator(caller: &Caller) -> bool {
    caller.has(Role::ShelterCoordinator)
}

/// Condition for lists of stays: what of them the caller may know exists
/// (secret stays only for coordinators and the assigned staff, never for
/// API clients).
pub(crate) fn visible_stays(caller: &Caller) -> sea_orm::Condition {
    if is_coordinator(caller) {
        sea_orm::Condition::all()
    } else if caller.roles.is_empty() {
        store::stay_not_secret_to(None)
    } else {
        store::stay_not_secret_to(Some(caller.actor_id))
    }
}

/// Condition for lists of defenders (see [`visible_stays`]).
pub(crate) fn visible_defenders(caller: &Caller) -> sea_orm::Condition {
    if is_coordinator(caller) {
        sea_orm::Condition::all()
    } else {
        store::defender_not_secret_to(caller.actor_id)
    }
}

/// A defender the caller may know exists: 404 (audited) when it has a
/// secret stay the caller is not assigned to.
pub(crate) async fn defender_in_sight(
    state: &AppState,
    caller: &Caller,
    defender: &defenders::Model,
) -> Result<(), ApiError> {
    if is_coordinator(caller)
        || !store::defender_secret_to(&state.db, defender.id, caller.actor_id).await?
    {
        return Ok(());
    }
    deny_as_absent(state, caller, "defender", defender.id).await
}

/// Like [`defender_in_sight`], and the caller must also see the defender's
/// identity-level records (its publicity consents): coordinators and staff
/// assigned to one of its stays.
pub(crate) async fn defender_in_full(
    state: &AppState,
    caller: &Caller,
    defender: &defenders::Model,
) -> Result<(), ApiError> {
    if sees_identity(&state.db, caller, defender.id).await? {
        return Ok(());
    }
    deny_as_absent(state, caller, "defender", defender.id).await
}

/// A refusal that looks like absence, on record first.
async fn deny_as_absent(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    id: Uuid,
) -> Result<(), ApiError> {
    audit::record_alone(
        &state.audit,
        state.clock.now(),
        &caller.audit,
        Event::new("access.denied", 404).on(kind, id),
    )
    .await?;
    Err(ApiError::not_found())
}

/// A stay as a caller may see it.
pub(crate) struct StayInSight {
    pub stay: stays::Model,
    pub defender: defenders::Model,
    /// The defender's data key as stored (wrapped by the master key), read
    /// with the stay; `None` if it was destroyed. Unwrap it with
    /// [`StayInSight::data_key`].
    pub wrapped_key: Option<String>,
    /// May see protected fields and records of this stay.
    pub full: bool,
}

impl StayInSight {
    /// The defender's data key, for the stay's protected fields.
    pub(crate) fn data_key(
        &self,
        keys: &crate::keyring::Keys,
    ) -> Result<crate::crypto::DataKey, ApiError> {
        super::vault::unwrap_data_key(keys, self.defender.data_key_id, self.wrapped_key.as_deref())
    }

    /// The context of this request's audit events about the stay: its
    /// `X-Audit-Reason` sealed under the defender's data key.
    pub(crate) fn audit(
        &self,
        keys: &crate::keyring::Keys,
        caller: &Caller,
    ) -> Result<audit::Context, ApiError> {
        if !caller.audit.has_reason() {
            return Ok(caller.audit.clone());
        }
        let key = self.data_key(keys)?;
        Ok(caller.audit.about_defender(self.defender.data_key_id, &key))
    }

    /// Puts on record, before the data leaves, that `caller` read `fields`
    /// of this stay (an audit event of its own).
    pub(crate) async fn record_read(
        &self,
        state: &AppState,
        caller: &Caller,
        fields: Vec<&str>,
    ) -> Result<(), ApiError> {
        let event = audit::Event::new("read", 200)
            .on("stay", self.stay.id)
            .fields(fields);
        let ctx = self.audit(&state.keys, caller)?;
        audit::record_alone(&state.audit, state.clock.now(), &ctx, event).await?;
        Ok(())
    }
}

/// The context of this request's audit events about a defender (see
/// [`StayInSight::audit`]).
pub(crate) async fn defender_audit(
    state: &AppState,
    caller: &Caller,
    defender: &defenders::Model,
) -> Result<audit::Context, ApiError> {
    if !caller.audit.has_reason() || defender.data_key_id.is_none() {
        return Ok(caller.audit.clone());
    }
    let key = super::vault::data_key(&state.db, &state.keys, defender.data_key_id).await?;
    Ok(caller.audit.about_defender(defender.data_key_id, &key))
}

/// Loads a stay for a caller: 404 when it does not exist, its defender was
/// erased, or it is secret and the caller is not in it (that refusal audited).
pub(crate) async fn stay(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<StayInSight, ApiError> {
    let db = &state.db;
    let (stay, defender, wrapped_key) = store::stay_with_key(db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let full = is_coordinator(caller) || store::is_assigned(db, id, caller.actor_id).await?;
    // a secret stay does not exist for those who are not in it
    if stay.confidentiality == store::SECRET && !full {
        deny_as_absent(state, caller, "stay", id).await?;
    }
    Ok(StayInSight {
        stay,
        defender,
        wrapped_key,
        full,
    })
}

/// Like [`stay`], but only for callers with full sight; others get 404, and
/// the refusal is audited.
pub(crate) async fn stay_in_full(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<StayInSight, ApiError> {
    let found = stay(state, caller, id).await?;
    if !found.full {
        audit::record_alone(
            &state.audit,
            state.clock.now(),
            &found.audit(&state.keys, caller)?,
            Event::new("access.denied", 404).on("stay", id),
        )
        .await?;
        return Err(ApiError::not_found());
    }
    Ok(found)
}

/// Whether the caller may see a defender's identity.
pub(crate) async fn sees_identity(
    db: &DatabaseConnection,
    caller: &Caller,
    defender_id: Uuid,
) -> Result<bool, ApiError> {
    Ok(is_coordinator(caller)
        || store::is_assigned_to_defender(db, defender_id, caller.actor_id).await?)
}
