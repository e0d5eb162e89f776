//! Staff account administration (admin only).

use poem::{http::StatusCode, web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::{
    access::Caller,
    four_eyes::{self, Person},
    invitations,
    model::{DisplayName, Email, Role},
    self_service::hash_password,
    store,
    views::{
        InvitationDelivery, InvitationSent, NewStaffRequest, PasswordReset, StaffAccount,
        StaffCreated, StaffList, StaffUpdate,
    },
};
use crate::versioned::{Changes, WriteError};
use crate::{
    audit::{self, Event},
    crypto,
    db::begin_write,
    entities::staff,
    http::{
        body::JsonBody,
        if_match_version,
        pagination::{paginate, PageRequest},
        problem::{ApiError, ApiResult, InvalidParam, ProblemType},
        Tag,
    },
    AppState,
};

#[derive(ApiResponse)]
pub enum CreatedResponse {
    /// The account, and how its invitation left (its code went to the staff member alone).
    #[oai(status = 201)]
    Created(
        Json<StaffCreated>,
        /// The new account's address.
        #[oai(header = "Location")]
        String,
        /// The version, for `If-Match`.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum StaffResponse {
    /// The account.
    #[oai(status = 200)]
    Ok(
        Json<StaffAccount>,
        /// The version, for `If-Match`.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum ResetResponse {
    /// The old password no longer works and the account's sessions have ended; a new invitation went to the staff member.
    #[oai(status = 201)]
    Created(Json<PasswordReset>),
}

fn staff_response(account: StaffAccount) -> StaffResponse {
    let etag = account.etag();
    StaffResponse::Ok(Json(account), etag)
}

async fn load(txn: &DatabaseTransaction, id: Uuid) -> Result<(staff::Model, Vec<Role>), ApiError> {
    let account = store::staff_by_id(txn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let roles = store::roles_of(txn, id).await?;
    Ok((account, roles))
}

/// Asks for each of `roles` for an account, as pending grants (audited).
async fn request_grants(
    state: &AppState,
    txn: &DatabaseTransaction,
    caller: &Caller,
    staff_id: Uuid,
    roles: &[Role],
) -> Result<(), ApiError> {
    let now = state.clock.now();
    if !roles.is_empty() {
        let requester_chain = store::issuers_of(txn, caller.actor_id).await?;
        let grantee_chain = store::issuers_of(txn, staff_id).await?;
        four_eyes::may_request(
            &Person {
                id: caller.actor_id,
                chain: &requester_chain,
            },
            &Person {
                id: staff_id,
                chain: &grantee_chain,
            },
        )
        .map_err(|r| ApiError::typed(ProblemType::SelfGrant, r.detail()))?;
    }
    for role in roles {
        store::request_grant(txn, staff_id, *role, caller.actor_id, now).await?;
        audit::record(
            txn,
            now,
            &caller.audit,
            Event::new("staff.role_requested", 202)
                .on("staff", staff_id)
                .fields(vec![role.as_str()]),
        )
        .await?;
    }
    Ok(())
}

/// Sends an invitation's code to the staff member (after the commit: a
/// message is not taken back) and says how it left.
async fn deliver(state: &AppState, email: &str, issued: &invitations::Issued) -> InvitationSent {
    let delivery = state
        .mailer
        .send_invitation(
            email,
            &issued.code,
            issued.expires_at,
            &state.config.public_url,
        )
        .await;
    InvitationSent {
        expires_at: issued.expires_at.into(),
        delivery: match delivery {
            crate::mail::Delivery::Sent => InvitationDelivery::Sent,
            crate::mail::Delivery::Failed => InvitationDelivery::Failed,
            crate::mail::Delivery::NotConfigured => InvitationDelivery::NotConfigured,
        },
    }
}

fn sorted_roles(roles: &[Role]) -> Vec<Role> {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    roles
}

pub struct StaffApi;

#[OpenApi(tag = "Tag::Staff")]
impl StaffApi {
    /// List staff accounts.
    #[oai(path = "/staff", method = "get", operation_id = "listStaff")]
    async fn list_staff(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// Only accounts holding this role.
        role: Query<Option<Role>>,
        /// Only active (true) or deactivated (false) accounts.
        active: Query<Option<bool>>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<StaffList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let rows =
            store::list_staff(&state.db, role.0, active.0, page.after, page.fetch_limit()).await?;
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut roles = store::roles_of_many(&state.db, &ids).await?;
        let mut pending = store::pending_roles_of_many(&state.db, &ids).await?;
        let items = rows
            .into_iter()
            .map(|r| {
                let rs = roles.remove(&r.id).unwrap_or_default();
                let waiting = pending.remove(&r.id).unwrap_or_default();
                StaffAccount::from_model(r, rs).with_pending(waiting)
            })
            .collect();
        Ok(StaffList::page(
            items,
            next,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Create a staff account.
    ///
    /// Nobody is shown a password: an invitation code goes to the new staff
    /// member's own address (or, without mail, from the server's operator),
    /// and with it they choose their password (`POST /enrolments`).
    /// Roles that reach personal data or audit reasons or destroy records are
    /// not given at once: each becomes a pending grant (`pendingRoles`) that an
    /// independent second person approves; `admin` and `analyst` are given.
    #[oai(path = "/staff", method = "post", operation_id = "createStaff")]
    async fn create_staff(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<NewStaffRequest>,
    ) -> ApiResult<CreatedResponse> {
        let state = *state;
        let mut problems = Vec::new();
        let email = Email::parse(&body.email)
            .map_err(|r| {
                problems.push(InvalidParam::new(
                    "email",
                    "invalid",
                    format!("The e-mail address {r}."),
                ))
            })
            .ok();
        let name = DisplayName::parse(&body.display_name)
            .map_err(|r| {
                problems.push(InvalidParam::new(
                    "displayName",
                    "invalid",
                    format!("The display name {r}."),
                ))
            })
            .ok();
        let (Some(email), Some(name)) = (email, name) else {
            return Err(ApiError::invalid(problems));
        };
        // shelter roles wait for a second person's approval
        let (pending, roles): (Vec<Role>, Vec<Role>) = sorted_roles(&body.roles)
            .into_iter()
            .partition(|r| r.needs_second_approval());
        let password = crypto::one_time_password();
        let hash = hash_password(&state.hasher, &password).await?;
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        if store::staff_by_email_key(&txn, &email.key())
            .await?
            .is_some()
        {
            return Err(ApiError::conflict(
                "An account with this e-mail address already exists.",
            ));
        }
        let created = store::insert_staff(
            &txn,
            store::NewStaff {
                email: email.as_str(),
                email_key: email.key(),
                display_name: name.as_str(),
                password_hash: hash,
                must_change_password: true,
                roles: &roles,
                issued_by: Some(caller.actor_id),
            },
            now,
        )
        .await?;
        audit::record(
            &txn,
            now,
            &caller.audit,
            Event::new("staff.created", 201)
                .on("staff", created.id)
                .fields(vec!["email", "displayName", "roles"]),
        )
        .await?;
        request_grants(state, &txn, &caller, created.id, &pending).await?;
        let issued = invitations::issue(
            &txn,
            created.id,
            Some(caller.actor_id),
            now,
            state.config.invitation_ttl,
        )
        .await?;
        txn.commit().await?;
        let invitation = deliver(state, &created.email, &issued).await;
        let location =
            crate::http::resource_url(&state.config.public_url, &format!("/staff/{}", created.id));
        let staff = StaffAccount::from_model(created, roles).with_pending(pending);
        let tag = staff.etag();
        Ok(CreatedResponse::Created(
            Json(StaffCreated { staff, invitation }),
            location,
            tag,
        ))
    }

    /// Show a staff account.
    #[oai(path = "/staff/:id", method = "get", operation_id = "getStaff")]
    async fn get_staff(&self, state: Data<&AppState>, id: Path<Uuid>) -> ApiResult<StaffResponse> {
        let account = store::staff_by_id(&state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let roles = store::roles_of(&state.db, id.0).await?;
        let pending = store::pending_roles_of(&state.db, id.0).await?;
        Ok(staff_response(
            StaffAccount::from_model(account, roles).with_pending(pending),
        ))
    }

    /// Change a staff account's display name, roles or active state.
    ///
    /// Needs `If-Match`. Deactivating ends every session of the account at
    /// once. An administrator cannot remove its own admin role or deactivate
    /// itself, and the last active administrator cannot be deactivated.
    /// Roles needing a second person that the account does not hold yet
    /// become pending grants; nobody asks for one for itself or for an account
    /// that made theirs (403 `self-grant`).
    /// Roles left out are removed at once (and their pending grants withdrawn).
    #[oai(path = "/staff/:id", method = "patch", operation_id = "updateStaff")]
    async fn update_staff(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the version being changed.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<StaffUpdate>,
    ) -> ApiResult<StaffResponse> {
        let state = *state;
        let now = state.clock.now();
        let name = match &body.display_name {
            None => None,
            Some(n) => Some(DisplayName::parse(n).map_err(|r| {
                ApiError::field("displayName", "invalid", format!("The display name {r}."))
            })?),
        };
        let txn = begin_write(&state.db).await?;
        let (account, current_roles) = load(&txn, id.0).await?;
        let expected = if_match_version(if_match.0.as_deref(), account.version)?;
        let asked = body.roles.as_deref().map(sorted_roles);
        let is_self = account.id == caller.actor_id;
        // a shelter role it does not hold yet is asked for, not given
        let to_request: Vec<Role> = asked
            .iter()
            .flatten()
            .copied()
            .filter(|r| r.needs_second_approval() && !current_roles.contains(r))
            .collect();
        let new_roles: Option<Vec<Role>> = asked.as_ref().map(|r| {
            r.iter()
                .copied()
                .filter(|r| !to_request.contains(r))
                .collect()
        });
        if is_self {
            if new_roles
                .as_ref()
                .is_some_and(|r| !r.contains(&Role::Admin))
            {
                return Err(ApiError::conflict(
                    "An administrator cannot remove its own admin role.",
                ));
            }
            if body.active == Some(false) {
                return Err(ApiError::conflict(
                    "An administrator cannot deactivate its own account.",
                ));
            }
        }
        let loses_admin = current_roles.contains(&Role::Admin)
            && account.active
            && (body.active == Some(false)
                || new_roles
                    .as_ref()
                    .is_some_and(|r| !r.contains(&Role::Admin)));
        if loses_admin && store::active_admins(&txn).await? <= 1 {
            return Err(ApiError::conflict(
                "This is the last active administrator; appoint another first.",
            ));
        }

        let mut changes = Changes::<staff::Entity>::new();
        if let Some(name) = &name {
            if name.as_str() != account.display_name {
                changes.set("displayName", staff::Column::DisplayName, name.as_str());
            }
        }
        if let Some(active) = body.active {
            if active != account.active {
                changes.set("active", staff::Column::Active, active);
            }
        }
        let roles_changed = new_roles.as_ref().is_some_and(|r| *r != current_roles);
        if roles_changed {
            // the roles live in their own table; the account's version still moves
            changes.touch("roles");
        }
        let pending_before = store::pending_roles_of(&txn, account.id).await?;
        let grants_change = asked.as_ref().is_some_and(|a| {
            !to_request.iter().all(|r| pending_before.contains(r))
                || pending_before.iter().any(|r| !a.contains(r))
        });
        if changes.is_empty() && !grants_change {
            txn.rollback().await?;
            return Ok(staff_response(
                StaffAccount::from_model(account, current_roles).with_pending(pending_before),
            ));
        }
        if changes.is_empty() {
            // only the pending grants change: the account's version stays
            if let Some(asked) = &asked {
                store::withdraw_pending(&txn, account.id, asked, caller.actor_id, now).await?;
            }
            request_grants(state, &txn, &caller, account.id, &to_request).await?;
            let (updated, roles) = load(&txn, account.id).await?;
            let pending = store::pending_roles_of(&txn, account.id).await?;
            txn.commit().await?;
            return Ok(staff_response(
                StaffAccount::from_model(updated, roles).with_pending(pending),
            ));
        }
        let event = Event::new("staff.updated", 200);
        store::update_staff(
            &txn,
            &caller.audit,
            now,
            account.id,
            expected,
            changes,
            event,
        )
        .await?;
        if let (true, Some(roles)) = (roles_changed, &new_roles) {
            store::set_roles(&txn, account.id, roles).await?;
        }
        if body.active == Some(false) {
            store::delete_sessions_of(&txn, account.id, None).await?;
        }
        if let Some(asked) = &asked {
            store::withdraw_pending(&txn, account.id, asked, caller.actor_id, now).await?;
        }
        request_grants(state, &txn, &caller, account.id, &to_request).await?;
        let (updated, roles) = load(&txn, account.id).await?;
        let pending = store::pending_roles_of(&txn, account.id).await?;
        txn.commit().await?;
        Ok(staff_response(
            StaffAccount::from_model(updated, roles).with_pending(pending),
        ))
    }

    /// Reset a staff account's password.
    ///
    /// The old password stops working and the account's sessions end; a new
    /// invitation goes to the staff member, who chooses a new password with
    /// it. Nobody is shown a password.
    #[oai(
        path = "/staff/:id/password-resets",
        method = "post",
        operation_id = "resetStaffPassword"
    )]
    async fn reset_staff_password(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<ResetResponse> {
        let state = *state;
        let now = state.clock.now();
        let password = crypto::one_time_password();
        let hash = hash_password(&state.hasher, &password).await?;
        let txn = begin_write(&state.db).await?;
        let (account, _) = load(&txn, id.0).await?;
        let mut changes = Changes::<staff::Entity>::new();
        changes.set("password", staff::Column::PasswordHash, hash);
        changes.also(staff::Column::MustChangePassword, false);
        let event = Event::new("staff.password_reset", 201);
        store::update_staff(
            &txn,
            &caller.audit,
            now,
            account.id,
            account.version,
            changes,
            event,
        )
        .await
        .map_err(|e| match e {
            WriteError::Stale => ApiError::new(
                StatusCode::CONFLICT,
                "The account changed meanwhile; try again.",
            ),
            e => e.into(),
        })?;
        store::delete_sessions_of(&txn, account.id, None).await?;
        // whoever reset it issued its credentials: linked, for four eyes
        store::set_issued_by(&txn, account.id, caller.actor_id).await?;
        let issued = invitations::issue(
            &txn,
            account.id,
            Some(caller.actor_id),
            now,
            state.config.invitation_ttl,
        )
        .await?;
        txn.commit().await?;
        let invitation = deliver(state, &account.email, &issued).await;
        Ok(ResetResponse::Created(Json(PasswordReset { invitation })))
    }
}
