//! A learner's duty of care: what the sending organisation must know to look
//! after them abroad (issue 35's "duty of care"), as one document per
//! participant, sealed like a defender's identity. The document is sealed
//! whole under the participant's own data key, made when it is first
//! written and destroyed with the participant, so that nothing of it can be
//! read afterwards wherever a copy of the ciphertext remains (PostgreSQL's
//! WAL and dead rows, a backup). A field of the document lives in the view
//! ([`ParticipantCare`]) and in [`check`]; no column or migration.
//!
//! It is shown by `GET /participants/{id}/care` alone, to the exchange
//! roles (no API client), every read audited; it is in no list, search,
//! export, event or statistic, and its changes are recorded by field name
//! ("care"), never by value.

use uuid::Uuid;
use zeroize::Zeroizing;

use super::{
    store,
    views::{EmergencyContact, LegalRepresentative, ParticipantCare},
};
use crate::{
    accounts::{access::Caller, model::Email},
    audit::{self, Event},
    crypto::DataKey,
    db::begin_write,
    entities::participants,
    http::{
        if_match_version,
        problem::{ApiError, InvalidParam},
    },
    keyring,
    text::parse_text,
    versioned::Changes,
    AppState,
};

/// The associated data of a participant's sealed document: a ciphertext
/// moved to another participant does not open.
fn aad(participant: Uuid) -> String {
    format!("participants.care:{participant}")
}

