//! Signing in and out, one's own account, password and second factor.

use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, OpenApi};

use super::{
    access::Caller,
    invitations,
    model::NewPassword,
    password::Hasher,
    sign_in::{self, client_ip, consume_totp, throttled},
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

#[OpenApi]
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
    #[oai(
        path = "/sessions",
        method = "post",
        operation_id = "createSession",
        tag = "Tag::Sessions"
    )]
    async fn create_session(
        &self,
        state: Data<&AppState>,
        ctx: Data<&Context>,
        body: JsonBody<LoginRequest>,
    ) -> ApiResult<LoginResponse> {
        let code = body
            .totp
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let credentials = sign_in::Credentials {
            email: &body.email,
            password: &body.password,
            code,
        };
        let signed = sign_in::sign_in(*state, ctx.0.clone(), credentials).await?;
        Ok(LoginResponse::Created(Json(SessionCreated {
            token: signed.token,
            expires_at: signed.expires_at.into(),
            idle_timeout_seconds: state.config.session_idle.num_seconds(),
            staff: StaffAccount::from_model(signed.account, signed.roles),
        })))
    }

    /// Sign out: the token stops working at once.
    #[oai(
        path = "/sessions/current",
        method = "delete",
        operation_id = "deleteCurrentSession",
        tag = "Tag::Sessions"
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

pub(crate) async fn hash_password(hasher: &Hasher, password: &str) -> Result<String, ApiError> {
    hasher
        .hash(password)
        .await
        .map_err(|_| ApiError::internal())
}
