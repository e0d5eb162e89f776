//! A participant's PATCH as the handler calls it: the body parsed into
//! [`Update`] (every problem at once), then one transaction that loads the
//! row, checks the version and the home institution, computes the changes
//! from the update and the row ([`changes`]) and writes them with their event.

use chrono::NaiveDate;
use uuid::Uuid;

use super::{
    model::{name_key, EducationLevel},
    store,
};
use crate::{
    accounts::access::Caller,
    db::begin_write,
    entities::participants,
    http::{if_match_version, problem::ApiError},
    versioned::Changes,
    AppState,
};

/// A participant's fields to change, parsed; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct Update {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub email: Option<String>,
    pub education_level: Option<EducationLevel>,
    pub home_institution_id: Option<Uuid>,
    pub field_of_study: Option<String>,
    pub nationality: Option<String>,
    pub fewer_opportunities: Option<bool>,
}

/// The columns `update` changes in `current` (the name's search key with
/// either part of the name).
pub fn changes(update: Update, current: &participants::Model) -> Changes<participants::Entity> {
    use participants::Column as C;
    let mut changes = Changes::new();
    if update.given_name.is_some() || update.family_name.is_some() {
        let given = update.given_name.as_deref().unwrap_or(&current.given_name);
        let family = update
            .family_name
            .as_deref()
            .unwrap_or(&current.family_name);
        changes.also(C::NameKey, name_key(given, family));
    }
    let Update {
        given_name,
        family_name,
        date_of_birth,
        email,
        education_level,
        home_institution_id,
        field_of_study,
        nationality,
        fewer_opportunities,
    } = update;
    let mut set = |field, column, value: Option<sea_orm::Value>| {
        if let Some(v) = value {
            changes.set(field, column, v);
        }
    };
    set("givenName", C::GivenName, given_name.map(Into::into));
    set("familyName", C::FamilyName, family_name.map(Into::into));
    set("dateOfBirth", C::DateOfBirth, date_of_birth.map(Into::into));
    set("email", C::Email, email.map(Into::into));
    let level = education_level.map(|l| l.as_str().into());
    set("educationLevel", C::EducationLevel, level);
    let home = home_institution_id.map(Into::into);
    set("homeInstitutionId", C::HomeInstitutionId, home);
    set(
        "fieldOfStudy",
        C::FieldOfStudy,
        field_of_study.map(Into::into),
    );
    set("nationality", C::Nationality, nationality.map(Into::into));
    let fewer = fewer_opportunities.map(Into::into);
    set("fewerOpportunities", C::FewerOpportunities, fewer);
    changes
}

/// Applies `update` to participant `id` at the version `if_match` names;
/// answers the participant as it now stands.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    if_match: Option<&str>,
    update: Update,
) -> Result<participants::Model, ApiError> {
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let m = store::find_participant(&txn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let expected = if_match_version(if_match, m.version)?;
    if let Some(h) = update.home_institution_id {
        if store::find_institution(&txn, h).await?.is_none() {
            return Err(ApiError::field(
                "homeInstitutionId",
                "unknown",
                "There is no such institution.",
            ));
        }
    }
    let changes = changes(update, &m);
    let updated = store::update_participant(&txn, &caller.audit, now, m.id, expected, changes)
        .await?
        .unwrap_or(m);
    txn.commit().await?;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> participants::Model {
        let now = chrono::Utc::now();
        participants::Model {
            id: Uuid::now_v7(),
            given_name: "Sanne".into(),
            family_name: "de Vries".into(),
            name_key: name_key("Sanne", "de Vries"),
            date_of_birth: NaiveDate::from_ymd_opt(2007, 3, 1).unwrap(),
            email: "s@example.nl".into(),
            education_level: "mbo_4".into(),
            home_institution_id: Uuid::now_v7(),
            field_of_study: "Care".into(),
            nationality: "NL".into(),
            fewer_opportunities: false,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn every_field_is_named_and_a_name_part_moves_the_search_key() {
        let update = Update {
            family_name: Some("Jansen".into()),
            email: Some("n@example.nl".into()),
            fewer_opportunities: Some(true),
            ..Update::default()
        };
        let c = changes(update, &current());
        assert_eq!(c.fields(), ["familyName", "email", "fewerOpportunities"]);
        assert!(changes(Update::default(), &current()).is_empty());
    }
}
