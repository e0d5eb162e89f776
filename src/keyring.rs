//! The keyring: a check value that proves the configured master key is the
//! one the data was written under, and the blind-index key, both kept in the
//! database wrapped by the master key. Rotation re-wraps every key (and
//! re-encrypts the TOTP secrets) under a new master key in one transaction,
//! without touching the encrypted fields themselves.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter,
};

use crate::{
    audit::{chain::ChainKey, AuditKeys},
    clock::Clock,
    crypto::{DataKey, MasterKey, SigningKey},
    db::begin_write,
    entities::{data_keys, keyring, staff, webhook_subscriptions},
};

const CHECK: &str = "check";
const BLIND_INDEX: &str = "blind_index";
/// The audit chain's HMAC key and the sequence number keying starts at.
const AUDIT_CHAIN: &str = "audit_chain";
/// The Ed25519 seed that signs the audit chain's checkpoints.
const AUDIT_SIGNING: &str = "audit_signing";
/// Seals `X-Audit-Reason` texts that are about no single defender.
const AUDIT_REASON: &str = "audit_reason";
const CHECK_PLAINTEXT: &[u8] = b"casedesk master key check v1";

fn aad(name: &str) -> String {
    format!("keyring:{name}")
}

pub fn data_key_aad(id: uuid::Uuid) -> String {
    format!("data_keys:{id}")
}

/// Makes and stores a new data key: one for each person whose data is
/// sealed (a defender, a participant), so that destroying it destroys what
/// it sealed, wherever copies of the ciphertext remain (crypto-erasure).
pub async fn new_data_key(
    db: &impl ConnectionTrait,
    keys: &Keys,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(uuid::Uuid, DataKey), DbErr> {
    fence(db, keys).await?;
    let id = uuid::Uuid::now_v7();
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

/// The data key `id`, unwrapped; `None` if it was destroyed. A key that
/// does not unwrap under the master key is an error, never `None`.
pub async fn find_data_key(
    db: &impl ConnectionTrait,
    keys: &Keys,
    id: uuid::Uuid,
) -> Result<Option<DataKey>, DbErr> {
    let Some(row) = data_keys::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    keys.master
        .unwrap_key(&row.wrapped, &data_key_aad(id))
        .map(Some)
        .map_err(|_| DbErr::Custom(format!("data key {id} cannot be unwrapped")))
}

/// Destroys a data key: what it sealed can no longer be read.
pub async fn destroy_data_key(db: &impl ConnectionTrait, id: uuid::Uuid) -> Result<(), DbErr> {
    data_keys::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

pub fn totp_aad(staff_id: uuid::Uuid) -> String {
    format!("staff.totp_secret:{staff_id}")
}

pub fn webhook_authorization_aad(subscription_id: uuid::Uuid) -> String {
    format!("webhook_subscriptions.authorization_enc:{subscription_id}")
}

pub fn webhook_secret_aad(subscription_id: uuid::Uuid) -> String {
    format!("webhook_subscriptions.secret:{subscription_id}")
}

/// The keys the service works with.
#[derive(Clone, Debug)]
pub struct Keys {
    pub master: MasterKey,
    /// HMAC key of the blind indexes (names searched without decrypting).
    pub index: MasterKey,
    /// The audit trail's chain, checkpoint and reason keys.
    pub audit: AuditKeys,
    /// The keyring's check value as this process found it: its generation.
    /// `keys rotate` seals it anew under the new master key.
    pub generation: String,
}

/// The fence against writing under a retired master key (issue 32.8).
///
/// After `keys rotate`, a replica still running on the old key wrapped new
/// data keys (and sealed TOTP and webhook secrets) under it, and what it
/// wrote was unreadable after the restart with the new key. Every write
/// that seals something under the master key calls this first, in its
/// transaction: it compares the keyring's check value with the one this
/// process started with, and refuses (503, until the replica restarts with
/// the new key) when they differ. On PostgreSQL it holds the keyring lock
/// shared until the transaction ends, and `rotate` takes it exclusively
/// before it reads anything: a write is either counted by the rotation (it
/// committed first) or fenced (it starts after).
pub async fn fence(db: &impl ConnectionTrait, keys: &Keys) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock_shared({})",
            crate::db::AdvisoryLock::Keyring as i64
        ))
        .await?;
    }
    let check = keyring::Entity::find_by_id(CHECK.to_owned())
        .one(db)
        .await?;
    if check.is_some_and(|c| c.wrapped == keys.generation) {
        return Ok(());
    }
    tracing::error!("the master key was rotated since this replica started: it refuses to seal anything until restarted with the new key");
    Err(DbErr::Custom(crate::db::ROTATED.to_owned()))
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "the master key does not match the data in this database (wrong CASEDESK_MASTER_KEY?)"
    )]
    Mismatch,
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

