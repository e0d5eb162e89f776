//! Queries and writes for accounts, sessions and login throttling.

use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    sea_query::{Expr, Query},
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::model::{Role, Scope};
use crate::{
    audit::{self, Event},
    config::Config,
    crypto,
    entities::{
        api_client_keys, api_clients, known_sign_in_addresses, login_failures, role_grants,
        sessions, staff, staff_roles,
    },
    versioned::{self, Changes, WriteError},
};

/// Stored role names as roles, in order. A name the service never writes
/// is corrupt data: an error, never a role quietly dropped.
fn sorted_roles<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Role>, crate::text::Corrupt> {
    let mut roles = names
        .into_iter()
        .filter(|n| !n.is_empty())
        .map(|n| Role::stored(n, "staff_roles.role"))
        .collect::<Result<Vec<_>, _>>()?;
    roles.sort();
    Ok(roles)
}

pub(crate) async fn roles_of(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
) -> Result<Vec<Role>, DbErr> {
    let rows = staff_roles::Entity::find()
        .filter(staff_roles::Column::StaffId.eq(staff_id))
        .all(db)
        .await?;
    Ok(sorted_roles(rows.iter().map(|r| r.role.as_str()))?)
}

pub(crate) async fn roles_of_many(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<Role>>, DbErr> {
    let mut map: std::collections::HashMap<Uuid, Vec<Role>> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    let rows = staff_roles::Entity::find()
        .filter(staff_roles::Column::StaffId.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    for r in rows {
        let role = Role::stored(&r.role, "staff_roles.role")?;
        map.entry(r.staff_id).or_default().push(role);
    }
    for roles in map.values_mut() {
        roles.sort();
    }
    Ok(map)
}

pub(crate) async fn set_roles(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
    roles: &[Role],
) -> Result<(), DbErr> {
    staff_roles::Entity::delete_many()
        .filter(staff_roles::Column::StaffId.eq(staff_id))
        .exec(db)
        .await?;
    let rows: Vec<staff_roles::ActiveModel> = roles
        .iter()
        .map(|r| staff_roles::ActiveModel {
            staff_id: Set(staff_id),
            role: Set(r.as_str().to_owned()),
        })
        .collect();
    if !rows.is_empty() {
        staff_roles::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

pub(crate) async fn staff_by_id(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<staff::Model>, DbErr> {
    staff::Entity::find_by_id(id).one(db).await
}

pub(crate) async fn staff_by_email_key(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<staff::Model>, DbErr> {
    staff::Entity::find()
        .filter(staff::Column::EmailKey.eq(key))
        .one(db)
        .await
}

pub(crate) async fn any_staff(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(staff::Entity::find().limit(1).one(db).await?.is_some())
}

pub(crate) struct NewStaff<'a> {
    pub email: &'a str,
    pub email_key: String,
    pub display_name: &'a str,
    pub password_hash: String,
    pub must_change_password: bool,
    pub roles: &'a [Role],
    /// Who made it (and so knows its first password); `None` from the command line.
    pub issued_by: Option<Uuid>,
}

pub(crate) async fn insert_staff(
    db: &impl ConnectionTrait,
    new: NewStaff<'_>,
    now: DateTime<Utc>,
) -> Result<staff::Model, DbErr> {
    let id = Uuid::now_v7();
    let model = staff::ActiveModel {
        id: Set(id),
        email: Set(new.email.to_owned()),
        email_key: Set(new.email_key),
        display_name: Set(new.display_name.to_owned()),
        password_hash: Set(new.password_hash),
        must_change_password: Set(new.must_change_password),
        active: Set(true),
        totp_secret: Set(None),
        totp_enabled: Set(false),
        totp_last_step: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        issued_by: Set(new.issued_by),
    };
    staff::Entity::insert(model)
        .exec_without_returning(db)
        .await?;
    set_roles(db, id, new.roles).await?;
    staff_by_id(db, id).await?.ok_or(DbErr::RecordNotInserted)
}

/// Staff ids with filters, in creation order after `after`.
pub(crate) async fn list_staff(
    db: &impl ConnectionTrait,
    role: Option<Role>,
    active: Option<bool>,
    after: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<staff::Model>, DbErr> {
    let mut q = staff::Entity::find();
    if let Some(role) = role {
        q = q.filter(
            staff::Column::Id.in_subquery(
                Query::select()
                    .column(staff_roles::Column::StaffId)
                    .from(staff_roles::Entity)
                    .and_where(staff_roles::Column::Role.eq(role.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some(active) = active {
        q = q.filter(staff::Column::Active.eq(active));
    }
    if let Some(after) = after {
        q = q.filter(staff::Column::Id.gt(after));
    }
    q.order_by_asc(staff::Column::Id).limit(fetch).all(db).await
}

/// How many active accounts hold the admin role.
pub(crate) async fn active_admins(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    staff::Entity::find()
        .filter(staff::Column::Active.eq(true))
        .filter(
            staff::Column::Id.in_subquery(
                Query::select()
                    .column(staff_roles::Column::StaffId)
                    .from(staff_roles::Entity)
                    .and_where(staff_roles::Column::Role.eq(Role::Admin.as_str()))
                    .to_owned(),
            ),
        )
        .count(db)
        .await
}

/// Changes an account at version `expected` and records `event` with the
/// changed fields (the one versioned, audited write); `None` when nothing
/// changes.
#[tracing::instrument(skip_all)]
pub(crate) async fn update_staff(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    id: Uuid,
    expected: i32,
    changes: Changes<staff::Entity>,
    event: Event<'_>,
) -> Result<Option<staff::Model>, WriteError> {
    versioned::update(
        txn,
        audit,
        now,
        id,
        expected,
        changes,
        event.on("staff", id),
    )
    .await
}

// ---- API clients ----

/// API keys start with this, so the guard knows which table to look in.
pub(crate) const API_KEY_PREFIX: &str = "cdk_";

/// Makes a new key for a client: the key (shown once) and its stored row.
pub(crate) async fn create_client_key(
    db: &impl ConnectionTrait,
    client_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(Zeroizing<String>, api_client_keys::Model), DbErr> {
    let (key, hash) = crypto::new_token(API_KEY_PREFIX.trim_end_matches('_'));
    let row = api_client_keys::Model {
        id: Uuid::now_v7(),
        client_id,
        key_hash: hash,
        prefix: key.chars().take(10).collect(),
        created_at: now,
        expires_at: None,
    };
    api_client_keys::Entity::insert(api_client_keys::ActiveModel::from(row.clone()))
        .exec_without_returning(db)
        .await?;
    Ok((key, row))
}

/// The live client of an API key and its scopes: the key neither replaced
/// past its overlap nor the client revoked or expired.
pub(crate) async fn client_by_key(
    db: &impl ConnectionTrait,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Uuid, Vec<Scope>)>, DbErr> {
    if key.len() > 200 {
        return Ok(None);
    }
    let hash = crypto::sha256_hex(key.as_bytes());
    let Some(row) = api_client_keys::Entity::find()
        .filter(api_client_keys::Column::KeyHash.eq(hash))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if row.expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    let Some(client) = api_clients::Entity::find_by_id(row.client_id)
        .one(db)
        .await?
        .filter(|c| c.revoked_at.is_none() && c.expires_at > now)
    else {
        return Ok(None);
    };
    Ok(Some((client.id, Scope::split(&client.scopes))))
}

// ---- sessions ----

/// Creates a session and returns its token (shown once) and absolute expiry.
/// The account's oldest sessions end when it would have more than
/// `CASEDESK_SESSIONS_PER_ACCOUNT`; its sessions that ended are removed
/// (those of other accounts are left to housekeeping).
pub(crate) async fn create_session(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
    now: DateTime<Utc>,
    config: &Config,
) -> Result<(Zeroizing<String>, DateTime<Utc>), DbErr> {
    let (token, hash) = crypto::new_token("cds");
    let expires_at = now + config.session_absolute;
    // the account's sessions that ended are removed, and it keeps at most
    // its newest `sessions_per_account - 1` before this one
    sessions::Entity::delete_many()
        .filter(sessions::Column::StaffId.eq(staff_id))
        .filter(
            Condition::any()
                .add(sessions::Column::ExpiresAt.lte(now))
                .add(sessions::Column::LastSeenAt.lte(now - config.session_idle)),
        )
        .exec(db)
        .await?;
    let keep = config.sessions_per_account.saturating_sub(1);
    // an account's live sessions are few (at most the limit): read and skip
    let live: Vec<Uuid> = sessions::Entity::find()
        .select_only()
        .column(sessions::Column::Id)
        .filter(sessions::Column::StaffId.eq(staff_id))
        .order_by_desc(sessions::Column::CreatedAt)
        .order_by_desc(sessions::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let older: Vec<Uuid> = live.into_iter().skip(keep).collect();
    if !older.is_empty() {
        sessions::Entity::delete_many()
            .filter(sessions::Column::Id.is_in(older))
            .exec(db)
            .await?;
    }
    sessions::Entity::insert(sessions::ActiveModel {
        id: Set(Uuid::now_v7()),
        token_hash: Set(hash),
        staff_id: Set(staff_id),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(expires_at),
    })
    .exec_without_returning(db)
    .await?;
    Ok((token, expires_at))
}

/// The SQL of the session lookup (one bound value, the token's hash), built
/// once per backend rather than on every request.
fn session_lookup_sql(backend: sea_orm::DbBackend) -> &'static str {
    static POSTGRES: OnceLock<String> = OnceLock::new();
    static SQLITE: OnceLock<String> = OnceLock::new();
    let (cell, aggregate) = match backend {
        sea_orm::DbBackend::Postgres => (&POSTGRES, "string_agg"),
        _ => (&SQLITE, "group_concat"),
    };
    cell.get_or_init(|| {
        sessions::Entity::find()
            .filter(sessions::Column::TokenHash.eq(String::new()))
            .find_also_related(staff::Entity)
            .expr_as(
                Expr::cust(format!(
                    r#"(SELECT {aggregate}(r.role, ',') FROM staff_roles AS r WHERE r.staff_id = "sessions"."staff_id")"#
                )),
                "roles",
            )
            .build(backend)
            .sql
    })
}

/// The live session of a token, with its active account and roles.
pub(crate) async fn session_by_token(
    db: &impl ConnectionTrait,
    token: &str,
    now: DateTime<Utc>,
    config: &Config,
) -> Result<Option<(sessions::Model, staff::Model, Vec<Role>)>, DbErr> {
    if token.len() > 200 {
        return Ok(None);
    }
    let hash = crypto::sha256_hex(token.as_bytes());
    // the session, its account and the account's roles in one query: this runs
    // on every request, so it is one round trip to the database, not three
    let backend = db.get_database_backend();
    let stmt = sea_orm::Statement::from_sql_and_values(
        backend,
        session_lookup_sql(backend),
        [hash.into()],
    );
    let Some(row) = db.query_one_raw(stmt).await? else {
        return Ok(None);
    };
    // SeaORM's joined select names the session's columns `A_…` and the
    // account's `B_…` (all NULL if it is gone), then the roles
    if row.try_get::<Option<Uuid>>("B_", "id")?.is_none() {
        return Ok(None);
    }
    let session = sessions::Model::from_query_result(&row, "A_")?;
    let account = staff::Model::from_query_result(&row, "B_")?;
    if session.expires_at <= now
        || session.last_seen_at + config.session_idle <= now
        || !account.active
    {
        return Ok(None);
    }
    let roles: Option<String> = row.try_get("", "roles")?;
    let roles = sorted_roles(roles.as_deref().unwrap_or_default().split(','))?;
    Ok(Some((session, account, roles)))
}

pub(crate) async fn touch_session(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::LastSeenAt, Expr::value(now))
        .filter(sessions::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub(crate) async fn delete_session(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    sessions::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Ends every session of an account, except `keep`.
pub(crate) async fn delete_sessions_of(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
    keep: Option<Uuid>,
) -> Result<(), DbErr> {
    let mut cond = Condition::all().add(sessions::Column::StaffId.eq(staff_id));
    if let Some(keep) = keep {
        cond = cond.add(sessions::Column::Id.ne(keep));
    }
    sessions::Entity::delete_many()
        .filter(cond)
        .exec(db)
        .await?;
    Ok(())
}

// ---- login throttling ----

/// The window in which failures count, and how long a lock lasts.
pub(crate) const LOCK_WINDOW: TimeDelta = TimeDelta::minutes(15);

/// Records a failure (or a reserved attempt) of `subject`; returns its id.
pub(crate) async fn record_failure(
    db: &impl ConnectionTrait,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    login_failures::Entity::insert(login_failures::ActiveModel {
        id: Set(id),
        subject: Set(subject.to_owned()),
        at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(id)
}

pub(crate) async fn clear_failures(db: &impl ConnectionTrait, subject: &str) -> Result<(), DbErr> {
    login_failures::Entity::delete_many()
        .filter(login_failures::Column::Subject.eq(subject))
        .exec(db)
        .await?;
    Ok(())
}

/// When `threshold` failures of `subject` fell within one window, the subject
/// is locked for a window after the last of them (attempts while locked are
/// not counted). Returns the time the lock ends, if locked now.
pub(crate) async fn locked_until(
    db: &impl ConnectionTrait,
    subject: &str,
    threshold: u64,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let recent = login_failures::Entity::find()
        .filter(login_failures::Column::Subject.eq(subject))
        .filter(login_failures::Column::At.gt(now - FAILURES_KEPT))
        .order_by_desc(login_failures::Column::At)
        .limit(threshold)
        .all(db)
        .await?;
    if (recent.len() as u64) < threshold {
        return Ok(None);
    }
    let (Some(last), Some(first)) = (recent.first(), recent.last()) else {
        return Ok(None);
    };
    let until = last.at + LOCK_WINDOW;
    Ok((last.at - first.at <= LOCK_WINDOW && now < until).then_some(until))
}

/// Whether the account-and-address `subject` signed in successfully since `since`.
pub(crate) async fn is_known_address(
    db: &impl ConnectionTrait,
    subject: &str,
    since: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(
        known_sign_in_addresses::Entity::find_by_id(subject.to_owned())
            .one(db)
            .await?
            .is_some_and(|k| k.last_at > since),
    )
}

/// Records a successful sign-in from the account-and-address `subject`.
pub(crate) async fn remember_address(
    db: &impl ConnectionTrait,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    known_sign_in_addresses::Entity::insert(known_sign_in_addresses::ActiveModel {
        subject: Set(subject.to_owned()),
        last_at: Set(now),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(known_sign_in_addresses::Column::Subject)
            .update_column(known_sign_in_addresses::Column::LastAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// How long a failure can still count towards a lock: housekeeping removes
/// older ones.
pub(crate) const FAILURES_KEPT: TimeDelta = TimeDelta::minutes(30);

// ---- role grants (four eyes on the shelter roles) ----

/// Records a role waiting for a second person's approval (once per account
/// and role: a pending grant is not repeated).
pub(crate) async fn request_grant(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
    role: Role,
    requested_by: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let pending = role_grants::Entity::find()
        .filter(role_grants::Column::StaffId.eq(staff_id))
        .filter(role_grants::Column::Role.eq(role.as_str()))
        .filter(role_grants::Column::Status.eq(super::model::GrantStatus::Pending.as_str()))
        .one(db)
        .await?;
    if pending.is_some() {
        return Ok(());
    }
    role_grants::Entity::insert(role_grants::ActiveModel {
        id: Set(Uuid::now_v7()),
        staff_id: Set(staff_id),
        role: Set(role.as_str().to_owned()),
        requested_by: Set(requested_by),
        requested_at: Set(now),
        status: Set(super::model::GrantStatus::Pending.as_str().to_owned()),
        decided_by: Set(None),
        decided_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The roles waiting for approval, per account.
pub(crate) async fn pending_roles_of_many(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<Role>>, DbErr> {
    let mut map: std::collections::HashMap<Uuid, Vec<Role>> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    for g in role_grants::Entity::find()
        .filter(role_grants::Column::StaffId.is_in(ids.iter().copied()))
        .filter(role_grants::Column::Status.eq(super::model::GrantStatus::Pending.as_str()))
        .all(db)
        .await?
    {
        let role = Role::stored(&g.role, "role_grants.role")?;
        map.entry(g.staff_id).or_default().push(role);
    }
    for roles in map.values_mut() {
        roles.sort();
    }
    Ok(map)
}

pub(crate) async fn pending_roles_of(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Vec<Role>, DbErr> {
    Ok(pending_roles_of_many(db, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default())
}

/// Withdraws the pending grants of roles an account no longer asks for.
pub(crate) async fn withdraw_pending(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
    keep: &[Role],
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut q = role_grants::Entity::update_many()
        .col_expr(
            role_grants::Column::Status,
            Expr::value(super::model::GrantStatus::Rejected.as_str()),
        )
        .col_expr(role_grants::Column::DecidedBy, Expr::value(Some(by)))
        .col_expr(role_grants::Column::DecidedAt, Expr::value(Some(now)))
        .filter(role_grants::Column::StaffId.eq(staff_id))
        .filter(role_grants::Column::Status.eq(super::model::GrantStatus::Pending.as_str()));
    if !keep.is_empty() {
        q = q.filter(role_grants::Column::Role.is_not_in(keep.iter().map(|r| r.as_str())));
    }
    q.exec(db).await?;
    Ok(())
}

pub(crate) async fn grant(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<role_grants::Model>, DbErr> {
    role_grants::Entity::find_by_id(id).one(db).await
}

/// Grants by status, newest first, after `after`.
pub(crate) async fn list_grants(
    db: &impl ConnectionTrait,
    status: Option<super::model::GrantStatus>,
    roles: &[Role],
    after: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<role_grants::Model>, DbErr> {
    let mut q = role_grants::Entity::find()
        .filter(role_grants::Column::Role.is_in(roles.iter().map(|r| r.as_str())));
    if let Some(s) = status {
        q = q.filter(role_grants::Column::Status.eq(s.as_str()));
    }
    if let Some(after) = after {
        q = q.filter(role_grants::Column::Id.lt(after));
    }
    q.order_by_desc(role_grants::Column::Id)
        .limit(fetch)
        .all(db)
        .await
}

/// Decides a pending grant; false if it was no longer pending.
pub(crate) async fn decide_grant(
    db: &impl ConnectionTrait,
    id: Uuid,
    status: super::model::GrantStatus,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = role_grants::Entity::update_many()
        .col_expr(role_grants::Column::Status, Expr::value(status.as_str()))
        .col_expr(role_grants::Column::DecidedBy, Expr::value(Some(by)))
        .col_expr(role_grants::Column::DecidedAt, Expr::value(Some(now)))
        .filter(role_grants::Column::Id.eq(id))
        .filter(role_grants::Column::Status.eq(super::model::GrantStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Adds one role to an account (if it does not hold it yet).
pub(crate) async fn add_role(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
    role: Role,
) -> Result<(), DbErr> {
    if roles_of(db, staff_id).await?.contains(&role) {
        return Ok(());
    }
    staff_roles::Entity::insert(staff_roles::ActiveModel {
        staff_id: Set(staff_id),
        role: Set(role.as_str().to_owned()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Who issued an account's credentials, and who issued theirs, and so on:
/// every account whose holder knew, or could have set, this account's
/// password. (A cycle or a chain longer than 64 ends the walk.)
pub(crate) async fn issuers_of(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
) -> Result<Vec<Uuid>, DbErr> {
    let mut chain = Vec::new();
    let mut next = staff_by_id(db, staff_id).await?.and_then(|s| s.issued_by);
    while let Some(id) = next {
        if chain.contains(&id) || chain.len() >= 64 {
            break;
        }
        chain.push(id);
        next = staff_by_id(db, id).await?.and_then(|s| s.issued_by);
    }
    Ok(chain)
}

/// Records who now holds an account's credentials (a password reset).
pub(crate) async fn set_issued_by(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
    by: Uuid,
) -> Result<(), DbErr> {
    staff::Entity::update_many()
        .col_expr(staff::Column::IssuedBy, Expr::value(Some(by)))
        .filter(staff::Column::Id.eq(staff_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks a TOTP time step as used, only if it is later than the last one
/// used: a code is accepted once, even by two racing logins. `false` when
/// the step was used already.
#[tracing::instrument(skip_all)]
pub(crate) async fn claim_totp_step(
    db: &impl ConnectionTrait,
    id: Uuid,
    step: i64,
) -> Result<bool, DbErr> {
    let result = staff::Entity::update_many()
        .col_expr(staff::Column::TotpLastStep, Expr::value(step))
        .filter(staff::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(staff::Column::TotpLastStep.is_null())
                .add(staff::Column::TotpLastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
