//! The rules of changing a staff account, without I/O: which of the roles an
//! administrator asks for are given at once and which wait for a second
//! person, and what an administrator may not do to itself or to the last
//! administrator. `staff_admin::update` applies them in one transaction.

use super::model::Role;

/// The account as it stands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Account<'a> {
    pub active: bool,
    pub roles: &'a [Role],
    /// Roles asked for it that still wait for an approval.
    pub pending: &'a [Role],
}

/// What the caller asks for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Asked<'a> {
    /// The whole set of roles the account should hold (absent: unchanged).
    pub roles: Option<&'a [Role]>,
    pub active: Option<bool>,
}

/// What the change does to the account's roles and grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Roles that need a second person and that the account does not hold
    /// yet: asked for, not given.
    pub to_request: Vec<Role>,
    /// The roles the account holds afterwards, when roles were asked for.
    pub new_roles: Option<Vec<Role>>,
    /// Whether the roles it holds change.
    pub roles_changed: bool,
    /// Whether its pending grants change (one asked for anew, or one left out).
    pub grants_change: bool,
    /// Whether an active administrator stops being one.
    pub loses_admin: bool,
}

/// Why a change is refused (each a 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("An administrator cannot remove its own admin role.")]
    OwnAdminRole,
    #[error("An administrator cannot deactivate its own account.")]
    OwnDeactivation,
    #[error("This is the last active administrator; appoint another first.")]
    LastAdmin,
}

/// The roles asked for, each once, in order.
pub(crate) fn sorted_roles(roles: &[Role]) -> Vec<Role> {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    roles
}

/// Plans the change `asked` of `account`, made by the account itself when
/// `by_itself`.
pub(crate) fn plan(
    account: Account<'_>,
    asked: Asked<'_>,
    by_itself: bool,
) -> Result<Plan, Refusal> {
    let asked_roles = asked.roles.map(sorted_roles);
    let to_request: Vec<Role> = asked_roles
        .iter()
        .flatten()
        .copied()
        .filter(|r| r.needs_second_approval() && !account.roles.contains(r))
        .collect();
    let new_roles: Option<Vec<Role>> = asked_roles.as_ref().map(|roles| {
        roles
            .iter()
            .copied()
            .filter(|r| !to_request.contains(r))
            .collect()
    });
    let drops_admin = new_roles
        .as_ref()
        .is_some_and(|r| !r.contains(&Role::Admin));
    if by_itself && drops_admin {
        return Err(Refusal::OwnAdminRole);
    }
    if by_itself && asked.active == Some(false) {
        return Err(Refusal::OwnDeactivation);
    }
    let loses_admin = account.roles.contains(&Role::Admin)
        && account.active
        && (asked.active == Some(false) || drops_admin);
    let roles_changed = new_roles.as_ref().is_some_and(|r| r != account.roles);
    let grants_change = asked_roles.as_ref().is_some_and(|asked| {
        !to_request.iter().all(|r| account.pending.contains(r))
            || account.pending.iter().any(|r| !asked.contains(r))
    });
    Ok(Plan {
        to_request,
        new_roles,
        roles_changed,
        grants_change,
        loses_admin,
    })
}

/// Refuses a plan that leaves no active administrator (`active_admins` are
/// counted before the change).
pub(crate) fn keep_an_administrator(plan: &Plan, active_admins: u64) -> Result<(), Refusal> {
    if plan.loses_admin && active_admins <= 1 {
        Err(Refusal::LastAdmin)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    fn account(roles: &'static [Role]) -> Account<'static> {
        Account {
            active: true,
            roles,
            pending: &[],
        }
    }

    fn roles(r: &'static [Role]) -> Asked<'static> {
        Asked {
            roles: Some(r),
            active: None,
        }
    }

    #[test]
    fn a_role_needing_a_second_person_is_asked_for_and_others_given() {
        let p = plan(
            account(&[Analyst]),
            roles(&[Analyst, Admin, Auditor]),
            false,
        )
        .unwrap();
        assert_eq!(p.to_request, [Auditor]);
        assert_eq!(p.new_roles, Some(sorted_roles(&[Admin, Analyst])));
        assert!(p.roles_changed);
        assert!(p.grants_change);
        assert!(!p.loses_admin);
    }

    #[test]
    fn a_role_held_already_is_kept_without_a_new_grant() {
        let p = plan(account(&[Auditor]), roles(&[Auditor]), false).unwrap();
        assert!(p.to_request.is_empty());
        assert!(!p.roles_changed);
        assert!(!p.grants_change);
    }

    #[test]
    fn leaving_out_a_pending_role_withdraws_it_and_asking_again_changes_nothing() {
        let pending = Account {
            pending: &[Auditor],
            ..account(&[Analyst])
        };
        let p = plan(pending, roles(&[Analyst]), false).unwrap();
        assert!(p.grants_change);
        let p = plan(pending, roles(&[Analyst, Auditor]), false).unwrap();
        assert!(!p.grants_change);
        assert!(!p.roles_changed);
    }

    #[test]
    fn an_administrator_keeps_its_own_admin_role_and_account() {
        assert_eq!(
            plan(account(&[Admin]), roles(&[Analyst]), true),
            Err(Refusal::OwnAdminRole)
        );
        let deactivate = Asked {
            roles: None,
            active: Some(false),
        };
        assert_eq!(
            plan(account(&[Admin]), deactivate, true),
            Err(Refusal::OwnDeactivation)
        );
        // another administrator may do both
        assert!(
            plan(account(&[Admin]), deactivate, false)
                .unwrap()
                .loses_admin
        );
        assert!(
            plan(account(&[Admin]), roles(&[Analyst]), false)
                .unwrap()
                .loses_admin
        );
    }

    #[test]
    fn the_last_active_administrator_stays() {
        let p = plan(account(&[Admin]), roles(&[Analyst]), false).unwrap();
        assert_eq!(keep_an_administrator(&p, 1), Err(Refusal::LastAdmin));
        assert_eq!(keep_an_administrator(&p, 2), Ok(()));
        // an inactive administrator's change loses nobody
        let inactive = Account {
            active: false,
            ..account(&[Admin])
        };
        let p = plan(inactive, roles(&[Analyst]), false).unwrap();
        assert_eq!(keep_an_administrator(&p, 1), Ok(()));
    }

    #[test]
    fn roles_are_compared_as_sets() {
        let held = sorted_roles(&[Analyst, Admin]);
        let account = Account {
            active: true,
            roles: &held,
            pending: &[],
        };
        let p = plan(account, roles(&[Analyst, Admin, Analyst]), false).unwrap();
        assert!(!p.roles_changed);
    }
}
