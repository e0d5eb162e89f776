//! Sign-in throttling, shared by every replica through the database.
//!
//! An attempt is *reserved* before anything is verified: in one write
//! transaction (serialised by a lock, across replicas), the counters are
//! checked and the attempt is recorded as a failure of each of its subjects.
//! Only then is the password hashed. A success removes its own reservation;
//! a failure leaves it as the failure. So parallel guesses cannot all pass
//! the check before any of them is counted (60 did, before).
//!
//! Three subjects are counted over a 15-minute window:
//!
//! - **the account and the address together** ([`PAIR_FAILURES`], 5): the
//!   ordinary lockout. Someone guessing from one place locks only that
//!   place out of that account.
//! - **the address** (`CASEDESK_LOGIN_IP_FAILURES`, 20, across accounts):
//!   IPv6 addresses count by their /64, since one host holds a whole /64.
//! - **the account, from every address together**
//!   (`CASEDESK_LOGIN_ACCOUNT_FAILURES`, 50): the ceiling against guessing
//!   from many addresses. An account at its ceiling still lets in a sign-in
//!   that brings a valid one-time code, from an address that is not
//!   throttled: the code is checked *before* the password, so the lock
//!   only gives way to someone holding the second factor.
//!
//! - **one-time codes of the account, from every address together**
//!   (`CASEDESK_LOGIN_ACCOUNT_CODE_FAILURES`, 10): every attempt that
//!   carries a code counts (until it succeeds). At this bound, attempts with
//!   a code are refused for 15 minutes, except from an address the account
//!   signed in from successfully within 90 days ([`KNOWN_FOR`]). Before, the
//!   ceiling's way through let anyone who knew the password guess codes from
//!   as many addresses as it had. A stranger at the bound keeps the owner out
//!   only of addresses the owner never used; from the owner's own addresses
//!   only the per-address counters apply, which the stranger's guesses from
//!   elsewhere do not touch. Codes guessed online: at most 10 per 15 minutes
//!   and a 15-minute pause, about 480 a day, each with a chance of 3 in a
//!   million (the current step and one either side).
//!
//! Why this shape: five wrong passwords every 15 minutes, from anywhere,
//! used to lock an account for good. Now such an attacker locks out only
//! the addresses it guesses from; its owner, from elsewhere, signs in as
//! usual. An attacker with many addresses reaches the ceiling, which caps
//! online guessing at 50 per 15 minutes per account (NIST SP 800-63B asks
//! for no more than 100 consecutive failures); even then an owner with a
//! second factor gets in. Only an account without a second factor can then
//! be kept out, for as long as the attack from many addresses lasts; every
//! role that reaches case data or grants access must enrol one.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use super::{model::email_key, store};
use crate::{config::Config, crypto, db::begin_write, entities::login_failures};

/// Failures of one account from one address within the window before that
/// address is locked out of that account.
pub(crate) const PAIR_FAILURES: u64 = 5;

/// The lock that orders reservations across replicas (PostgreSQL; SQLite's
/// write transaction is the lock).
const RESERVATION_LOCK: crate::db::AdvisoryLock = crate::db::AdvisoryLock::SignInReservation;

/// What an address is counted as: IPv4 as itself, IPv6 by its /64.
pub(crate) fn address_key(addr: Option<IpAddr>) -> String {
    match addr {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => ipnet::Ipv6Net::new(v6, 64)
            .map(|n| n.trunc())
            .map_or_else(|_| v6.to_string(), |n| n.to_string()),
    }
}

/// The subjects an attempt is counted under. Account subjects are hashes,
/// so that mistyped or unknown addresses are not stored.
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    pub account: String,
    pub pair: String,
    pub address: String,
    /// Attempts with a one-time code, of the account from every address.
    pub codes: String,
}

/// How long an address the account signed in from stays known.
pub(crate) const KNOWN_FOR: chrono::TimeDelta = chrono::TimeDelta::days(90);

impl Subjects {
    pub(crate) fn new(email: &str, addr: Option<IpAddr>) -> Self {
        let key = email_key(email);
        let address = address_key(addr);
        let account_hash = crypto::sha256_hex(key.as_bytes());
        Self {
            codes: format!("codes:{account_hash}"),
            account: format!("account:{account_hash}"),
            pair: format!(
                "pair:{}",
                crypto::sha256_hex(format!("{key}\n{address}").as_bytes())
            ),
            address: format!("ip:{address}"),
        }
    }
}

/// The outcome of a reservation.
pub(crate) enum Admission {
    /// The attempt may be verified; it is already counted as a failure.
    Reserved(Reservation),
    /// Throttled until then: nothing is verified.
    Throttled(DateTime<Utc>),
}

