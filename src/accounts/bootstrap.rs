//! The first administrator, made on an empty database, and accounts made
//! from the command line.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use zeroize::Zeroizing;

use super::{
    model::{DisplayName, Email, NewPassword, Role},
    password::Hasher,
    store,
};
use crate::{
    audit::{self, Context, Event},
    clock::Clock,
    crypto,
    db::begin_write,
};

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("password hashing failed")]
    Hash,
    #[error("{0}")]
    Invalid(String),
}

/// On an empty database, creates one admin with a random one-time password
/// and returns its e-mail and password (for the terminal, once). Replicas
/// that start together make only one.
pub async fn first_admin(
    db: &DatabaseConnection,
    keys: &crate::audit::AuditKeys,
    hasher: &Hasher,
    clock: &dyn Clock,
    email: &str,
) -> Result<Option<(String, Zeroizing<String>)>, BootstrapError> {
    if store::any_staff(db).await? {
        return Ok(None);
    }
    let email = Email::parse(email)
        .map_err(|r| BootstrapError::Invalid(format!("bootstrap e-mail {r}")))?;
    let password = crypto::one_time_password();
    let hash = hasher
        .hash(&password)
        .await
        .map_err(|_| BootstrapError::Hash)?;
    let txn = begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&crate::db::AdvisoryLock::Bootstrap.xact_sql())
            .await?;
    }
    if store::any_staff(&txn).await? {
        return Ok(None);
    }
    let now = clock.now();
    let created = store::insert_staff(
        &txn,
        store::NewStaff {
            email: email.as_str(),
            email_key: email.key(),
            display_name: "Administrator",
            password_hash: hash,
            must_change_password: true,
            roles: &[Role::Admin],
            issued_by: None,
        },
        now,
    )
    .await?;
    audit::record(
        &txn,
        now,
        &Context::new(keys.clone()),
        Event::new("staff.bootstrapped", 201).on("staff", created.id),
    )
    .await?;
    txn.commit().await?;
    Ok(Some((email.as_str().to_owned(), password)))
}

/// `casedesk staff create`: an account with a password chosen by the operator.
pub async fn create_from_cli(
    db: &DatabaseConnection,
    keys: &crate::audit::AuditKeys,
    hasher: &Hasher,
    clock: &dyn Clock,
    email: &str,
    display_name: &str,
    roles: &[Role],
    password: &str,
) -> Result<uuid::Uuid, BootstrapError> {
    let email = Email::parse(email).map_err(|r| BootstrapError::Invalid(format!("--email {r}")))?;
    let name = DisplayName::parse(display_name)
        .map_err(|r| BootstrapError::Invalid(format!("--name {r}")))?;
    let password = NewPassword::parse(password)
        .map_err(|r| BootstrapError::Invalid(format!("the password {r}")))?;
    if roles.is_empty() {
        return Err(BootstrapError::Invalid(
            "give at least one --role".to_owned(),
        ));
    }
    let hash = hasher
        .hash(password.expose())
        .await
        .map_err(|_| BootstrapError::Hash)?;
    let txn = begin_write(db).await?;
    if store::staff_by_email_key(&txn, &email.key())
        .await?
        .is_some()
    {
        return Err(BootstrapError::Invalid(
            "an account with this e-mail address already exists".to_owned(),
        ));
    }
    let now = clock.now();
    let created = store::insert_staff(
        &txn,
        store::NewStaff {
            email: email.as_str(),
            email_key: email.key(),
            display_name: name.as_str(),
            password_hash: hash,
            must_change_password: false,
            roles,
            issued_by: None,
        },
        now,
    )
    .await?;
    audit::record(
        &txn,
        now,
        &Context::new(keys.clone()),
        Event::new("staff.created_from_cli", 201)
            .on("staff", created.id)
            .fields(vec!["email", "displayName", "roles"]),
    )
    .await?;
    txn.commit().await?;
    Ok(created.id)
}

/// A new invitation for an existing account, made on the server's command
/// line (`casedesk staff invite`): for deployments without mail, the operator
/// hands the code to the staff member. Ends the account's earlier
/// invitations; the account's issuer does not change (the operator is no
/// account). Returns the code and when it expires.
pub async fn invite_from_cli(
    db: &DatabaseConnection,
    keys: &crate::audit::AuditKeys,
    clock: &dyn Clock,
    email: &str,
    ttl: chrono::TimeDelta,
) -> Result<super::invitations::Issued, BootstrapError> {
    let email = Email::parse(email).map_err(|r| BootstrapError::Invalid(format!("--email {r}")))?;
    let txn = begin_write(db).await?;
    let Some(account) = store::staff_by_email_key(&txn, &email.key()).await? else {
        return Err(BootstrapError::Invalid(
            "no account has this e-mail address".to_owned(),
        ));
    };
    let now = clock.now();
    let issued = super::invitations::issue(&txn, account.id, None, now, ttl).await?;
    audit::record(
        &txn,
        now,
        &Context::new(keys.clone()),
        Event::new("staff.invited_from_cli", 201).on("staff", account.id),
    )
    .await?;
    txn.commit().await?;
    Ok(issued)
}
