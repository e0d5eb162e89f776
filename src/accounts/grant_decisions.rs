//! A role grant decided: the rules of `four_eyes` applied in the deciding
//! transaction (who decides the role, an independent second person, an
//! active grantee), the role added when approved, the decision audited.

use uuid::Uuid;

use super::{
    access::Caller,
    four_eyes::{self, Person, Refusal},
    model::{GrantStatus, Role},
    store,
};
use crate::{
    audit::{self, Event},
    db::begin_write,
    entities::role_grants,
    http::problem::ApiError,
    AppState,
};

fn four_eyes(detail: &str) -> ApiError {
    ApiError::typed(
        crate::http::problem::ProblemType::FourEyes,
        detail.to_owned(),
    )
}

/// Whether the caller is an independent second person who decides grants
/// of this role (see `four_eyes`).
async fn check_second_person(
    txn: &sea_orm::DatabaseTransaction,
    caller: &Caller,
    role: Role,
    grant: &crate::entities::role_grants::Model,
) -> Result<(), ApiError> {
    let approver_chain = store::issuers_of(txn, caller.actor_id).await?;
    let grantee_chain = store::issuers_of(txn, grant.staff_id).await?;
    let requester_chain = store::issuers_of(txn, grant.requested_by).await?;
    four_eyes::may_approve(
        role,
        &Person {
            id: caller.actor_id,
            chain: &approver_chain,
        },
        &caller.roles,
        &Person {
            id: grant.staff_id,
            chain: &grantee_chain,
        },
        &Person {
            id: grant.requested_by,
            chain: &requester_chain,
        },
    )
    .map_err(|r| four_eyes(r.detail()))
}

pub(crate) async fn decide(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    decision: GrantStatus,
) -> Result<role_grants::Model, ApiError> {
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let grant = store::grant(&txn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let role = Role::stored(&grant.role, "role_grants.role")?;
    if !four_eyes::deciders(role).iter().any(|r| caller.has(*r)) {
        // grants of another programme's roles do not exist for this caller
        return Err(ApiError::not_found());
    }
    if grant.status != GrantStatus::Pending.as_str() {
        return Err(ApiError::conflict("This grant has already been decided."));
    }
    if decision == GrantStatus::Approved {
        check_second_person(&txn, caller, role, &grant).await?;
    } else if caller.actor_id == grant.staff_id {
        return Err(four_eyes(Refusal::ApproverIsGrantee.detail()));
    }
    let grantee = store::staff_by_id(&txn, grant.staff_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if decision == GrantStatus::Approved && !grantee.active {
        return Err(ApiError::conflict(
            "The account is deactivated; reject the grant or reactivate the account first.",
        ));
    }
    if !store::decide_grant(&txn, id, decision, caller.actor_id, now).await? {
        return Err(ApiError::conflict("This grant has already been decided."));
    }
    let action = if decision == GrantStatus::Approved {
        store::add_role(&txn, grant.staff_id, role).await?;
        "staff.role_granted"
    } else {
        "staff.role_refused"
    };
    audit::record(
        &txn,
        now,
        &caller.audit,
        Event::new(action, 200)
            .on("staff", grant.staff_id)
            .fields(vec![role.as_str()]),
    )
    .await?;
    let decided = store::grant(&txn, id)
        .await?
        .ok_or_else(ApiError::internal)?;
    txn.commit().await?;
    Ok(decided)
}
