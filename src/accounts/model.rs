//! Parsed account types: the only ways in for roles, e-mail addresses,
//! display names and passwords.

use std::collections::HashSet;
use std::sync::OnceLock;

use zeroize::Zeroizing;

crate::text::text_enum!(
    /// A staff role (see PRODUCT.md).
    Role {
        Admin => "admin",
        ShelterCoordinator => "shelter_coordinator",
        ShelterCaseworker => "shelter_caseworker",
        ExchangeCoordinator => "exchange_coordinator",
        ExchangeOfficer => "exchange_officer",
        Analyst => "analyst",
        Auditor => "auditor",
        RecordsOfficer => "records_officer",
    }
);

impl Role {
    /// Roles that read personal data or audit reasons, or destroy records:
    /// granted only with an independent second person's approval, and never
    /// by an account to itself (see `four_eyes`). Only `admin` (accounts,
    /// not case data) and `analyst` (aggregates) are given at once.
    pub fn needs_second_approval(self) -> bool {
        !matches!(self, Role::Admin | Role::Analyst)
    }
}

crate::text::text_enum!(
    /// Where a role grant stands.
    GrantStatus {
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
    }
);

crate::text::text_enum!(
    /// What an API client may do: `exchange.read` (institutions, agreements,
    /// participants, placements), `exchange.write` (create and change them),
    /// `stays.read` (stay summaries: no defender's identity, no protected
    /// field), `statistics.read` (the council's aggregates), `events.read`
    /// (the event feed) and `webhooks.manage` (the client's own webhook
    /// subscriptions, on the channels its read scopes cover). No scope
    /// reaches a defender's identity or any protected field; each operation
    /// lists the scopes it admits.
    Scope {
        ExchangeRead => "exchange.read",
        ExchangeWrite => "exchange.write",
        StaysRead => "stays.read",
        StatisticsRead => "statistics.read",
        EventsRead => "events.read",
        WebhooksManage => "webhooks.manage",
    }
);

impl Scope {
    /// Scopes as stored: space-separated, in declaration order, no repeats.
    pub fn join(scopes: &[Scope]) -> String {
        Scope::ALL
            .iter()
            .filter(|s| scopes.contains(s))
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The stored form back; unknown names are dropped (deny by default).
    pub fn split(stored: &str) -> Vec<Scope> {
        stored.split_whitespace().filter_map(Scope::parse).collect()
    }
}

crate::text::text_enum!(
    /// Who acted: a staff member or an API client.
    ActorKind {
        Staff => "staff",
        Client => "client",
    }
);

pub use crate::text::Email;

/// The roles whose members must enrol a second factor, from the setting
/// `CASEDESK_MFA_REQUIRED_ROLES` (`Config::mfa_required_roles`): by default
/// every role that reaches case data (the auditor reads audit reasons) or
/// grants access; the analyst sees aggregates only. A name that is no role
/// is a configuration error.
pub fn second_factor_roles(
    setting: Option<&[String]>,
) -> Result<Vec<Role>, crate::config::ConfigError> {
    let Some(names) = setting else {
        let all = Role::ALL.iter().copied();
        return Ok(all.filter(|r| *r != Role::Analyst).collect());
    };
    names
        .iter()
        .map(|name| {
            Role::parse(name).ok_or_else(|| crate::config::ConfigError {
                variable: "CASEDESK_MFA_REQUIRED_ROLES".to_owned(),
                reason: format!(
                    "expected a comma-separated list of roles ({}), or empty for none",
                    Role::names()
                ),
            })
        })
        .collect()
}

/// The lookup key of whatever a caller typed as an e-mail address at login.
pub fn email_key(text: &str) -> String {
    text.trim().to_lowercase()
}

/// A display name: 1-200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        let len = text.chars().count();
        if len == 0 || len > 200 {
            return Err("must be 1 to 200 characters");
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the policy: 12 to 128 characters and not one of
/// the common passwords the repository ships.
pub struct NewPassword(Zeroizing<String>);

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// The list of the most common passwords (Django's copy of Royce Williams'
/// list of 20,000; see `common-passwords.md`).
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

pub fn common_password_count() -> usize {
    common_passwords().len()
}

impl NewPassword {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let chars = text.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            return Err("must be at least 12 characters");
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err("must be at most 128 characters");
        }
        if common_passwords().contains(text.to_lowercase().as_str()) {
            return Err("is one of the most common passwords; choose another");
        }
        Ok(Self(Zeroizing::new(text.to_owned())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_factor_roles_by_default_and_by_name() {
        let default = second_factor_roles(None).unwrap();
        assert!(default.contains(&Role::Admin) && !default.contains(&Role::Analyst));
        let named = ["auditor".to_owned(), "admin".to_owned()];
        assert_eq!(
            second_factor_roles(Some(&named)).unwrap(),
            [Role::Auditor, Role::Admin]
        );
        assert_eq!(second_factor_roles(Some(&[])).unwrap(), []);
        let e = second_factor_roles(Some(&["wizard".to_owned()])).unwrap_err();
        assert_eq!(e.variable, "CASEDESK_MFA_REQUIRED_ROLES");
        assert!(!e.to_string().contains("wizard"));
    }

    #[test]
    fn password_policy() {
        assert!(common_password_count() >= 10_000);
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse(&"a".repeat(129)).is_err());
        assert!(NewPassword::parse("1q2w3e4r5t6y").is_err(), "common");
        assert!(
            NewPassword::parse("QWERTYUIOP123").is_err(),
            "common, any case"
        );
        assert!(NewPassword::parse("correct horse battery staple").is_ok());
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ana@Example.org ").unwrap().key(),
            "ana@example.org"
        );
        assert!(Email::parse("no-at-sign").is_err());
        assert!(Email::parse("a@b").is_err());
        assert!(Email::parse("a b@c.org").is_err());
    }

    #[test]
    fn roles_round_trip() {
        for &r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
