//! What is encrypted, with which data key, bound to which row.
//!
//! Each defender has a random data key, wrapped by the master key in
//! `data_keys`. It encrypts the defender's identity and every protected value
//! of its stays (address, note bodies, risk texts, check-in notes) and every
//! free text written about them (a stay's referring organisation and local
//! partner, status change reasons, activity titles, `X-Audit-Reason`s of
//! requests about them), so that erasing the key shreds them all. The
//! associated data of each ciphertext names its table, column and row, so a
//! ciphertext copied to another row or column does not decrypt.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DbErr, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use crate::{
    crypto::DataKey,
    entities::{
        activities, check_ins, data_keys, defenders, retired_data_keys, risk_assessments,
        stay_notes, stay_status_changes, stays,
    },
    http::problem::ApiError,
    keyring::{data_key_aad, new_data_key, Keys},
};

/// A protected column.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    DefenderIdentity,
    StayAddress,
    NoteBody,
    RiskThreats,
    RiskMeasures,
    CheckInNote,
    StayReferringOrganisation,
    StayLocalPartner,
    StatusChangeReason,
    ActivityTitle,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::DefenderIdentity => "defenders.identity",
            Field::StayAddress => "stays.accommodation_address",
            Field::NoteBody => "stay_notes.body",
            Field::RiskThreats => "risk_assessments.threats",
            Field::RiskMeasures => "risk_assessments.measures",
            Field::CheckInNote => "check_ins.note",
            Field::StayReferringOrganisation => "stays.referring_organisation",
            Field::StayLocalPartner => "stays.local_partner",
            Field::StatusChangeReason => "stay_status_changes.reason",
            Field::ActivityTitle => "activities.title",
        }
    }
}

fn aad(field: Field, row: Uuid) -> String {
    format!("{}:{row}", field.name())
}

/// Unwraps a data key. A missing key means the data was erased: 404.
pub async fn data_key(
    db: &impl ConnectionTrait,
    keys: &Keys,
    id: Option<Uuid>,
) -> Result<DataKey, ApiError> {
    let Some(id) = id else {
        return Err(ApiError::not_found());
    };
    let row = data_keys::Entity::find_by_id(id).one(db).await?;
    unwrap_data_key(keys, Some(id), row.as_ref().map(|r| r.wrapped.as_str()))
}

/// A data key already read (wrapped) with its record: 404 if the record has
/// none or it was destroyed (crypto-shredded), as [`data_key`].
pub fn unwrap_data_key(
    keys: &Keys,
    id: Option<Uuid>,
    wrapped: Option<&str>,
) -> Result<DataKey, ApiError> {
    let (Some(id), Some(wrapped)) = (id, wrapped) else {
        return Err(ApiError::not_found());
    };
    keys.master
        .unwrap_key(wrapped, &data_key_aad(id))
        .map_err(|_| {
            tracing::error!(data_key = %id, "data key cannot be unwrapped");
            ApiError::internal()
        })
}

pub fn seal(key: &DataKey, field: Field, row: Uuid, plaintext: &str) -> String {
    key.encrypt(plaintext.as_bytes(), &aad(field, row))
}

pub fn seal_opt(key: &DataKey, field: Field, row: Uuid, plaintext: Option<&str>) -> Option<String> {
    plaintext.map(|p| seal(key, field, row, p))
}

