//! Signing in: the hashing queue, the throttle's reservation, the second
//! factor, the password, and one answer for every failure. The order of the
//! checks is the rule: an account at its ceiling gives way only to a valid
//! one-time code (checked before any password hash); the password is
//! verified with the same work whether or not the account exists; whether
//! an account is inactive is judged only after its password was right
//! ([`judge`]); and a correct password without its code is told apart from
//! a wrong one only in the audit trail.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{model::email_key, model::Role, store, throttle, totp};
use crate::{
    audit::{self, Actor, Context, Event},
    db::begin_write,
    entities::staff,
    http::problem::ApiError,
    AppState,
};

/// What a caller signs in with.
pub(crate) struct Credentials<'a> {
    pub email: &'a str,
    pub password: &'a str,
    /// The one-time code, trimmed; `None` when not sent or empty.
    pub code: Option<&'a str>,
}

/// A new session and its account.
pub(crate) struct Signed {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub account: staff::Model,
    pub roles: Vec<Role>,
}

/// Why a sign-in failed, kept for the audit trail only: the caller gets the
/// same answer for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    UnknownAccount,
    WrongPassword,
    Inactive,
    MissingCode,
    WrongCode,
    /// The account is at its ceiling and no valid code came with the request.
    LockedWrongCode,
}

impl Failure {
    /// The audit action of the failure.
    pub(crate) fn action(self) -> &'static str {
        match self {
            Self::UnknownAccount => "login.failed.unknown_account",
            Self::WrongPassword => "login.failed.wrong_password",
            Self::Inactive => "login.failed.inactive",
            Self::MissingCode => "login.failed.missing_totp",
            Self::WrongCode => "login.failed.wrong_totp",
            Self::LockedWrongCode => "login.failed.locked_wrong_totp",
        }
    }
}

/// The verdict on an account (`Some(active)`, or none) and its password:
/// whether an account is active is said only to the one who knows its
/// password.
pub(crate) fn judge(account_active: Option<bool>, password_ok: bool) -> Result<(), Failure> {
    match (account_active, password_ok) {
        (None, _) => Err(Failure::UnknownAccount),
        (Some(_), false) => Err(Failure::WrongPassword),
        (Some(false), true) => Err(Failure::Inactive),
        (Some(true), true) => Ok(()),
    }
}

/// Signs a caller in: a session token, or the one answer for every failure
/// (401), 429 while throttled, 503 while the hashing queue is full.
pub(crate) async fn sign_in(
    state: &AppState,
    ctx: Context,
    credentials: Credentials<'_>,
) -> Result<Signed, ApiError> {
    let now = state.clock.now();
    // a place in the hashing queue first: a burst is refused, not queued
    let Some(admitted) = state.hasher.try_admit() else {
        state
            .refusals
            .refused(now, &ctx, Event::new("login.busy", 503))
            .await?;
        return Err(busy());
    };
    let code = credentials.code;
    let subjects = throttle::Subjects::new(credentials.email, client_ip(&ctx));
    // counted before anything is verified, so parallel guesses cannot race the lock
    let reservation =
        match throttle::reserve(&state.db, &subjects, &state.config, code.is_some(), now).await? {
            throttle::Admission::Reserved(r) => r,
            throttle::Admission::Throttled(until) => {
                // counted like other anonymous refusals: a flood of them
                // is one event per address and interval
                state
                    .refusals
                    .refused(now, &ctx, Event::new("login.throttled", 429))
                    .await?;
                return Err(throttled(until, now));
            }
        };
    let account = store::staff_by_email_key(&state.db, &email_key(credentials.email)).await?;

    // an account at its ceiling gives way only to a valid one-time code,
    // checked before the password (no hash is computed for a wrong one)
    let mut code_used = false;
    if reservation.account_locked {
        let txn = begin_write(&state.db).await?;
        let code_ok = match (&account, code) {
            (Some(a), Some(c)) if a.totp_enabled => consume_totp(&txn, state, a, c).await?,
            _ => false,
        };
        if !code_ok {
            txn.rollback().await?;
            let action = Failure::LockedWrongCode.action();
            record_failed_login(state, &ctx, reservation, action, account.as_ref()).await?;
            return Err(wrong_credentials());
        }
        txn.commit().await?;
        code_used = true;
    }

    let password_ok = state
        .hasher
        .verify_admitted(
            admitted,
            credentials.password,
            account.as_ref().map(|a| a.password_hash.as_str()),
        )
        .await;
    let active = account.as_ref().map(|a| a.active);
    if let Err(failure) = judge(active, password_ok) {
        record_failed_login(state, &ctx, reservation, failure.action(), account.as_ref()).await?;
        return Err(wrong_credentials());
    }
    let Some(account) = account else {
        return Err(wrong_credentials());
    };

    let txn = begin_write(&state.db).await?;
    if account.totp_enabled && !code_used {
        let failure = match code {
            None => Some(Failure::MissingCode),
            Some(c) if !consume_totp(&txn, state, &account, c).await? => Some(Failure::WrongCode),
            Some(_) => None,
        };
        if let Some(failure) = failure {
            txn.rollback().await?;
            let action = failure.action();
            record_failed_login(state, &ctx, reservation, action, Some(&account)).await?;
            return Err(wrong_credentials());
        }
    }
    throttle::succeeded(&txn, reservation, &subjects, now).await?;
    let (token, expires_at) = store::create_session(&txn, account.id, now, &state.config).await?;
    let mut actor_ctx = ctx;
    actor_ctx.actor = Some(Actor::Staff(account.id));
    audit::record(
        &txn,
        now,
        &actor_ctx,
        Event::new("login.succeeded", 201).on("staff", account.id),
    )
    .await?;
    let roles = store::roles_of(&txn, account.id).await?;
    txn.commit().await?;
    Ok(Signed {
        token: token.to_string(),
        expires_at,
        account,
        roles,
    })
}

