//! What the accounts API sends and receives (DTOs, never entities).

use poem_openapi::Object;
use uuid::Uuid;

use super::model::Role;
use crate::{
    entities::staff,
    http::{formats::EmailText, types::Timestamp},
};

/// A staff account.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct StaffAccount {
    pub id: Uuid,
    /// The e-mail address it signs in with (unique, case-insensitively).
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 200))]
    pub display_name: String,
    pub roles: Vec<Role>,
    /// Shelter roles granted to it that wait for a second person's approval
    /// (`POST /api/v1/role-grants/{id}/approval`); not in effect yet.
    pub pending_roles: Vec<Role>,
    pub active: bool,
    /// The account must change its password before it can do anything else.
    pub must_change_password: bool,
    /// A second factor (TOTP) is enrolled and confirmed.
    pub totp_enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Changes with every update; send it back in `If-Match`.
    pub version: i32,
}

impl StaffAccount {
    pub fn from_model(m: staff::Model, roles: Vec<Role>) -> Self {
        Self {
            id: m.id,
            email: m.email,
            display_name: m.display_name,
            roles,
            pending_roles: Vec::new(),
            active: m.active,
            must_change_password: m.must_change_password,
            totp_enabled: m.totp_enabled,
            created_at: m.created_at.into(),
            updated_at: m.updated_at.into(),
            version: m.version,
        }
    }

    /// The same account with its pending grants.
    pub fn with_pending(mut self, pending: Vec<Role>) -> Self {
        self.pending_roles = pending;
        self
    }

    pub fn etag(&self) -> String {
        crate::http::etag(self.version)
    }
}

/// A shelter role granted to an account, waiting for (or given) a second
/// person's decision.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct RoleGrant {
    pub id: Uuid,
    /// The account the role is for.
    pub staff_id: Uuid,
    pub role: Role,
    pub requested_by: Uuid,
    pub requested_at: Timestamp,
    pub status: super::model::GrantStatus,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<Timestamp>,
}

impl RoleGrant {
    pub fn from_model(
        m: crate::entities::role_grants::Model,
    ) -> Result<Self, crate::text::Corrupt> {
        Ok(Self {
            id: m.id,
            staff_id: m.staff_id,
            role: Role::stored(&m.role, "role_grants.role")?,
            requested_by: m.requested_by,
            requested_at: m.requested_at.into(),
            status: super::model::GrantStatus::stored(&m.status, "role_grants.status")?,
            decided_by: m.decided_by,
            decided_at: m.decided_at.map(Into::into),
        })
    }
}

crate::list_types!(
    RoleGrantPage,
    RoleGrantList,
    RoleGrant,
    "role grants, newest first"
);

/// Credentials for a new session.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
#[oai(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 1024))]
    pub password: String,
    /// The current TOTP code, for accounts with a second factor (six
    /// digits; spaces, as authenticator apps show them, are ignored).
    #[oai(validator(max_length = 16))]
    pub totp: Option<String>,
}

/// A new session. The token is shown only here.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct SessionCreated {
    /// Send as `Authorization: Bearer <token>`.
    #[oai(validator(max_length = 100))]
    pub token: String,
    /// When the session ends however it is used.
    pub expires_at: Timestamp,
    /// The session also ends after this many seconds without use.
    pub idle_timeout_seconds: i64,
    pub staff: StaffAccount,
}

/// A new staff account.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
#[oai(deny_unknown_fields)]
pub(crate) struct NewStaffRequest {
    pub email: EmailText,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub display_name: String,
    #[oai(validator(min_items = 1, max_items = 8, unique_items))]
    pub roles: Vec<Role>,
}

crate::text::text_enum!(
    /// How an invitation left the service: `sent` (to the staff member's
    /// address), `failed` (ask for a new one) or `not_configured` (no mail:
    /// the server's operator runs `casedesk staff invite`).
    InvitationDelivery {
        Sent => "sent",
        Failed => "failed",
        NotConfigured => "not_configured",
    }
);

/// An invitation sent to a staff member: its code went to them alone.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct InvitationSent {
    /// Until when its code may be used, once.
    pub expires_at: crate::http::types::Timestamp,
    pub delivery: InvitationDelivery,
}

/// A created account. It has no password anyone knows: the staff member
/// chooses one with the invitation's code, which went to their own address
/// (the account's creator never sees a credential of it).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct StaffCreated {
    pub staff: StaffAccount,
    pub invitation: InvitationSent,
}

/// Choosing one's first password (or a new one after a reset) with the
/// code of an invitation.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
#[oai(deny_unknown_fields)]
pub(crate) struct EnrolmentRequest {
    /// The code from the invitation.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub code: String,
    #[oai(validator(max_length = 1024))]
    pub new_password: String,
}

/// Changes to an account; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
#[oai(deny_unknown_fields)]
pub(crate) struct StaffUpdate {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub display_name: Option<String>,
    #[oai(validator(min_items = 1, max_items = 8, unique_items))]
    pub roles: Option<Vec<Role>>,
    /// `false` deactivates the account and ends all its sessions at once.
    pub active: Option<bool>,
}

/// A password reset by an administrator: the old password no longer
/// works, and the staff member chooses a new one with the invitation sent
/// to them.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PasswordReset {
    pub invitation: InvitationSent,
}

/// A change of one's own password.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
#[oai(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    #[oai(validator(max_length = 1024))]
    pub current_password: String,
    /// 12 to 128 characters, not one of the most common passwords.
    #[oai(validator(max_length = 128))]
    pub new_password: String,
}

/// A TOTP secret to load into an authenticator app; confirm it with a code.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct TotpEnrolment {
    /// Base32 secret.
    #[oai(validator(max_length = 64))]
    pub secret: String,
    /// `otpauth://totp/...` for QR codes.
    #[oai(validator(max_length = 500))]
    pub otpauth_uri: String,
}

/// A TOTP code.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
#[oai(deny_unknown_fields)]
pub(crate) struct TotpCode {
    /// The six-digit code; spaces are ignored.
    #[oai(validator(min_length = 6, max_length = 16))]
    pub code: String,
}

/// What removing the second factor needs.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
#[oai(deny_unknown_fields)]
pub(crate) struct TotpDeactivation {
    #[oai(validator(max_length = 1024))]
    pub password: String,
    /// The six-digit code; spaces are ignored.
    #[oai(validator(min_length = 6, max_length = 16))]
    pub code: String,
}

crate::list_types!(StaffPage, StaffList, StaffAccount, "staff accounts");
