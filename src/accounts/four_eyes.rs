//! Four eyes on the roles that reach personal data, audit reasons or the
//! destruction of records: the pure rules, without the database.
//!
//! Every account records who issued its credentials (who created it or last
//! reset its password: `staff.issued_by`). Following that link gives an
//! account's *chain*: everyone who made it, made its maker, and so on. Two
//! accounts are *linked* when one is in the other's chain, or they are the
//! same account: a linked account may be a puppet, so it is not a second
//! person.
//!
//! - The requester of a grant may not be the grantee nor an account the
//!   grantee's chain made (`Refusal::RequesterMadeByGrantee`): an admin that
//!   creates admin B and has B ask a role for it asks for itself. A requester
//!   who *made* the grantee may ask, because its creator never sees a
//!   credential of the account (first sign-in is by an invitation sent to
//!   the staff member).
//! - The approver is linked to neither the grantee nor the requester.
//! - The approver holds a role that may decide grants of this role
//!   ([`deciders`]).

use uuid::Uuid;

use super::model::Role;

/// One account and its chain of issuers (nearest first).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Person<'a> {
    pub id: Uuid,
    pub chain: &'a [Uuid],
}

impl Person<'_> {
    /// Same account, or one made (directly or down a chain) by the other.
    pub(crate) fn linked_to(&self, other: &Person<'_>) -> bool {
        self.id == other.id || self.chain.contains(&other.id) || other.chain.contains(&self.id)
    }
}

/// Why a grant may not be asked for or approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Nobody asks a role for their own account.
    OwnAccount,
    /// The requester's credentials come from the grantee: it asks for itself.
    RequesterMadeByGrantee,
    /// The approver is the grantee or linked to it.
    ApproverIsGrantee,
    /// The approver is the requester or linked to it.
    ApproverIsRequester,
    /// The approver holds no role that decides grants of this role.
    NotADecider,
}

impl Refusal {
    pub(crate) fn detail(self) -> &'static str {
        match self {
            Refusal::OwnAccount => "Nobody asks for a role that needs a second person for their own account; another administrator asks, and a third person approves.",
            Refusal::RequesterMadeByGrantee => "This account was made (or its password reset) by the account it asks a role for, directly or through accounts that one made: that is asking for oneself.",
            Refusal::ApproverIsGrantee => "Nobody decides a role grant for their own account, or for an account that made theirs or that they made.",
            Refusal::ApproverIsRequester => "The one who asked for a role cannot approve it, nor can an account that made theirs or that they made; an independent person decides.",
            Refusal::NotADecider => "Grants of this role are decided by an administrator or by a coordinator of the role's programme.",
        }
    }
}

/// Whether `requester` may ask `role` for `grantee`.
pub(crate) fn may_request(requester: &Person<'_>, grantee: &Person<'_>) -> Result<(), Refusal> {
    if requester.id == grantee.id {
        return Err(Refusal::OwnAccount);
    }
    if requester.chain.contains(&grantee.id) {
        return Err(Refusal::RequesterMadeByGrantee);
    }
    Ok(())
}

/// Who, besides its own programme's coordinator, decides a grant of `role`.
pub(crate) fn deciders(role: Role) -> &'static [Role] {
    match role {
        Role::ShelterCoordinator | Role::ShelterCaseworker => {
            &[Role::Admin, Role::ShelterCoordinator]
        }
        Role::ExchangeCoordinator | Role::ExchangeOfficer => {
            &[Role::Admin, Role::ExchangeCoordinator]
        }
        Role::Auditor | Role::RecordsOfficer | Role::Admin | Role::Analyst => &[Role::Admin],
    }
}

/// Whether `approver`, holding `approver_roles`, may approve `role` for
/// `grantee`, asked by `requester`.
pub(crate) fn may_approve(
    role: Role,
    approver: &Person<'_>,
    approver_roles: &[Role],
    grantee: &Person<'_>,
    requester: &Person<'_>,
) -> Result<(), Refusal> {
    if approver.linked_to(grantee) {
        return Err(Refusal::ApproverIsGrantee);
    }
    if approver.linked_to(requester) {
        return Err(Refusal::ApproverIsRequester);
    }
    if !deciders(role).iter().any(|r| approver_roles.contains(r)) {
        return Err(Refusal::NotADecider);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_puppet_cannot_ask_for_its_maker() {
        let a = id(1);
        let b_chain = [a];
        let requester = Person {
            id: id(2),
            chain: &b_chain,
        };
        let grantee = Person { id: a, chain: &[] };
        assert_eq!(
            may_request(&requester, &grantee),
            Err(Refusal::RequesterMadeByGrantee)
        );
        // and down a longer chain: A made B, B made C, C asks for A
        let c_chain = [id(2), a];
        let c = Person {
            id: id(3),
            chain: &c_chain,
        };
        assert_eq!(
            may_request(&c, &grantee),
            Err(Refusal::RequesterMadeByGrantee)
        );
        assert_eq!(may_request(&grantee, &grantee), Err(Refusal::OwnAccount));
        // the maker may ask for the account it made
        assert_eq!(may_request(&grantee, &requester), Ok(()));
    }

    #[test]
    fn the_approver_is_independent_of_both_and_a_decider() {
        let a = Person {
            id: id(1),
            chain: &[],
        };
        let made_by_a = [id(1)];
        let b = Person {
            id: id(2),
            chain: &made_by_a,
        };
        let c = Person {
            id: id(3),
            chain: &[],
        };
        let made_by_b = [id(2), id(1)];
        let d = Person {
            id: id(4),
            chain: &made_by_b,
        };
        let admin = [Role::Admin];
        // A asks for B: C decides, B, A and D do not
        let role = Role::Auditor;
        assert_eq!(may_approve(role, &c, &admin, &b, &a), Ok(()));
        assert_eq!(
            may_approve(role, &b, &admin, &b, &a),
            Err(Refusal::ApproverIsGrantee)
        );
        assert_eq!(
            may_approve(role, &a, &admin, &b, &a),
            Err(Refusal::ApproverIsGrantee)
        );
        assert_eq!(
            may_approve(role, &d, &admin, &b, &a),
            Err(Refusal::ApproverIsGrantee)
        );
        // a coordinator of another programme does not decide
        assert_eq!(
            may_approve(role, &c, &[Role::ShelterCoordinator], &b, &a),
            Err(Refusal::NotADecider)
        );
        assert_eq!(
            may_approve(
                Role::ExchangeOfficer,
                &c,
                &[Role::ShelterCoordinator],
                &b,
                &a
            ),
            Err(Refusal::NotADecider)
        );
        assert_eq!(
            may_approve(
                Role::ExchangeOfficer,
                &c,
                &[Role::ExchangeCoordinator],
                &b,
                &a
            ),
            Ok(())
        );
    }

    #[test]
    fn every_role_that_reaches_personal_data_needs_a_second_person() {
        for role in Role::ALL {
            let expected = !matches!(role, Role::Admin | Role::Analyst);
            assert_eq!(role.needs_second_approval(), expected, "{role:?}");
        }
    }
}
