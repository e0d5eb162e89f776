//! Four eyes on every role that reads personal data or audit reasons or
//! destroys records: a role asked for an account waits until an independent
//! second person who decides grants of that role approves it (the rules are
//! in `four_eyes`; an administrator, or a coordinator of the role's
//! programme). A caller sees and decides only the grants of roles it
//! decides.
//!
//! "Independent" is checked as far as the service can: the approver is
//! linked (`staff.issued_by`, followed back) to neither the grantee nor the
//! requester, so an administrator cannot make itself a coordinator through
//! accounts it made. Accounts made with `casedesk staff create` have no
//! issuer: the operator of the server is the second person there.

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use uuid::Uuid;

use super::{
    access::Caller,
    four_eyes::{self, Person, Refusal},
    model::{GrantStatus, Role},
    store,
    views::{RoleGrant, RoleGrantList},
};
use crate::{
    audit::{self, Event},
    db::begin_write,
    http::{
        pagination::{paginate, PageRequest},
        problem::{ApiError, ApiResult},
        Tag,
    },
    AppState,
};

#[derive(ApiResponse)]
pub enum GrantDecided {
    /// Decided: approved grants are in effect at once.
    #[oai(status = 200)]
    Ok(Json<RoleGrant>),
}

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

pub struct RoleGrantsApi;

#[OpenApi(tag = "Tag::Staff")]
impl RoleGrantsApi {
    /// List role grants (Shelter City roles asked for accounts), newest first.
    #[oai(path = "/role-grants", method = "get", operation_id = "listRoleGrants")]
    async fn list_role_grants(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        /// Only grants in this state (`pending` for those waiting).
        status: Query<Option<GrantStatus>>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<RoleGrantList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        // only the grants of roles this caller decides
        let decides: Vec<Role> = Role::ALL
            .iter()
            .copied()
            .filter(|r| four_eyes::deciders(*r).iter().any(|d| caller.has(*d)))
            .collect();
        let rows = store::list_grants(
            &state.db,
            status.0,
            &decides,
            page.after,
            page.fetch_limit(),
        )
        .await?;
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        Ok(RoleGrantList::page(
            rows.into_iter()
                .map(RoleGrant::from_model)
                .collect::<Result<_, _>>()?,
            next,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Approve a pending role grant: the role is in effect at once.
    ///
    /// For a second person: not the account itself, not the one who asked,
    /// and not an account whose credentials either of them issued (or that
    /// issued theirs).
    #[oai(
        path = "/role-grants/:id/approval",
        method = "post",
        operation_id = "approveRoleGrant"
    )]
    async fn approve_role_grant(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<GrantDecided> {
        decide(&state, &caller, id.0, GrantStatus::Approved).await
    }

    /// Reject a pending role grant.
    #[oai(
        path = "/role-grants/:id/rejection",
        method = "post",
        operation_id = "rejectRoleGrant"
    )]
    async fn reject_role_grant(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<GrantDecided> {
        decide(&state, &caller, id.0, GrantStatus::Rejected).await
    }
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    decision: GrantStatus,
) -> ApiResult<GrantDecided> {
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
    Ok(GrantDecided::Ok(Json(RoleGrant::from_model(decided)?)))
}