/// A duty-of-care body checked, every problem at once, with its texts as
/// they will be kept.
pub(crate) fn check(body: &ParticipantCare) -> Result<ParticipantCare, Vec<InvalidParam>> {
    let mut problems = Vec::new();
    let legal_representative = body.legal_representative.as_ref().map(|r| {
        let at = |field: &str| format!("legalRepresentative.{field}");
        LegalRepresentative {
            name: text(&at("name"), &r.name, 200, &mut problems),
            relationship: text(&at("relationship"), &r.relationship, 100, &mut problems),
            phone: text(&at("phone"), &r.phone, 40, &mut problems),
            email: r
                .email
                .as_deref()
                .map(|e| email(&at("email"), e, &mut problems)),
        }
    });
    let emergency_contacts = (body.emergency_contacts.iter().enumerate())
        .map(|(i, c)| {
            let at = |field: &str| format!("emergencyContacts[{i}].{field}");
            EmergencyContact {
                name: text(&at("name"), &c.name, 200, &mut problems),
                relationship: text(&at("relationship"), &c.relationship, 100, &mut problems),
                phone: text(&at("phone"), &c.phone, 40, &mut problems),
            }
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ParticipantCare {
        legal_representative,
        emergency_contacts,
    })
}

/// 1 to `max` characters without control characters; a problem otherwise.
fn text(field: &str, value: &str, max: usize, problems: &mut Vec<InvalidParam>) -> String {
    match parse_text(value, max) {
        Ok(v) if !v.is_empty() => v,
        _ => {
            problems.push(InvalidParam::new(
                field,
                "invalid",
                format!("1 to {max} characters, no control characters"),
            ));
            String::new()
        }
    }
}

fn email(field: &str, value: &str, problems: &mut Vec<InvalidParam>) -> String {
    Email::parse(value)
        .map(|e| e.as_str().to_owned())
        .map_err(|reason| problems.push(InvalidParam::new(field, "invalid", reason)))
        .unwrap_or_default()
}

/// A participant's care record, opened, and the participant's version; the
/// read is recorded before it is answered. A participant of whom nothing was
/// recorded has an empty record.
pub(crate) async fn read(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<(ParticipantCare, i32), ApiError> {
    let m = store::find_participant(&state.db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let care = match (m.data_key_id, m.care_enc.as_deref()) {
        (Some(key_id), Some(sealed)) => {
            let key = key_of(&state.db, state, m.id, key_id).await?;
            open(&key, m.id, sealed)?
        }
        _ => ParticipantCare::default(),
    };
    let event = Event::new("read", 200)
        .fields(vec!["care"])
        .on("participant", id);
    audit::record_alone(&state.audit, state.clock.now(), &caller.audit, event).await?;
    Ok((care, m.version))
}

/// Replaces participant `id`'s care record (checked) at the version
/// `if_match` names, sealed under their data key (made now if they have
/// none); answers the record as kept and the participant's new version.
pub(crate) async fn replace(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    if_match: Option<&str>,
    care: ParticipantCare,
) -> Result<(ParticipantCare, i32), ApiError> {
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let m = store::find_participant(&txn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let expected = if_match_version(if_match, m.version)?;
    let mut changes = Changes::<participants::Entity>::new();
    let key = match m.data_key_id {
        Some(key_id) => key_of(&txn, state, id, key_id).await?,
        None => {
            let (key_id, key) = keyring::new_data_key(&txn, &state.keys, now).await?;
            changes.also(participants::Column::DataKeyId, key_id);
            key
        }
    };
    let plain = Zeroizing::new(serde_json::to_vec(&care).map_err(|e| {
        tracing::error!(error = %e, "a care record could not be written");
        ApiError::internal()
    })?);
    let sealed = key.encrypt(&plain, &aad(id));
    changes.set("care", participants::Column::CareEnc, sealed);
    let updated = store::update_participant(&txn, &caller.audit, now, id, expected, changes)
        .await?
        .ok_or_else(ApiError::internal)?;
    txn.commit().await?;
    Ok((care, updated.version))
}

/// Gives every participant who has a data key a new one and re-encrypts
/// their care record under it, in one transaction, destroying the old key
/// (nothing else was sealed under it): after this, an old master key with
/// an old dump no longer reads what is stored now (`keys rotate
/// --reencrypt`, as `shelter::vault::renew_data_keys` does for defenders).
/// Returns how many participants it renewed.
pub async fn renew_data_keys(
    db: &sea_orm::DatabaseConnection,
    keys: &keyring::Keys,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter};
    let fail = |what: &str| {
        sea_orm::DbErr::Custom(format!("re-encryption stopped, nothing changed: {what}"))
    };
    let txn = begin_write(db).await?;
    let owners = participants::Entity::find()
        .filter(participants::Column::DataKeyId.is_not_null())
        .all(&txn)
        .await?;
    let mut renewed = 0;
    for p in owners {
        let Some(old_id) = p.data_key_id else {
            continue;
        };
        let old = keyring::find_data_key(&txn, keys, old_id)
            .await?
            .ok_or_else(|| fail("a participant's data key is missing"))?;
        let (new_id, new) = keyring::new_data_key(&txn, keys, now).await?;
        let care = match p.care_enc.as_deref() {
            Some(sealed) => {
                let plain = old
                    .decrypt(sealed, &aad(p.id))
                    .map_err(|_| fail("a care record does not open"))?;
                Some(new.encrypt(&plain, &aad(p.id)))
            }
            None => None,
        };
        participants::Entity::update_many()
            .col_expr(participants::Column::CareEnc, Expr::value(care))
            .col_expr(participants::Column::DataKeyId, Expr::value(Some(new_id)))
            .filter(participants::Column::Id.eq(p.id))
            .exec(&txn)
            .await?;
        keyring::destroy_data_key(&txn, old_id).await?;
        renewed += 1;
    }
    txn.commit().await?;
    crate::db::purge_old_row_versions(db, &["participants", "data_keys"]).await?;
    Ok(renewed)
}

/// The participant's data key: it exists while they do.
async fn key_of(
    db: &impl sea_orm::ConnectionTrait,
    state: &AppState,
    participant: Uuid,
    key_id: Uuid,
) -> Result<DataKey, ApiError> {
    keyring::find_data_key(db, &state.keys, key_id)
        .await?
        .ok_or_else(|| {
            tracing::error!(%participant, "a participant's data key is missing");
            ApiError::internal()
        })
}

/// The sealed document opened; one that does not open (altered, moved from
/// another participant) is an internal error, never shown.
fn open(key: &DataKey, participant: Uuid, sealed: &str) -> Result<ParticipantCare, ApiError> {
    let fail = || {
        tracing::error!(%participant, "a participant's care record does not open");
        ApiError::internal()
    };
    let plain = key.decrypt(sealed, &aad(participant)).map_err(|_| fail())?;
    serde_json::from_slice(&plain).map_err(|_| fail())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn representative(name: &str, email: Option<&str>) -> ParticipantCare {
        ParticipantCare {
            legal_representative: Some(LegalRepresentative {
                name: name.into(),
                relationship: "mother".into(),
                phone: "+31 6 1234 5678".into(),
                email: email.map(Into::into),
            }),
            emergency_contacts: vec![EmergencyContact {
                name: "Host family Silva".into(),
                relationship: "host family".into(),
                phone: "+351 22 123 4567".into(),
            }],
        }
    }

    #[test]
    fn every_problem_is_named_at_once_and_texts_are_kept_cleaned() {
        let mut body = representative("\u{7}", Some("not an address"));
        body.emergency_contacts[0].phone = " ".into();
        let problems = check(&body).unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "legalRepresentative.name",
                "legalRepresentative.email",
                "emergencyContacts[0].phone"
            ]
        );
        let kept = check(&representative("  Anna de Vries ", Some("Anna@Example.nl"))).unwrap();
        let r = kept.legal_representative.unwrap();
        assert_eq!(r.name, "Anna de Vries");
        assert!(check(&ParticipantCare::default()).is_ok());
    }

    #[test]
    fn a_sealed_record_opens_only_for_its_own_participant_and_key() {
        let key = DataKey::generate();
        let (one, other) = (Uuid::now_v7(), Uuid::now_v7());
        let plain = serde_json::to_vec(&representative("Anna", None)).unwrap();
        let sealed = key.encrypt(&plain, &aad(one));
        let opened = open(&key, one, &sealed).unwrap();
        assert_eq!(opened.legal_representative.unwrap().name, "Anna");
        assert!(open(&key, other, &sealed).is_err());
        assert!(open(&DataKey::generate(), one, &sealed).is_err());
    }

    /// A record sealed before a field was added opens with that field
    /// empty: a new field of the document needs no migration.
    #[test]
    fn a_record_sealed_before_a_field_existed_opens_without_it() {
        let key = DataKey::generate();
        let id = Uuid::now_v7();
        let sealed = key.encrypt(b"{}", &aad(id));
        let opened = open(&key, id, &sealed).unwrap();
        assert!(opened.legal_representative.is_none());
        assert!(opened.emergency_contacts.is_empty());
    }
}