/// An attempt counted before it is verified.
#[must_use = "a successful attempt releases its reservation"]
pub(crate) struct Reservation {
    ids: Vec<Uuid>,
    /// The account is at its ceiling: only a valid one-time code, checked
    /// first, lets this attempt on to the password.
    pub account_locked: bool,
}

/// Checks the counters and counts the attempt, in one serialised
/// transaction. `brings_code`: the attempt carries a one-time code, so it
/// may try the ceiling's way through.
pub(crate) async fn reserve(
    db: &DatabaseConnection,
    subjects: &Subjects,
    config: &Config,
    brings_code: bool,
    now: DateTime<Utc>,
) -> Result<Admission, DbErr> {
    let txn = begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&RESERVATION_LOCK.xact_sql()).await?;
    }
    for (subject, threshold) in [
        (&subjects.address, config.login_ip_failures),
        (&subjects.pair, PAIR_FAILURES),
    ] {
        if let Some(until) = store::locked_until(&txn, subject, threshold, now).await? {
            txn.rollback().await?;
            return Ok(Admission::Throttled(until));
        }
    }
    let account_lock =
        store::locked_until(&txn, &subjects.account, config.login_account_failures, now).await?;
    if let (Some(until), false) = (account_lock, brings_code) {
        txn.rollback().await?;
        return Ok(Admission::Throttled(until));
    }
    if brings_code {
        let codes_lock = store::locked_until(
            &txn,
            &subjects.codes,
            config.login_account_code_failures,
            now,
        )
        .await?;
        if let Some(until) = codes_lock {
            if !store::is_known_address(&txn, &subjects.pair, now - KNOWN_FOR).await? {
                txn.rollback().await?;
                return Ok(Admission::Throttled(until));
            }
        }
    }
    let mut ids = Vec::with_capacity(4);
    for subject in [&subjects.address, &subjects.pair, &subjects.account] {
        ids.push(store::record_failure(&txn, subject, now).await?);
    }
    if brings_code {
        ids.push(store::record_failure(&txn, &subjects.codes, now).await?);
    }
    txn.commit().await?;
    Ok(Admission::Reserved(Reservation {
        ids,
        account_locked: account_lock.is_some(),
    }))
}

/// A verified attempt: its reservation is withdrawn, and the account's
/// earlier failures (its own and every address's) are cleared, since its
/// owner has just proved who they are. The address's count stays, and so
/// does the count of codes (the owner signing in must not give a guesser
/// new tries); the address becomes known for [`KNOWN_FOR`].
pub(crate) async fn succeeded(
    db: &impl ConnectionTrait,
    reservation: Reservation,
    subjects: &Subjects,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    store::remember_address(db, &subjects.pair, now).await?;
    login_failures::Entity::delete_many()
        .filter(login_failures::Column::Id.is_in(reservation.ids))
        .exec(db)
        .await?;
    store::clear_failures(db, &subjects.pair).await?;
    store::clear_failures(db, &subjects.account).await?;
    Ok(())
}

/// A failed attempt keeps its reservation as the failure.
pub(crate) fn failed(reservation: Reservation) {
    drop(reservation.ids);
}

/// The sign-in limit a caller meets, as the IETF `RateLimit-Policy` and
/// `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers): the policy on
/// every answer to a sign-in, and on a 429 the limit reached (`r=0`) with
/// the seconds until it lifts. The counts left before a lock are not told:
/// they would tell a guesser which of its subjects is nearest its bound.
pub(crate) fn rate_limit_headers(resp: &mut poem::Response) {
    use poem::http::HeaderValue;
    let window = crate::accounts::store::LOCK_WINDOW.num_seconds();
    let policy = format!("\"failed-sign-ins\";q={PAIR_FAILURES};w={window}");
    if let Ok(v) = HeaderValue::from_str(&policy) {
        resp.headers_mut().insert("ratelimit-policy", v);
    }
    if resp.status() == poem::http::StatusCode::TOO_MANY_REQUESTS {
        let reset = resp
            .headers()
            .get(poem::http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        if let Ok(v) = HeaderValue::from_str(&format!("\"failed-sign-ins\";r=0;t={reset}")) {
            resp.headers_mut().insert("ratelimit", v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_ipv4_as_itself() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(Some(a)), "2001:db8:1:2::/64");
        assert_eq!(address_key(Some(a)), address_key(Some(b)));
        assert_ne!(address_key(Some(a)), address_key(Some(c)));
        assert_eq!(
            address_key(Some(IpAddr::V4([192, 0, 2, 7].into()))),
            "192.0.2.7"
        );
    }
}