async fn insert(
    db: &impl ConnectionTrait,
    name: &str,
    wrapped: String,
    clock: &dyn Clock,
) -> Result<(), DbErr> {
    keyring::Entity::insert(keyring::ActiveModel {
        name: Set(name.to_owned()),
        wrapped: Set(wrapped),
        created_at: Set(clock.now()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Checks the master key against the database, creating the keyring on an
/// empty database. Replicas that start together create it once.
pub async fn open(
    db: &DatabaseConnection,
    master: &MasterKey,
    clock: &dyn Clock,
) -> Result<Keys, KeyringError> {
    let txn = begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&crate::db::AdvisoryLock::Keyring.xact_sql())
            .await?;
    }
    let check = keyring::Entity::find_by_id(CHECK.to_owned())
        .one(&txn)
        .await?;
    let fresh = check.is_none();
    let index = match check {
        None => {
            insert(
                &txn,
                CHECK,
                master.encrypt(CHECK_PLAINTEXT, &aad(CHECK)),
                clock,
            )
            .await?;
            let index = MasterKey::generate();
            insert(
                &txn,
                BLIND_INDEX,
                master.wrap(&index, &aad(BLIND_INDEX)),
                clock,
            )
            .await?;
            index
        }
        Some(row) => {
            let plain = master
                .decrypt(&row.wrapped, &aad(CHECK))
                .map_err(|_| KeyringError::Mismatch)?;
            if plain.as_slice() != CHECK_PLAINTEXT {
                return Err(KeyringError::Mismatch);
            }
            let wrapped = keyring::Entity::find_by_id(BLIND_INDEX.to_owned())
                .one(&txn)
                .await?
                .ok_or(KeyringError::Mismatch)?;
            master
                .unwrap_key(&wrapped.wrapped, &aad(BLIND_INDEX))
                .map_err(|_| KeyringError::Mismatch)?
        }
    };
    let audit = audit_keys(&txn, master, clock, fresh).await?;
    let generation = keyring::Entity::find_by_id(CHECK.to_owned())
        .one(&txn)
        .await?
        .ok_or(KeyringError::Mismatch)?
        .wrapped;
    txn.commit().await?;
    Ok(Keys {
        master: master.clone(),
        index,
        audit,
        generation,
    })
}

/// A keyring entry's plaintext, or `None` if there is no such entry.
async fn entry(
    db: &impl ConnectionTrait,
    master: &MasterKey,
    name: &str,
) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, KeyringError> {
    let Some(row) = keyring::Entity::find_by_id(name.to_owned()).one(db).await? else {
        return Ok(None);
    };
    master
        .decrypt(&row.wrapped, &aad(name))
        .map(Some)
        .map_err(|_| KeyringError::Mismatch)
}

/// The audit trail's keys, made on first use. The chain is keyed from the
/// next event on: read under the chain's lock, so that no event of this
/// version is written unkeyed. (Upgrade every replica together: a replica
/// of an older version would append unkeyed events after this point.)
async fn audit_keys(
    txn: &sea_orm::DatabaseTransaction,
    master: &MasterKey,
    clock: &dyn Clock,
    fresh: bool,
) -> Result<AuditKeys, KeyringError> {
    let chain = match entry(txn, master, AUDIT_CHAIN).await? {
        Some(bytes) => ChainKey::from_bytes(&bytes).ok_or(KeyringError::Mismatch)?,
        None => {
            crate::audit::lock_chain(txn).await?;
            let next = match crate::audit::last_event(txn).await? {
                Some((seq, _)) => seq + 1,
                None => 1,
            };
            if !fresh && next > 1 {
                tracing::warn!(
                    keyed_from = next,
                    "the audit chain is keyed from now on; earlier events keep their unkeyed hashes"
                );
            }
            let chain = ChainKey {
                key: MasterKey::generate(),
                keyed_from: next,
            };
            insert(
                txn,
                AUDIT_CHAIN,
                master.encrypt(&chain.to_bytes(), &aad(AUDIT_CHAIN)),
                clock,
            )
            .await?;
            chain
        }
    };
    let signing = match entry(txn, master, AUDIT_SIGNING).await? {
        Some(bytes) => {
            let seed: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyringError::Mismatch)?;
            SigningKey::from_seed(&seed)
        }
        None => {
            let key = SigningKey::generate();
            insert(
                txn,
                AUDIT_SIGNING,
                master.encrypt(key.seed().as_ref(), &aad(AUDIT_SIGNING)),
                clock,
            )
            .await?;
            key
        }
    };
    let reason = match entry(txn, master, AUDIT_REASON).await? {
        Some(bytes) => {
            let key: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyringError::Mismatch)?;
            MasterKey::from_bytes(key)
        }
        None => {
            let key = MasterKey::generate();
            insert(
                txn,
                AUDIT_REASON,
                master.wrap(&key, &aad(AUDIT_REASON)),
                clock,
            )
            .await?;
            key
        }
    };
    Ok(AuditKeys::new(chain, signing, reason))
}