/// Decrypts a protected value; a value that does not decrypt (altered, moved
/// between rows, wrong key) is an internal error, never shown.
pub fn open(key: &DataKey, field: Field, row: Uuid, sealed: &str) -> Result<String, ApiError> {
    let bytes = key.decrypt(sealed, &aad(field, row)).map_err(|_| {
        tracing::error!(field = field.name(), row = %row, "protected value does not decrypt");
        ApiError::internal()
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::internal())
}

pub fn open_opt(
    key: &DataKey,
    field: Field,
    row: Uuid,
    sealed: Option<&str>,
) -> Result<Option<String>, ApiError> {
    sealed.map(|s| open(key, field, row, s)).transpose()
}

/// The data keys of the defenders of these stays, by stay (absent: erased).
async fn keys_of_stays(
    db: &impl ConnectionTrait,
    keys: &Keys,
    stay_ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, (Uuid, DataKey)>, DbErr> {
    let mut out = HashMap::new();
    if stay_ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(Uuid, Option<Uuid>)> = stays::Entity::find()
        .find_also_related(defenders::Entity)
        .filter(stays::Column::Id.is_in(stay_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|(s, d)| (s.id, d.and_then(|d| d.data_key_id)))
        .collect();
    let key_ids: Vec<Uuid> = rows.iter().filter_map(|(_, k)| *k).collect();
    let wrapped: HashMap<Uuid, String> = data_keys::Entity::find()
        .filter(data_keys::Column::Id.is_in(key_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|k| (k.id, k.wrapped))
        .collect();
    for (stay, key_id) in rows {
        let Some(key_id) = key_id else { continue };
        let Some(w) = wrapped.get(&key_id) else {
            continue;
        };
        let key = keys
            .master
            .unwrap_key(w, &data_key_aad(key_id))
            .map_err(|_| DbErr::Custom(format!("data key {key_id} cannot be unwrapped")))?;
        out.insert(stay, (key_id, key));
    }
    Ok(out)
}

/// Free text that versions before this one stored in plaintext (a stay's
/// referring organisation and local partner, status change reasons,
/// activity titles) is sealed under its defender's data key and its
/// plaintext emptied; for an erased defender it is only emptied. Runs when
/// the service starts (only it holds the keys); returns how many rows it
/// changed, and then purges their old versions from disk.
pub async fn seal_earlier_plaintext(db: &DatabaseConnection, keys: &Keys) -> Result<u64, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let stay_rows = stays::Entity::find()
        .filter(
            Condition::any()
                .add(stays::Column::ReferringOrganisation.is_not_null())
                .add(stays::Column::LocalPartner.is_not_null()),
        )
        .all(&txn)
        .await?;
    let changes = stay_status_changes::Entity::find()
        .filter(stay_status_changes::Column::Reason.is_not_null())
        .all(&txn)
        .await?;
    let titles = activities::Entity::find()
        .filter(activities::Column::Title.ne(""))
        .all(&txn)
        .await?;
    let total = (stay_rows.len() + changes.len() + titles.len()) as u64;
    if total == 0 {
        txn.rollback().await?;
        return Ok(0);
    }
    let mut stay_ids: Vec<Uuid> = stay_rows.iter().map(|s| s.id).collect();
    stay_ids.extend(changes.iter().map(|c| c.stay_id));
    stay_ids.extend(titles.iter().map(|a| a.stay_id));
    let keys_by_stay = keys_of_stays(&txn, keys, stay_ids).await?;
    let none = || Expr::value(Option::<String>::None);
    for s in stay_rows {
        let key = keys_by_stay.get(&s.id).map(|(_, k)| k);
        let sealed = |field, plain: &Option<String>, already: &Option<String>| {
            already
                .clone()
                .or_else(|| key.and_then(|k| seal_opt(k, field, s.id, plain.as_deref())))
        };
        stays::Entity::update_many()
            .col_expr(
                stays::Column::ReferringOrganisationEnc,
                Expr::value(sealed(
                    Field::StayReferringOrganisation,
                    &s.referring_organisation,
                    &s.referring_organisation_enc,
                )),
            )
            .col_expr(
                stays::Column::LocalPartnerEnc,
                Expr::value(sealed(
                    Field::StayLocalPartner,
                    &s.local_partner,
                    &s.local_partner_enc,
                )),
            )
            .col_expr(stays::Column::ReferringOrganisation, none())
            .col_expr(stays::Column::LocalPartner, none())
            .filter(stays::Column::Id.eq(s.id))
            .exec(&txn)
            .await?;
    }
    for c in changes {
        let sealed = c.reason_enc.clone().or_else(|| {
            keys_by_stay.get(&c.stay_id).and_then(|(_, k)| {
                seal_opt(k, Field::StatusChangeReason, c.id, c.reason.as_deref())
            })
        });
        stay_status_changes::Entity::update_many()
            .col_expr(stay_status_changes::Column::ReasonEnc, Expr::value(sealed))
            .col_expr(stay_status_changes::Column::Reason, none())
            .filter(stay_status_changes::Column::Id.eq(c.id))
            .exec(&txn)
            .await?;
    }
    for a in titles {
        let sealed = a.title_enc.clone().or_else(|| {
            keys_by_stay
                .get(&a.stay_id)
                .map(|(_, k)| seal(k, Field::ActivityTitle, a.id, &a.title))
        });
        activities::Entity::update_many()
            .col_expr(activities::Column::TitleEnc, Expr::value(sealed))
            .col_expr(activities::Column::Title, Expr::value(String::new()))
            .filter(activities::Column::Id.eq(a.id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    crate::db::purge_old_row_versions(db, &["stays", "stay_status_changes", "activities"]).await?;
    Ok(total)
}

/// What [`renew_data_keys`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Renewed {
    pub defenders: u64,
    pub values: u64,
}

/// Gives every defender a new data key and re-encrypts each of its values
/// under it (same associated data), in one transaction: after this, an old
/// master key with an old dump no longer reads what is stored now. The old
/// key is kept, retired, only for the audit reasons sealed under it (the
/// trail cannot be rewritten) and is destroyed with the defender. The new
/// keys are wrapped by the master key in use; `keys rotate` then re-wraps
/// every key under the new master key.
pub async fn renew_data_keys(
    db: &DatabaseConnection,
    keys: &Keys,
    now: DateTime<Utc>,
) -> Result<Renewed, DbErr> {
    let fail =
        |what: &str| DbErr::Custom(format!("re-encryption stopped, nothing changed: {what}"));
    let txn = crate::db::begin_write(db).await?;
    let mut done = Renewed::default();
    let owners = defenders::Entity::find()
        .filter(defenders::Column::DataKeyId.is_not_null())
        .filter(defenders::Column::ErasedAt.is_null())
        .all(&txn)
        .await?;
    for d in owners {
        let Some(old_id) = d.data_key_id else {
            continue;
        };
        let wrapped = data_keys::Entity::find_by_id(old_id)
            .one(&txn)
            .await?
            .ok_or_else(|| fail("a defender's data key is missing"))?;
        let old = keys
            .master
            .unwrap_key(&wrapped.wrapped, &data_key_aad(old_id))
            .map_err(|_| fail("a data key does not unwrap"))?;
        let (new_id, new) = new_data_key(&txn, keys, now).await?;
        let mut values = 0_u64;
        let mut again =
            |field: Field, row: Uuid, sealed: Option<&str>| -> Result<Option<String>, DbErr> {
                let Some(sealed) = sealed else {
                    return Ok(None);
                };
                let plain = old
                    .decrypt(sealed, &aad(field, row))
                    .map_err(|_| fail("a protected value does not decrypt"))?;
                values += 1;
                Ok(Some(new.encrypt(&plain, &aad(field, row))))
            };
        let identity = again(Field::DefenderIdentity, d.id, d.identity_enc.as_deref())?;
        defenders::Entity::update_many()
            .col_expr(defenders::Column::IdentityEnc, Expr::value(identity))
            .col_expr(defenders::Column::DataKeyId, Expr::value(Some(new_id)))
            .filter(defenders::Column::Id.eq(d.id))
            .exec(&txn)
            .await?;
        let stay_rows = stays::Entity::find()
            .filter(stays::Column::DefenderId.eq(d.id))
            .all(&txn)
            .await?;
        let stay_ids: Vec<Uuid> = stay_rows.iter().map(|s| s.id).collect();
        for st in stay_rows {
            let address = again(
                Field::StayAddress,
                st.id,
                st.accommodation_address_enc.as_deref(),
            )?;
            let referring = again(
                Field::StayReferringOrganisation,
                st.id,
                st.referring_organisation_enc.as_deref(),
            )?;
            let partner = again(
                Field::StayLocalPartner,
                st.id,
                st.local_partner_enc.as_deref(),
            )?;
            stays::Entity::update_many()
                .col_expr(stays::Column::AccommodationAddressEnc, Expr::value(address))
                .col_expr(
                    stays::Column::ReferringOrganisationEnc,
                    Expr::value(referring),
                )
                .col_expr(stays::Column::LocalPartnerEnc, Expr::value(partner))
                .filter(stays::Column::Id.eq(st.id))
                .exec(&txn)
                .await?;
        }
        for n in stay_notes::Entity::find()
            .filter(stay_notes::Column::StayId.is_in(stay_ids.clone()))
            .all(&txn)
            .await?
        {
            let body = again(Field::NoteBody, n.id, n.body_enc.as_deref())?;
            stay_notes::Entity::update_many()
                .col_expr(stay_notes::Column::BodyEnc, Expr::value(body))
                .filter(stay_notes::Column::Id.eq(n.id))
                .exec(&txn)
                .await?;
        }
        for r in risk_assessments::Entity::find()
            .filter(risk_assessments::Column::StayId.is_in(stay_ids.clone()))
            .all(&txn)
            .await?
        {
            let threats = again(Field::RiskThreats, r.id, r.threats_enc.as_deref())?;
            let measures = again(Field::RiskMeasures, r.id, r.measures_enc.as_deref())?;
            risk_assessments::Entity::update_many()
                .col_expr(risk_assessments::Column::ThreatsEnc, Expr::value(threats))
                .col_expr(risk_assessments::Column::MeasuresEnc, Expr::value(measures))
                .filter(risk_assessments::Column::Id.eq(r.id))
                .exec(&txn)
                .await?;
        }
        for c in check_ins::Entity::find()
            .filter(check_ins::Column::StayId.is_in(stay_ids.clone()))
            .all(&txn)
            .await?
        {
            let note = again(Field::CheckInNote, c.id, c.note_enc.as_deref())?;
            check_ins::Entity::update_many()
                .col_expr(check_ins::Column::NoteEnc, Expr::value(note))
                .filter(check_ins::Column::Id.eq(c.id))
                .exec(&txn)
                .await?;
        }
        for c in stay_status_changes::Entity::find()
            .filter(stay_status_changes::Column::StayId.is_in(stay_ids.clone()))
            .all(&txn)
            .await?
        {
            let reason = again(Field::StatusChangeReason, c.id, c.reason_enc.as_deref())?;
            stay_status_changes::Entity::update_many()
                .col_expr(stay_status_changes::Column::ReasonEnc, Expr::value(reason))
                .filter(stay_status_changes::Column::Id.eq(c.id))
                .exec(&txn)
                .await?;
        }
        for a in activities::Entity::find()
            .filter(activities::Column::StayId.is_in(stay_ids))
            .all(&txn)
            .await?
        {
            let title = again(Field::ActivityTitle, a.id, a.title_enc.as_deref())?;
            activities::Entity::update_many()
                .col_expr(activities::Column::TitleEnc, Expr::value(title))
                .filter(activities::Column::Id.eq(a.id))
                .exec(&txn)
                .await?;
        }
        retired_data_keys::Entity::insert(retired_data_keys::ActiveModel {
            data_key_id: Set(old_id),
            defender_id: Set(d.id),
            retired_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        done.defenders += 1;
        done.values += values;
    }
    txn.commit().await?;
    // old row versions held the values under the retired keys
    crate::db::purge_old_row_versions(
        db,
        &[
            "defenders",
            "stays",
            "stay_notes",
            "risk_assessments",
            "check_ins",
            "stay_status_changes",
            "activities",
        ],
    )
    .await?;
    Ok(done)
}

/// Destroys a defender's retired data keys (erasure).
pub async fn destroy_retired_keys(db: &impl ConnectionTrait, defender: Uuid) -> Result<(), DbErr> {
    let ids: Vec<Uuid> = retired_data_keys::Entity::find()
        .filter(retired_data_keys::Column::DefenderId.eq(defender))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.data_key_id)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    data_keys::Entity::delete_many()
        .filter(data_keys::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    retired_data_keys::Entity::delete_many()
        .filter(retired_data_keys::Column::DefenderId.eq(defender))
        .exec(db)
        .await?;
    Ok(())
}
