//! What is encrypted, with which data key, bound to which row.
//!
//! Each defender has a random data key, wrapped by the master key in
//! `data_keys`. It encrypts the defender's identity and every protected value
//! of its stays (address, note bodies, risk texts, check-in notes). The
//! associated data of each ciphertext names its table, column and row, so a
//! ciphertext copied to another row or column does not decrypt.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use uuid::Uuid;

use crate::{
    crypto::DataKey,
    entities::data_keys,
    http::problem::ApiError,
    keyring::{data_key_aad, Keys},
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
        }
    }
}

fn aad(field: Field, row: Uuid) -> String {
    format!("{}:{row}", field.name())
}

/// Makes and stores a new data key.
pub async fn new_data_key(
    db: &impl ConnectionTrait,
    keys: &Keys,
    now: DateTime<Utc>,
) -> Result<(Uuid, DataKey), DbErr> {
    let id = Uuid::now_v7();
    let key = DataKey::generate();
    data_keys::Entity::insert(data_keys::ActiveModel {
        id: Set(id),
        wrapped: Set(keys.master.wrap(&key, &data_key_aad(id))),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok((id, key))
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

pub async fn destroy_data_key(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    data_keys::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
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
