//! Staff administration as the handlers call it: each function is one
//! transaction that loads, applies the rules of `staff_rules` and
//! `four_eyes`, writes through the store and answers the account as it now
//! stands.

use poem::http::StatusCode;
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::{
    access::Caller,
    four_eyes::{self, Person},
    invitations,
    model::{DisplayName, Email, Role},
    self_service::hash_password,
    staff_rules::{self, Account, Asked},
    store,
    views::StaffAccount,
};
use crate::{
    audit::{self, Event},
    crypto,
    db::begin_write,
    entities::staff,
    http::{
        if_match_version,
        problem::{ApiError, ProblemType},
    },
    versioned::{Changes, WriteError},
    AppState,
};

/// An account with its roles, or 404.
pub(crate) async fn load(
    txn: &DatabaseTransaction,
    id: Uuid,
) -> Result<(staff::Model, Vec<Role>), ApiError> {
    let account = store::staff_by_id(txn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let roles = store::roles_of(txn, id).await?;
    Ok((account, roles))
}

/// The account as it stands in `txn`, with its pending grants.
async fn current(txn: &DatabaseTransaction, id: Uuid) -> Result<StaffAccount, ApiError> {
    let (account, roles) = load(txn, id).await?;
    let pending = store::pending_roles_of(txn, id).await?;
    Ok(StaffAccount::from_model(account, roles).with_pending(pending))
}

/// Asks for each of `roles` for an account, as pending grants (audited).
pub(crate) async fn request_grants(
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

/// Makes an account for `email` and `name` with the `roles` given at once,
/// asks for those that need a second person (pending grants), and issues
/// its invitation. The account gets an unusable random password: nobody
/// signs in as it before the invitation is redeemed. Answers the account
/// and the invitation (whose code goes to the staff member alone).
pub(crate) async fn create(
    state: &AppState,
    caller: &Caller,
    email: &Email,
    name: &DisplayName,
    roles: &[Role],
) -> Result<(StaffAccount, invitations::Issued), ApiError> {
    // roles that reach personal data wait for a second person's approval
    let (pending, roles): (Vec<Role>, Vec<Role>) = staff_rules::sorted_roles(roles)
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
    let new = store::NewStaff {
        email: email.as_str(),
        email_key: email.key(),
        display_name: name.as_str(),
        password_hash: hash,
        must_change_password: true,
        roles: &roles,
        issued_by: Some(caller.actor_id),
    };
    let created = store::insert_staff(&txn, new, now).await?;
    let event = Event::new("staff.created", 201)
        .on("staff", created.id)
        .fields(vec!["email", "displayName", "roles"]);
    audit::record(&txn, now, &caller.audit, event).await?;
    request_grants(state, &txn, caller, created.id, &pending).await?;
    let ttl = state.config.invitation_ttl;
    let issued = invitations::issue(&txn, created.id, Some(caller.actor_id), now, ttl).await?;
    txn.commit().await?;
    let account = StaffAccount::from_model(created, roles).with_pending(pending);
    Ok((account, issued))
}

/// Resets account `id`'s password as `caller`: a fresh unknown password
/// (so the old one no longer works), every session ended, the caller
/// linked as its issuer (for four eyes) and a new invitation issued.
/// Answers the account's address and the invitation to deliver.
pub(crate) async fn reset_password(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<(String, invitations::Issued), ApiError> {
    let now = state.clock.now();
    let password = crypto::one_time_password();
    let hash = hash_password(&state.hasher, &password).await?;
    let txn = begin_write(&state.db).await?;
    let (account, _) = load(&txn, id).await?;
    let mut changes = Changes::<staff::Entity>::new();
    changes.set("password", staff::Column::PasswordHash, hash);
    changes.also(staff::Column::MustChangePassword, false);
    let event = Event::new("staff.password_reset", 201);
    let (audit, version) = (&caller.audit, account.version);
    store::update_staff(&txn, audit, now, account.id, version, changes, event)
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
    let ttl = state.config.invitation_ttl;
    let issued = invitations::issue(&txn, account.id, Some(caller.actor_id), now, ttl).await?;
    txn.commit().await?;
    Ok((account.email, issued))
}

/// A change of a staff account, parsed.
pub(crate) struct Update<'a> {
    pub name: Option<DisplayName>,
    pub roles: Option<&'a [Role]>,
    pub active: Option<bool>,
}

/// Changes account `id` at the version `if_match` names: its name and
/// active state, the roles given at once, and the roles asked for (pending
/// grants, withdrawn when left out). Deactivating ends its sessions. The
/// rules are `staff_rules::plan` and `keep_an_administrator`.
pub(crate) async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    if_match: Option<&str>,
    update: Update<'_>,
) -> Result<StaffAccount, ApiError> {
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let (account, held) = load(&txn, id).await?;
    let expected = if_match_version(if_match, account.version)?;
    let pending = store::pending_roles_of(&txn, account.id).await?;
    let plan = staff_rules::plan(
        Account {
            active: account.active,
            roles: &held,
            pending: &pending,
        },
        Asked {
            roles: update.roles,
            active: update.active,
        },
        account.id == caller.actor_id,
    )
    .map_err(refused)?;
    if plan.loses_admin {
        let admins = store::active_admins(&txn).await?;
        staff_rules::keep_an_administrator(&plan, admins).map_err(refused)?;
    }
    let mut changes = Changes::<staff::Entity>::new();
    if let Some(name) = update.name.filter(|n| n.as_str() != account.display_name) {
        changes.set("displayName", staff::Column::DisplayName, name.as_str());
    }
    if let Some(active) = update.active.filter(|a| *a != account.active) {
        changes.set("active", staff::Column::Active, active);
    }
    if plan.roles_changed {
        // the roles live in their own table; the account's version still moves
        changes.touch("roles");
    }
    if changes.is_empty() && !plan.grants_change {
        txn.rollback().await?;
        return Ok(StaffAccount::from_model(account, held).with_pending(pending));
    }
    if !changes.is_empty() {
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
        if let (true, Some(roles)) = (plan.roles_changed, &plan.new_roles) {
            store::set_roles(&txn, account.id, roles).await?;
        }
        if update.active == Some(false) {
            store::delete_sessions_of(&txn, account.id, None).await?;
        }
    }
    // otherwise only the pending grants change, and the account's version stays
    if let Some(asked) = update.roles {
        let asked = staff_rules::sorted_roles(asked);
        store::withdraw_pending(&txn, account.id, &asked, caller.actor_id, now).await?;
    }
    request_grants(state, &txn, caller, account.id, &plan.to_request).await?;
    let answer = current(&txn, account.id).await?;
    txn.commit().await?;
    Ok(answer)
}

fn refused(r: staff_rules::Refusal) -> ApiError {
    ApiError::conflict(r.to_string())
}
