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
    four_eyes, grant_decisions,
    model::{GrantStatus, Role},
    store,
    views::{RoleGrant, RoleGrantList},
};
use crate::{
    http::{pagination::PageRequest, problem::ApiResult, Tag},
    AppState,
};

#[derive(ApiResponse)]
pub enum GrantDecided {
    /// Decided: approved grants are in effect at once.
    #[oai(status = 200)]
    Ok(Json<RoleGrant>),
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
        let rows = page.cut(rows, |r| r.id)?;
        Ok(RoleGrantList::page(
            rows.try_map(RoleGrant::from_model)?,
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
        let decided = grant_decisions::decide(&state, &caller, id.0, GrantStatus::Approved).await?;
        Ok(GrantDecided::Ok(Json(RoleGrant::from_model(decided)?)))
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
        let decided = grant_decisions::decide(&state, &caller, id.0, GrantStatus::Rejected).await?;
        Ok(GrantDecided::Ok(Json(RoleGrant::from_model(decided)?)))
    }
}
