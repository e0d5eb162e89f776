//! Invitations: how a staff member gets a first password that nobody else
//! has seen (issue 32.1).
//!
//! Creating an account (or resetting its password) gives it a random
//! password that is hashed and thrown away, and an invitation: a random
//! 256-bit code, stored only as its SHA-256 hash, valid once until it
//! expires (`CASEDESK_INVITATION_HOURS`). The code goes to the staff member's
//! own address (`mail`), or, without mail, from the server's operator
//! (`casedesk staff invite`). With it the staff member chooses their password
//! (`POST /enrolments`). The administrator who made the account never sees a
//! credential: asking a role for an account one made is no longer asking it
//! for oneself. A new invitation ends the earlier ones of the account.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{crypto, entities::staff_invitations};

/// A new invitation: its code (to be sent, never stored) and its end.
pub struct Issued {
    pub code: Zeroizing<String>,
    pub expires_at: DateTime<Utc>,
}

fn code_hash(code: &str) -> String {
    crypto::sha256_hex(code.trim().as_bytes())
}

/// Issues an invitation for `staff_id` (made by `by`; `None` on the command
/// line), ending the account's earlier unused ones.
pub(crate) async fn issue(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
    by: Option<Uuid>,
    now: DateTime<Utc>,
    ttl: TimeDelta,
) -> Result<Issued, DbErr> {
    end_open(db, staff_id, now).await?;
    let code = Zeroizing::new(URL_SAFE_NO_PAD.encode(crypto::random_bytes::<32>()));
    let expires_at = now + ttl;
    staff_invitations::Entity::insert(staff_invitations::ActiveModel {
        id: Set(Uuid::now_v7()),
        staff_id: Set(staff_id),
        code_hash: Set(code_hash(&code)),
        created_by: Set(by),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(Issued { code, expires_at })
}

/// Ends the account's unused invitations (as if used now).
pub(crate) async fn end_open(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    staff_invitations::Entity::update_many()
        .col_expr(staff_invitations::Column::UsedAt, Expr::value(Some(now)))
        .filter(staff_invitations::Column::StaffId.eq(staff_id))
        .filter(staff_invitations::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The account a still valid invitation with this code is for, without
/// using it (checked before any password is hashed: a wrong code costs no
/// hashing work).
pub(crate) async fn find_valid(
    db: &impl ConnectionTrait,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, DbErr> {
    Ok(staff_invitations::Entity::find()
        .filter(staff_invitations::Column::CodeHash.eq(code_hash(code)))
        .one(db)
        .await?
        .filter(|i| i.used_at.is_none() && i.expires_at > now)
        .map(|i| i.staff_id))
}

/// Uses the invitation with this code, once: the account it is for, or
/// `None` when the code is unknown, used or expired. Two racing uses: one
/// wins (the update is conditional).
pub(crate) async fn redeem(
    db: &impl ConnectionTrait,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, DbErr> {
    let Some(found) = staff_invitations::Entity::find()
        .filter(staff_invitations::Column::CodeHash.eq(code_hash(code)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if found.used_at.is_some() || found.expires_at <= now {
        return Ok(None);
    }
    let used = staff_invitations::Entity::update_many()
        .col_expr(staff_invitations::Column::UsedAt, Expr::value(Some(now)))
        .filter(staff_invitations::Column::Id.eq(found.id))
        .filter(staff_invitations::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok((used.rows_affected == 1).then_some(found.staff_id))
}