/// The one answer to every failed sign-in: wrong password, unknown address,
/// inactive account, missing or wrong one-time code. A correct password
/// without its code must not be told apart from a wrong one.
pub(crate) fn wrong_credentials() -> ApiError {
    ApiError::typed(crate::http::problem::ProblemType::InvalidCredentials,
        "The e-mail address, password or one-time code is wrong, or the account cannot sign in. Accounts with a second factor send the current code as `totp`.",
    )
}

pub(crate) fn throttled(until: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
    let seconds = (until - now).num_seconds().max(1) as u64;
    ApiError::typed(
        crate::http::problem::ProblemType::TooManyAttempts,
        "Too many failed sign-ins; wait for Retry-After seconds.",
    )
    .with_retry_after(seconds)
}

/// More sign-ins at once than the password hashing admits.
fn busy() -> ApiError {
    ApiError::unavailable(
        "Too many sign-ins are being checked at once; try again after Retry-After seconds.",
    )
    .with_retry_after(1)
}

pub(crate) fn client_ip(ctx: &Context) -> Option<std::net::IpAddr> {
    ctx.client_ip.as_deref().and_then(|ip| ip.parse().ok())
}

/// Records a failed sign-in (its reservation is the count) in the audit trail.
async fn record_failed_login(
    state: &AppState,
    ctx: &Context,
    reservation: throttle::Reservation,
    reason: &str,
    account: Option<&staff::Model>,
) -> Result<(), ApiError> {
    throttle::failed(reservation);
    let mut event = Event::new(reason, 401);
    if let Some(a) = account {
        event = event.on("staff", a.id);
    }
    audit::record_alone(&state.audit, state.clock.now(), ctx, event).await?;
    Ok(())
}

fn decrypt_totp(
    state: &AppState,
    account: &staff::Model,
) -> Result<zeroize::Zeroizing<Vec<u8>>, ApiError> {
    let Some(sealed) = &account.totp_secret else {
        return Err(ApiError::conflict(
            "No second factor is being enrolled or enabled.",
        ));
    };
    state
        .keys
        .master
        .decrypt(sealed, &crate::keyring::totp_aad(account.id))
        .map_err(|_| {
            tracing::error!(staff_id = %account.id, "TOTP secret cannot be decrypted");
            ApiError::internal()
        })
}

/// Accepts a code once: moves the account's last used step forward, only if
/// no other request used this step first.
pub(crate) async fn consume_totp(
    db: &impl ConnectionTrait,
    state: &AppState,
    account: &staff::Model,
    code: &str,
) -> Result<bool, ApiError> {
    // " 123 456" as copied from an authenticator app is 123456
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let code = code.as_str();
    let secret = decrypt_totp(state, account)?;
    let unix = state.clock.now().timestamp().max(0) as u64;
    let Some(step) = totp::matching_step(&secret, code, unix, account.totp_last_step) else {
        return Ok(false);
    };
    Ok(store::claim_totp_step(db, account.id, step).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_judged_inactive_only_with_its_password() {
        assert_eq!(judge(None, true), Err(Failure::UnknownAccount));
        assert_eq!(judge(None, false), Err(Failure::UnknownAccount));
        assert_eq!(judge(Some(false), false), Err(Failure::WrongPassword));
        assert_eq!(judge(Some(true), false), Err(Failure::WrongPassword));
        assert_eq!(judge(Some(false), true), Err(Failure::Inactive));
        assert_eq!(judge(Some(true), true), Ok(()));
    }
}
