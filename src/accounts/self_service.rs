//! Signing in and out, one's own account, password and second factor.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, OpenApi};
use sea_orm::ConnectionTrait;

use super::{
    access::Caller,
    invitations,
    model::{email_key, NewPassword},
    password::Hasher,
    store, throttle, totp,
    views::{
        EnrolmentRequest, LoginRequest, PasswordChange, SessionCreated, StaffAccount, TotpCode,
        TotpDeactivation, TotpEnrolment,
    },
};
use crate::versioned::{Changes, WriteError};
use crate::{
    audit::{self, Actor, Context, Event},
    db::begin_write,
    entities::staff,
    http::{
        body::JsonBody,
        problem::{ApiError, ApiResult},
        Tag,
    },
    AppState,
};

#[derive(ApiResponse)]
pub enum LoginResponse {
    /// Signed in: the token is shown only here.
    #[oai(status = 201)]
    Created(Json<SessionCreated>),
}

#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
pub enum MeResponse {
    /// The signed-in account.
    #[oai(status = 200)]
    Ok(
        Json<StaffAccount>,
        /// The account's version (as `GET /staff/{id}` gives it).
        #[oai(header = "ETag")]
        String,
    ),
}

impl MeResponse {
    fn of(account: StaffAccount) -> Self {
        let tag = account.etag();
        Self::Ok(Json(account), tag)
    }
}

#[derive(ApiResponse)]
pub enum EnrolResponse {
    /// Load the secret into an authenticator app, then confirm with a code.
    #[oai(status = 201)]
    Created(Json<TotpEnrolment>),
}

/// The one answer to every failed sign-in: wrong password, unknown address,
/// inactive account, missing or wrong one-time code. A correct password
/// without its code must not be told apart from a wrong one.
fn wrong_credentials() -> ApiError {
    ApiError::typed(crate::http::problem::ProblemType::InvalidCredentials,
        "The e-mail address, password or one-time code is wrong, or the account cannot sign in. Accounts with a second factor send the current code as `totp`.",
    )
}