/// The audit chain key as stored (wrapped under the master key), for an
/// export that is verified offline with the master key.
pub async fn wrapped_audit_chain(db: &impl ConnectionTrait) -> Result<Option<String>, DbErr> {
    Ok(keyring::Entity::find_by_id(AUDIT_CHAIN.to_owned())
        .one(db)
        .await?
        .map(|r| r.wrapped))
}

/// Unwraps an exported audit chain key with the master key.
pub fn unwrap_audit_chain(master: &MasterKey, wrapped: &str) -> Option<ChainKey> {
    let bytes = master.decrypt(wrapped, &aad(AUDIT_CHAIN)).ok()?;
    ChainKey::from_bytes(&bytes)
}

/// What a rotation re-wrapped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rotated {
    pub data_keys: u64,
    pub keyring_entries: u64,
    pub totp_secrets: u64,
    pub webhook_secrets: u64,
}

/// Re-wraps everything the old master key protects under the new one.
pub async fn rotate(
    db: &DatabaseConnection,
    old: &MasterKey,
    new: &MasterKey,
    clock: &dyn Clock,
) -> Result<Rotated, KeyringError> {
    use sea_orm::sea_query::Expr;
    // the old key must be the one the data was written under
    open(db, old, clock).await?;
    let txn = begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&crate::db::AdvisoryLock::Keyring.xact_sql())
            .await?;
    }
    let mut done = Rotated::default();
    for row in data_keys::Entity::find().all(&txn).await? {
        let key = old
            .unwrap_key(&row.wrapped, &data_key_aad(row.id))
            .map_err(|_| KeyringError::Mismatch)?;
        data_keys::Entity::update_many()
            .col_expr(
                data_keys::Column::Wrapped,
                Expr::value(new.wrap(&key, &data_key_aad(row.id))),
            )
            .filter(data_keys::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        done.data_keys += 1;
    }
    // every keyring entry (the check, the blind-index key, the audit keys)
    // is the same kind of sealed value, bound to its name
    for row in keyring::Entity::find().all(&txn).await? {
        let plain = old
            .decrypt(&row.wrapped, &aad(&row.name))
            .map_err(|_| KeyringError::Mismatch)?;
        let mut update = keyring::Entity::update_many().col_expr(
            keyring::Column::Wrapped,
            Expr::value(new.encrypt(&plain, &aad(&row.name))),
        );
        if row.name == CHECK {
            // the check value's time is when the master key in use was put in use
            update = update.col_expr(keyring::Column::CreatedAt, Expr::value(clock.now()));
        }
        update
            .filter(keyring::Column::Name.eq(row.name.clone()))
            .exec(&txn)
            .await?;
        done.keyring_entries += 1;
    }
    for row in staff::Entity::find()
        .filter(staff::Column::TotpSecret.is_not_null())
        .all(&txn)
        .await?
    {
        let Some(sealed) = &row.totp_secret else {
            continue;
        };
        let secret = old
            .decrypt(sealed, &totp_aad(row.id))
            .map_err(|_| KeyringError::Mismatch)?;
        staff::Entity::update_many()
            .col_expr(
                staff::Column::TotpSecret,
                Expr::value(new.encrypt(&secret, &totp_aad(row.id))),
            )
            .filter(staff::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        done.totp_secrets += 1;
    }
    for row in webhook_subscriptions::Entity::find().all(&txn).await? {
        let aad = webhook_secret_aad(row.id);
        let secret = old
            .decrypt(&row.secret_enc, &aad)
            .map_err(|_| KeyringError::Mismatch)?;
        // a receiver's Authorization value is sealed the same way
        let authorization = match &row.authorization_enc {
            Some(sealed) => {
                let aad = webhook_authorization_aad(row.id);
                let value = old
                    .decrypt(sealed, &aad)
                    .map_err(|_| KeyringError::Mismatch)?;
                Some(new.encrypt(&value, &aad))
            }
            None => None,
        };
        // so is the secret a rotation replaced, while it may still sign
        let previous = match &row.previous_secret_enc {
            Some(sealed) => {
                let value = old
                    .decrypt(sealed, &aad)
                    .map_err(|_| KeyringError::Mismatch)?;
                Some(new.encrypt(&value, &aad))
            }
            None => None,
        };
        webhook_subscriptions::Entity::update_many()
            .col_expr(
                webhook_subscriptions::Column::SecretEnc,
                Expr::value(new.encrypt(&secret, &aad)),
            )
            .col_expr(
                webhook_subscriptions::Column::PreviousSecretEnc,
                Expr::value(previous),
            )
            .col_expr(
                webhook_subscriptions::Column::AuthorizationEnc,
                Expr::value(authorization),
            )
            .filter(webhook_subscriptions::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        done.webhook_secrets += 1;
    }
    txn.commit().await?;
    Ok(done)
}

/// Since when the master key in use has been in use, and how many
/// defenders were erased since then. Until that key is retired (`keys
/// rotate`, and the old key destroyed), a wrapped data key of an erased
/// defender that survives in PostgreSQL's heap or WAL, or in a backup, can
/// still be opened with it (see docs/retention.md).
pub async fn erasures_since_retirement(
    db: &impl ConnectionTrait,
) -> Result<(chrono::DateTime<chrono::Utc>, u64), DbErr> {
    use sea_orm::PaginatorTrait;
    let since = keyring::Entity::find_by_id(CHECK.to_owned())
        .one(db)
        .await?
        .map(|r| r.created_at)
        .unwrap_or_default();
    let erased = crate::entities::defenders::Entity::find()
        .filter(crate::entities::defenders::Column::ErasedAt.gt(since))
        .count(db)
        .await?;
    Ok((since, erased))
}
