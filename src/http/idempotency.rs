//! Retries that do not duplicate: `Idempotency-Key` (IETF httpapi draft
//! "The Idempotency-Key HTTP Header Field") on the creates that give what
//! they make an address.
//!
//! The first request with a key claims it (a row, so every replica sees
//! it), runs, and records its answer's status and `Location`; a failed
//! first request (any answer but 2xx) releases the key, so that its retry
//! runs afresh. The same caller sending the same key again within
//! [`KEPT`] gets:
//! - the same request (operation, path and body): the first answer again,
//!   nothing made twice. A replay reads the made resource at its address
//!   with the caller's rights of the moment (audited as any read), so that
//!   nothing personal is kept here and an erased record stays erased;
//! - another request: 422 `idempotency-key-reused`, nothing written;
//! - while the first is under way: 409 `idempotency-key-in-use` with
//!   `Retry-After`.
//!
//! Kept per caller (a staff member or an API client), as keyed hashes only:
//! the key a client chose and its request body are never stored.

use chrono::{DateTime, TimeDelta, Utc};
use poem::Request;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::problem::{ApiError, ProblemType};
use crate::{crypto::MasterKey, entities::idempotency_keys as rows};

/// The request header.
pub(crate) const HEADER: &str = "idempotency-key";

/// The answer header of a replay.
pub(crate) const REPLAYED: &str = "idempotent-replayed";

/// How long a key is remembered after its first use.
pub(crate) const KEPT: TimeDelta = TimeDelta::hours(24);

/// A first request unanswered this long is taken to have died (its replica
/// stopped): a retry then runs afresh.
pub(crate) const UNDER_WAY: TimeDelta = TimeDelta::minutes(10);

/// The longest key accepted.
const MAX_KEY: usize = 255;

/// The operations that honour the header: each answers 201 with the new
/// resource and its `Location`, and a GET of that address answers the same
/// view (held by `conventions::idempotent_creates_are_readable_where_they_say`).
pub(crate) const OPERATIONS: &[&str] = &[
    "createAgreement",
    "createDefender",
    "createDestructionList",
    "createGrantRates",
    "createInstitution",
    "createParticipant",
    "createPlacement",
    "createStay",
];

/// What the spec says of the header.
pub(crate) const DESCRIPTION: &str = "Makes a retry safe (IETF httpapi `Idempotency-Key`): the same key with the same request within 24 hours answers as the first time (`201`, the same `Location`, the resource as it now stands, `Idempotent-Replayed: true`) and makes nothing new; with another request it is a 422, and while the first is under way a 409 with `Retry-After`. A key is 1 to 255 visible ASCII characters (a UUID, say), as a plain value or a quoted structured-field string; it is kept per caller.";