fn throttled(until: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
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

fn client_ip(ctx: &Context) -> Option<std::net::IpAddr> {
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

/// Reserves a password check of a signed-in account (password change,
/// second factor removal) under the same counters as sign-ins: 429 when
/// throttled, 503 when the hashing is full.
async fn reserve_check(
    state: &AppState,
    caller: &Caller,
    me: &staff::Model,
) -> Result<(throttle::Reservation, throttle::Subjects), ApiError> {
    let now = state.clock.now();
    let subjects = throttle::Subjects::new(&me.email, client_ip(&caller.audit));
    match throttle::reserve(&state.db, &subjects, &state.config, false, now).await? {
        throttle::Admission::Reserved(r) => Ok((r, subjects)),
        throttle::Admission::Throttled(until) => Err(throttled(until, now)),
    }
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
async fn consume_totp(
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

/// A self-service write that met a newer version of the account (another
/// session changed it): 409, nothing written.
fn changed_meanwhile(e: WriteError) -> ApiError {
    match e {
        WriteError::Stale => ApiError::conflict("The account changed meanwhile; try again."),
        e => e.into(),
    }
}

async fn load_me(state: &AppState, caller: &Caller) -> Result<staff::Model, ApiError> {
    store::staff_by_id(&state.db, caller.actor_id)
        .await?
        .ok_or_else(ApiError::not_found)
}

pub struct SelfServiceApi;

#[OpenApi(tag = "Tag::Sessions")]
impl SelfServiceApi {
    /// Sign in.
    ///
    /// Returns a session token. An unknown e-mail address, a wrong password, a
    /// missing and a wrong one-time code all get the same 401 after the same
    /// work. After 5 failures of one account from one address within 15
    /// minutes, that address is refused with 429 for that account, even with
    /// the right password; addresses and accounts (from all addresses
    /// together) have ceilings too, and an account at its ceiling takes a
    /// valid one-time code. When too many sign-ins are being checked at once
    /// the answer is 503 with `Retry-After`. Accounts with a second factor
    /// also send `totp`.
    #[oai(path = "/sessions", method = "post", operation_id = "createSession")]
    async fn create_session(
        &self,
        state: Data<&AppState>,
        ctx: Data<&Context>,
        body: JsonBody<LoginRequest>,
    ) -> ApiResult<LoginResponse> {
        let state = *state;
        let ctx = ctx.0.clone();
        let now = state.clock.now();
        // a place in the hashing queue first: a burst is refused, not queued
        let Some(admitted) = state.hasher.try_admit() else {
            state
                .refusals
                .refused(now, &ctx, Event::new("login.busy", 503))
                .await?;
            return Err(busy());
        };
        let code = body
            .totp
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let subjects = throttle::Subjects::new(&body.email, client_ip(&ctx));
        // counted before anything is verified, so parallel guesses cannot race the lock
        let reservation =
            match throttle::reserve(&state.db, &subjects, &state.config, code.is_some(), now)
                .await?
            {
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
        let account = store::staff_by_email_key(&state.db, &email_key(&body.email)).await?;

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
                record_failed_login(
                    state,
                    &ctx,
                    reservation,
                    "login.failed.locked_wrong_totp",
                    account.as_ref(),
                )
                .await?;
                return Err(wrong_credentials());
            }
            txn.commit().await?;
            code_used = true;
        }

        let password_ok = state
            .hasher
            .verify_admitted(
                admitted,
                &body.password,
                account.as_ref().map(|a| a.password_hash.as_str()),
            )
            .await;
        let account = match account {
            None => {
                record_failed_login(
                    state,
                    &ctx,
                    reservation,
                    "login.failed.unknown_account",
                    None,
                )
                .await?;
                return Err(wrong_credentials());
            }
            Some(a) if !password_ok => {
                record_failed_login(
                    state,
                    &ctx,
                    reservation,
                    "login.failed.wrong_password",
                    Some(&a),
                )
                .await?;
                return Err(wrong_credentials());
            }
            Some(a) if !a.active => {
                record_failed_login(state, &ctx, reservation, "login.failed.inactive", Some(&a))
                    .await?;
                return Err(wrong_credentials());
            }
            Some(a) => a,
        };

        let txn = begin_write(&state.db).await?;
        if account.totp_enabled && !code_used {
            let failure = match code {
                None => Some("login.failed.missing_totp"),
                Some(c) if !consume_totp(&txn, state, &account, c).await? => {
                    Some("login.failed.wrong_totp")
                }
                Some(_) => None,
            };
            if let Some(reason) = failure {
                txn.rollback().await?;
                record_failed_login(state, &ctx, reservation, reason, Some(&account)).await?;
                return Err(wrong_credentials());
            }
        }
        throttle::succeeded(&txn, reservation, &subjects, now).await?;
        let (token, expires_at) =
            store::create_session(&txn, account.id, now, &state.config).await?;
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
        Ok(LoginResponse::Created(Json(SessionCreated {
            token: token.to_string(),
            expires_at: expires_at.into(),
            idle_timeout_seconds: state.config.session_idle.num_seconds(),
            staff: StaffAccount::from_model(account, roles),
        })))
    }

    /// Sign out: the token stops working at once.
    #[oai(
        path = "/sessions/current",
        method = "delete",
        operation_id = "deleteCurrentSession"
    )]
    async fn delete_current_session(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
    ) -> ApiResult<NoContent> {
        let now = state.clock.now();
        let session_id = caller.session_id.ok_or_else(ApiError::not_found)?;
        let txn = begin_write(&state.db).await?;
        store::delete_session(&txn, session_id).await?;
        audit::record(
            &txn,
            now,
            &caller.audit,
            Event::new("logout", 204).on("staff", caller.actor_id),
        )
        .await?;
        txn.commit().await?;
        Ok(NoContent::Done)
    }

    /// The signed-in account.
    #[oai(
        path = "/staff/me",
        method = "get",
        operation_id = "getMe",
        tag = "Tag::Staff"
    )]
    async fn get_me(&self, state: Data<&AppState>, caller: Data<&Caller>) -> ApiResult<MeResponse> {
        let me = load_me(&state, &caller).await?;
        Ok(MeResponse::of(StaffAccount::from_model(
            me,
            caller.roles.clone(),
        )))
    }

    /// Choose a password with an invitation's code.
    ///
    /// For a new account, or one whose password an administrator reset: the
    /// code came to the staff member alone (by mail, or from the server's
    /// operator). Valid once, until it expires; the account's sessions end.
    /// Then sign in with the new password (and enrol a second factor where
    /// the roles need one). A code that is unknown, used or expired is a 400
    /// naming `code`.
    #[oai(
        path = "/enrolments",
        method = "post",
        operation_id = "createEnrolment",
        tag = "Tag::Staff"
    )]
    async fn create_enrolment(
        &self,
        state: Data<&AppState>,
        ctx: Data<&Context>,
        body: JsonBody<EnrolmentRequest>,
    ) -> ApiResult<NoContent> {
        let state = *state;
        let now = state.clock.now();
        let refused = || {
            ApiError::field(
                "code",
                "invalid",
                "The enrolment code is unknown, used or expired; ask an administrator for a new invitation.",
            )
        };
        // the code first: a wrong one costs no hashing
        let Some(staff_id) = invitations::find_valid(&state.db, &body.code, now).await? else {
            state
                .refusals
                .refused(now, &ctx, Event::new("enrolment.refused", 400))
                .await?;
            return Err(refused());
        };
        let new_password = NewPassword::parse(&body.new_password).map_err(|reason| {
            ApiError::field("newPassword", "weak", format!("The new password {reason}."))
        })?;
        let hash = hash_password(&state.hasher, new_password.expose()).await?;
        let txn = begin_write(&state.db).await?;
        if invitations::redeem(&txn, &body.code, now).await? != Some(staff_id) {
            return Err(refused());
        }
        let account = store::staff_by_id(&txn, staff_id)
            .await?
            .ok_or_else(ApiError::internal)?;
        let mut changes = Changes::<staff::Entity>::new();
        changes.set("password", staff::Column::PasswordHash, hash);
        changes.also(staff::Column::MustChangePassword, false);
        let mut actor_ctx = ctx.0.clone();
        actor_ctx.actor = Some(Actor::Staff(staff_id));
        let event = Event::new("staff.enrolled", 204).on("staff", staff_id);
        store::update_staff(
            &txn,
            &actor_ctx,
            now,
            staff_id,
            account.version,
            changes,
            event,
        )
        .await
        .map_err(changed_meanwhile)?;
        store::delete_sessions_of(&txn, staff_id, None).await?;
        txn.commit().await?;
        Ok(NoContent::Done)
    }

    /// Change one's own password.
    ///
    /// Needs the current password. Ends the account's other sessions.
    #[oai(
        path = "/staff/me/password",
        method = "put",
        operation_id = "changeMyPassword",
        tag = "Tag::Staff"
    )]
    async fn change_my_password(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<PasswordChange>,
    ) -> ApiResult<NoContent> {
        let state = *state;
        let now = state.clock.now();
        let me = load_me(state, &caller).await?;
        let (reservation, subjects) = reserve_check(state, &caller, &me).await?;
        let new_password = NewPassword::parse(&body.new_password);
        if !state
            .hasher
            .verify(&body.current_password, Some(&me.password_hash))
            .await
        {
            throttle::failed(reservation);
            audit::record_alone(
                &state.audit,
                now,
                &caller.audit,
                Event::new("password.change_failed", 400).on("staff", me.id),
            )
            .await?;
            return Err(ApiError::field(
                "currentPassword",
                "wrong",
                "The current password is wrong.",
            ));
        }
        let new_password = new_password.map_err(|reason| {
            ApiError::field("newPassword", "weak", format!("The new password {reason}."))
        })?;
        if crate::crypto::constant_time_eq(
            body.current_password.as_bytes(),
            new_password.expose().as_bytes(),
        ) {
            return Err(ApiError::field(
                "newPassword",
                "unchanged",
                "The new password must differ from the current one.",
            ));
        }
        let hash = hash_password(&state.hasher, new_password.expose()).await?;
        let txn = begin_write(&state.db).await?;
        let mut changes = Changes::<staff::Entity>::new();
        changes.set("password", staff::Column::PasswordHash, hash);
        changes.also(staff::Column::MustChangePassword, false);
        let event = Event::new("staff.password_changed", 204);
        store::update_staff(&txn, &caller.audit, now, me.id, me.version, changes, event)
            .await
            .map_err(changed_meanwhile)?;
        store::delete_sessions_of(&txn, me.id, caller.session_id).await?;
        throttle::succeeded(&txn, reservation, &subjects, now).await?;
        txn.commit().await?;
        Ok(NoContent::Done)
    }

    /// Start enrolling a second factor (TOTP).
    ///
    /// Returns a new secret; it takes effect once confirmed with a code.
    #[oai(
        path = "/staff/me/totp",
        method = "post",
        operation_id = "enrolTotp",
        tag = "Tag::Staff"
    )]
    async fn enrol_totp(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
    ) -> ApiResult<EnrolResponse> {
        let state = *state;
        let now = state.clock.now();
        let me = load_me(state, &caller).await?;
        if me.totp_enabled {
            return Err(ApiError::conflict(
                "A second factor is already enabled; deactivate it first.",
            ));
        }
        let secret = totp::new_secret();
        let sealed = state
            .keys
            .master
            .encrypt(&secret, &crate::keyring::totp_aad(me.id));
        let uri = totp::uri(&secret, &me.email).ok_or_else(ApiError::internal)?;
        let txn = begin_write(&state.db).await?;
        crate::keyring::fence(&txn, &state.keys).await?;
        let mut changes = Changes::<staff::Entity>::new();
        changes.set("totp", staff::Column::TotpSecret, Some(sealed));
        changes.also(staff::Column::TotpLastStep, Option::<i64>::None);
        let event = Event::new("totp.enrolment_started", 201);
        store::update_staff(&txn, &caller.audit, now, me.id, me.version, changes, event)
            .await
            .map_err(changed_meanwhile)?;
        txn.commit().await?;
        Ok(EnrolResponse::Created(Json(TotpEnrolment {
            secret: totp::base32(&secret).to_string(),
            otpauth_uri: uri.to_string(),
        })))
    }

    /// Confirm the second factor with a current code; sign-ins then need codes.
    #[oai(
        path = "/staff/me/totp/confirmation",
        method = "post",
        operation_id = "confirmTotp",
        tag = "Tag::Staff"
    )]
    async fn confirm_totp(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<TotpCode>,
    ) -> ApiResult<MeResponse> {
        let state = *state;
        let now = state.clock.now();
        let me = load_me(state, &caller).await?;
        if me.totp_enabled {
            return Err(ApiError::conflict("The second factor is already enabled."));
        }
        let txn = begin_write(&state.db).await?;
        if !consume_totp(&txn, state, &me, &body.code).await? {
            txn.rollback().await?;
            audit::record_alone(
                &state.audit,
                now,
                &caller.audit,
                Event::new("totp.confirmation_failed", 400).on("staff", me.id),
            )
            .await?;
            return Err(ApiError::field(
                "code",
                "wrong",
                "The code is wrong, expired or already used.",
            ));
        }
        let fresh = store::staff_by_id(&txn, me.id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let mut changes = Changes::<staff::Entity>::new();
        changes.set("totp", staff::Column::TotpEnabled, true);
        let event = Event::new("totp.enabled", 200);
        let updated = store::update_staff(
            &txn,
            &caller.audit,
            now,
            me.id,
            fresh.version,
            changes,
            event,
        )
        .await
        .map_err(changed_meanwhile)?
        .unwrap_or(fresh);

        txn.commit().await?;
        Ok(MeResponse::of(StaffAccount::from_model(
            updated,
            caller.roles.clone(),
        )))
    }

    /// Remove the second factor; needs the password and a current code.
    #[oai(
        path = "/staff/me/totp/deactivation",
        method = "post",
        operation_id = "deactivateTotp",
        tag = "Tag::Staff"
    )]
    async fn deactivate_totp(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<TotpDeactivation>,
    ) -> ApiResult<MeResponse> {
        let state = *state;
        let now = state.clock.now();
        let me = load_me(state, &caller).await?;
        if !me.totp_enabled {
            return Err(ApiError::conflict("No second factor is enabled."));
        }
        let (reservation, subjects) = reserve_check(state, &caller, &me).await?;
        let password_ok = state
            .hasher
            .verify(&body.password, Some(&me.password_hash))
            .await;
        let txn = begin_write(&state.db).await?;
        let code_ok = password_ok && consume_totp(&txn, state, &me, &body.code).await?;
        if !code_ok {
            txn.rollback().await?;
            throttle::failed(reservation);
            audit::record_alone(
                &state.audit,
                now,
                &caller.audit,
                Event::new("totp.deactivation_failed", 400).on("staff", me.id),
            )
            .await?;
            return Err(ApiError::field(
                "body",
                "wrong",
                "The password or the code is wrong.",
            ));
        }
        throttle::succeeded(&txn, reservation, &subjects, now).await?;
        let fresh = store::staff_by_id(&txn, me.id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let mut changes = Changes::<staff::Entity>::new();
        changes.set("totp", staff::Column::TotpEnabled, false);
        changes.also(staff::Column::TotpSecret, Option::<String>::None);
        changes.also(staff::Column::TotpLastStep, Option::<i64>::None);
        let event = Event::new("totp.disabled", 200);
        let updated = store::update_staff(
            &txn,
            &caller.audit,
            now,
            me.id,
            fresh.version,
            changes,
            event,
        )
        .await
        .map_err(changed_meanwhile)?
        .unwrap_or(fresh);

        txn.commit().await?;
        Ok(MeResponse::of(StaffAccount::from_model(
            updated,
            caller.roles.clone(),
        )))
    }
}

pub async fn hash_password(hasher: &Hasher, password: &str) -> Result<String, ApiError> {
    hasher
        .hash(password)
        .await
        .map_err(|_| ApiError::internal())
}
