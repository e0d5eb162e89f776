//! Staff account administration (admin only).

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use uuid::Uuid;

use super::{
    access::Caller,
    invitations,
    model::{DisplayName, Email, Role},
    staff_admin, store,
    views::{
        InvitationDelivery, InvitationSent, NewStaffRequest, PasswordReset, StaffAccount,
        StaffCreated, StaffList, StaffUpdate,
    },
};
use crate::{
    http::{
        body::JsonBody,
        pagination::PageRequest,
        problem::{ApiError, ApiResult, InvalidParam},
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

/// A new account's e-mail address and name: both problems at once.
fn parse_new(body: &NewStaffRequest) -> Result<(Email, DisplayName), ApiError> {
    let mut problems = Vec::new();
    let email = Email::parse(&body.email)
        .map_err(|r| {
            let reason = format!("The e-mail address {r}.");
            problems.push(InvalidParam::new("email", "invalid", reason))
        })
        .ok();
    let name = DisplayName::parse(&body.display_name)
        .map_err(|r| {
            let reason = format!("The display name {r}.");
            problems.push(InvalidParam::new("displayName", "invalid", reason))
        })
        .ok();
    match (email, name) {
        (Some(email), Some(name)) => Ok((email, name)),
        _ => Err(ApiError::invalid(problems)),
    }
}

fn parse_name(name: &str) -> Result<DisplayName, ApiError> {
    DisplayName::parse(name)
        .map_err(|r| ApiError::field("displayName", "invalid", format!("The display name {r}.")))
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
        let rows = page.cut(rows, |r| r.id)?;
        let ids: Vec<Uuid> = rows.rows.iter().map(|r| r.id).collect();
        let mut roles = store::roles_of_many(&state.db, &ids).await?;
        let mut pending = store::pending_roles_of_many(&state.db, &ids).await?;
        let items = rows.map(|r| {
            let rs = roles.remove(&r.id).unwrap_or_default();
            let waiting = pending.remove(&r.id).unwrap_or_default();
            StaffAccount::from_model(r, rs).with_pending(waiting)
        });
        Ok(StaffList::page(items, &state.config.public_url, req.uri()))
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
        let (email, name) = parse_new(&body)?;
        let (created, issued) =
            staff_admin::create(state, &caller, &email, &name, &body.roles).await?;
        let invitation = deliver(state, &created.email, &issued).await;
        let location =
            crate::http::resource_url(&state.config.public_url, &format!("/staff/{}", created.id));
        let staff = created;
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
        let name = body.display_name.as_deref().map(parse_name).transpose()?;
        let update = staff_admin::Update {
            name,
            roles: body.roles.as_deref(),
            active: body.active,
        };
        let account = staff_admin::update(*state, &caller, id.0, if_match.0.as_deref(), update);
        Ok(staff_response(account.await?))
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
        let (email, issued) = staff_admin::reset_password(*state, &caller, id.0).await?;
        let invitation = deliver(*state, &email, &issued).await;
        Ok(ResetResponse::Created(Json(PasswordReset { invitation })))
    }
}