/// The key of a request, if it sent one.
pub(crate) fn key_of(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::field(
            "Idempotency-Key",
            "invalid",
            "A key is 1 to 255 visible ASCII characters, plain or as a quoted string.",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let visible = key.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
    if key.is_empty() || key.len() > MAX_KEY || !visible {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

/// A keyed hash of the caller's key: `scope` names the caller.
pub(crate) fn key_hash(index: &MasterKey, scope: &str, key: &str) -> String {
    index.hmac_hex(format!("idempotency-key\0{scope}\0{key}").as_bytes())
}

/// A keyed hash of the request: its operation, path and body.
pub(crate) fn fingerprint(index: &MasterKey, operation: &str, path: &str, body: &[u8]) -> String {
    let mut data = format!("idempotency-request\0{operation}\0{path}\0").into_bytes();
    data.extend_from_slice(body);
    index.hmac_hex(&data)
}

/// What a request with a key does.
#[derive(Debug)]
pub(crate) enum Begin {
    /// It runs; [`finish`] records its answer.
    Run,
    /// It answers as the first did: read `location` (under the API base)
    /// and answer with `status`.
    Replay { status: u16, location: String },
}

/// Claims `key_hash` for a request, or says how the earlier one answers.
pub(crate) async fn begin(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    key_hash: &str,
    operation: &str,
    fingerprint: &str,
) -> Result<Begin, ApiError> {
    for _ in 0..2 {
        let claimed = rows::Entity::insert(rows::ActiveModel {
            key_hash: Set(key_hash.to_owned()),
            operation: Set(operation.to_owned()),
            fingerprint: Set(fingerprint.to_owned()),
            status: Set(None),
            location: Set(None),
            created_at: Set(now),
            expires_at: Set(now + KEPT),
        })
        .on_conflict_do_nothing_on([rows::Column::KeyHash])
        .exec_without_returning(db)
        .await?;
        if matches!(claimed, sea_orm::TryInsertResult::Inserted(1)) {
            return Ok(Begin::Run);
        }
        let Some(earlier) = rows::Entity::find_by_id(key_hash).one(db).await? else {
            continue; // released meanwhile: claim it now
        };
        if earlier.expires_at <= now {
            release_if(db, key_hash, rows::Column::ExpiresAt.lte(now)).await?;
            continue;
        }
        if earlier.operation != operation || earlier.fingerprint != fingerprint {
            return Err(ApiError::typed(
                ProblemType::IdempotencyKeyReused,
                "This Idempotency-Key was sent with another request in the last 24 hours; nothing was written.",
            ));
        }
        match (earlier.status, earlier.location) {
            (Some(status), Some(location)) => {
                let status = u16::try_from(status).map_err(|_| ApiError::internal())?;
                return Ok(Begin::Replay { status, location });
            }
            (Some(_), None) => return Err(ApiError::internal()),
            (None, _) if now - earlier.created_at >= UNDER_WAY => {
                // its first request died unanswered: this one runs
                let taken = rows::Entity::update_many()
                    .col_expr(
                        rows::Column::CreatedAt,
                        sea_orm::sea_query::Expr::value(now),
                    )
                    .filter(rows::Column::KeyHash.eq(key_hash))
                    .filter(rows::Column::Status.is_null())
                    .filter(rows::Column::CreatedAt.eq(earlier.created_at))
                    .exec(db)
                    .await?;
                if taken.rows_affected == 1 {
                    return Ok(Begin::Run);
                }
            }
            (None, _) => {}
        }
        return Err(ApiError::typed(
            ProblemType::IdempotencyKeyInUse,
            "The first request with this Idempotency-Key is still under way; retry shortly for its answer.",
        )
        .with_retry_after(1));
    }
    Err(ApiError::typed(
        ProblemType::IdempotencyKeyInUse,
        "Another request with this Idempotency-Key is being claimed; retry shortly.",
    )
    .with_retry_after(1))
}

/// Records the answer of the request that claimed `key_hash`: a 2xx with
/// its address under the API base (`location`, from `Location`) is kept;
/// any other answer releases the key.
pub(crate) async fn finish(
    db: &impl ConnectionTrait,
    key_hash: &str,
    status: u16,
    location: Option<&str>,
) -> Result<(), DbErr> {
    match location {
        Some(location) if (200..300).contains(&status) => {
            rows::Entity::update_many()
                .col_expr(
                    rows::Column::Status,
                    sea_orm::sea_query::Expr::value(i32::from(status)),
                )
                .col_expr(
                    rows::Column::Location,
                    sea_orm::sea_query::Expr::value(location.to_owned()),
                )
                .filter(rows::Column::KeyHash.eq(key_hash))
                .exec(db)
                .await?;
            Ok(())
        }
        _ => release_if(db, key_hash, rows::Column::Status.is_null()).await,
    }
}

async fn release_if(
    db: &impl ConnectionTrait,
    key_hash: &str,
    condition: impl sea_orm::sea_query::IntoCondition,
) -> Result<(), DbErr> {
    rows::Entity::delete_many()
        .filter(rows::Column::KeyHash.eq(key_hash))
        .filter(condition)
        .exec(db)
        .await?;
    Ok(())
}

/// The path under the API base of an absolute `Location` this service wrote.
pub(crate) fn path_under_base(location: &str) -> Option<&str> {
    let (_, path) = location.split_once(super::API_BASE)?;
    (path.starts_with('/') && path.len() <= 300).then_some(path)
}

/// Removes the keys kept past their time; the number removed.
pub(crate) async fn prune(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(rows::Entity::delete_many()
        .filter(rows::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(value: &str) -> Request {
        Request::builder().header(HEADER, value).finish()
    }

    #[test]
    fn a_key_is_visible_ascii_plain_or_quoted() {
        let key = |v: &str| key_of(&request(v)).ok().flatten();
        assert_eq!(key("8e03978e-40d5").as_deref(), Some("8e03978e-40d5"));
        assert_eq!(key("\"8e03978e-40d5\"").as_deref(), Some("8e03978e-40d5"));
        for bad in ["\"\"", "two words", "\"open", &"k".repeat(256)] {
            assert!(key_of(&request(bad)).is_err(), "{bad:?}");
        }
        assert!(key_of(&Request::builder().finish()).is_ok_and(|k| k.is_none()));
    }

    #[test]
    fn the_hashes_are_keyed_and_tell_callers_and_requests_apart() {
        let index = MasterKey::from_bytes([7; 32]);
        let other = MasterKey::from_bytes([8; 32]);
        let a = key_hash(&index, "staff:1", "k");
        assert_eq!(a, key_hash(&index, "staff:1", "k"));
        assert_ne!(a, key_hash(&index, "client:1", "k"));
        assert_ne!(a, key_hash(&other, "staff:1", "k"));
        let f = fingerprint(&index, "createPlacement", "/placements", b"{}");
        assert_ne!(
            f,
            fingerprint(&index, "createPlacement", "/placements", b"{ }")
        );
        assert_ne!(
            f,
            fingerprint(&index, "createInstitution", "/placements", b"{}")
        );
    }

    #[test]
    fn a_location_is_read_back_under_the_api_base() {
        assert_eq!(
            path_under_base("https://casedesk.example.nl/api/v1/placements/0194"),
            Some("/placements/0194")
        );
        assert_eq!(path_under_base("https://elsewhere.example/x"), None);
    }
}
