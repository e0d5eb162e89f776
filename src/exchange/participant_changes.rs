//! A participant registered and changed as the handlers call them. A new
//! participant: every problem of the body at once, then the home
//! institution checked and the row written with its event. A PATCH: the
//! body parsed into [`Update`] (every problem at once), then one
//! transaction that loads the row, checks the version and the home
//! institution, computes the changes from the update and the row
//! ([`changes`]) and writes them with their event.

use chrono::NaiveDate;
use uuid::Uuid;

use sea_orm::ActiveValue::Set;

use super::{
    model::{name_key, EducationLevel},
    store,
    views::{NewParticipant, ParticipantUpdate},
};
use crate::{
    accounts::{access::Caller, model::Email},
    db::begin_write,
    entities::participants,
    http::{
        if_match_version,
        problem::{ApiError, InvalidParam},
    },
    text::{parse_country, parse_text},
    versioned::Changes,
    AppState,
};

/// A participant's fields to change, parsed; `None` leaves a field alone.
#[derive(Debug, Default)]
pub(crate) struct Update {
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
pub(crate) fn changes(
    update: Update,
    current: &participants::Model,
) -> Changes<participants::Entity> {
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

/// A participant's PATCH body parsed, every problem at once.
pub(crate) fn parse_update(body: &ParticipantUpdate) -> Result<Update, ApiError> {
    let mut problems = Vec::new();
    let mut text = |field: &str, value: &Option<String>| {
        value.as_deref().map(|v| name(field, v, &mut problems))
    };
    let given_name = text("givenName", &body.given_name);
    let family_name = text("familyName", &body.family_name);
    let field_of_study = text("fieldOfStudy", &body.field_of_study);
    let email = body.email.as_deref().map(|e| {
        Email::parse(e)
            .map(|e| e.as_str().to_owned())
            .map_err(|r| problems.push(InvalidParam::new("email", "invalid", r)))
            .unwrap_or_default()
    });
    let nationality = body.nationality.as_deref().map(|n| {
        parse_country(n)
            .map_err(|r| problems.push(InvalidParam::new("nationality", "invalid", r)))
            .unwrap_or_default()
    });
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    Ok(Update {
        given_name,
        family_name,
        date_of_birth: body.date_of_birth,
        email,
        education_level: body.education_level,
        home_institution_id: body.home_institution_id,
        field_of_study,
        nationality,
        fewer_opportunities: body.fewer_opportunities,
    })
}

/// A name part or field of study: 1 to 100 characters; a problem for
/// `field` otherwise.
fn name(field: &str, value: &str, problems: &mut Vec<InvalidParam>) -> String {
    match parse_text(value, 100) {
        Ok(v) if !v.is_empty() => v,
        _ => {
            problems.push(InvalidParam::new(
                field,
                "invalid",
                "1 to 100 characters, no control characters",
            ));
            String::new()
        }
    }
}

/// Every problem of a new participant's body at once, or their row.
pub(crate) fn new_participant(
    body: &NewParticipant,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<participants::ActiveModel, Vec<InvalidParam>> {
    let mut problems = Vec::new();
    let given = name("givenName", &body.given_name, &mut problems);
    let family = name("familyName", &body.family_name, &mut problems);
    let field = name("fieldOfStudy", &body.field_of_study, &mut problems);
    let email = Email::parse(&body.email)
        .map(|e| e.as_str().to_owned())
        .map_err(|r| problems.push(InvalidParam::new("email", "invalid", r)))
        .unwrap_or_default();
    let nationality = parse_country(&body.nationality)
        .map_err(|r| problems.push(InvalidParam::new("nationality", "invalid", r)))
        .unwrap_or_default();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(participants::ActiveModel {
        id: Set(Uuid::now_v7()),
        name_key: Set(name_key(&given, &family)),
        given_name: Set(given),
        family_name: Set(family),
        date_of_birth: Set(body.date_of_birth),
        email: Set(email),
        education_level: Set(body.education_level.as_str().to_owned()),
        home_institution_id: Set(body.home_institution_id),
        field_of_study: Set(field),
        nationality: Set(nationality),
        fewer_opportunities: Set(body.fewer_opportunities),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        data_key_id: Set(None),
        care_enc: Set(None),
    })
}

/// Registers a participant as `caller`; their home institution exists.
pub(crate) async fn register(
    state: &AppState,
    caller: &Caller,
    body: &NewParticipant,
) -> Result<participants::Model, ApiError> {
    let now = state.clock.now();
    let row = new_participant(body, now).map_err(ApiError::invalid)?;
    let txn = begin_write(&state.db).await?;
    if store::find_institution(&txn, body.home_institution_id)
        .await?
        .is_none()
    {
        let detail = "There is no such institution.";
        return Err(ApiError::field("homeInstitutionId", "unknown", detail));
    }
    let created = store::insert_participant(&txn, &caller.audit, now, row).await?;
    txn.commit().await?;
    Ok(created)
}

/// Applies `update` to participant `id` at the version `if_match` names;
/// answers the participant as it now stands.
pub(crate) async fn update(
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
            data_key_id: None,
            care_enc: None,
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
