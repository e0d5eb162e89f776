//! The database: connecting (SQLite or PostgreSQL, chosen by the URL),
//! migrating, write transactions, and what a database error means to a caller.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// The PostgreSQL advisory locks of the service, one id each, so that no
/// two purposes share an id by accident (the audit chain and the outbox
/// share one on purpose: it orders both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum AdvisoryLock {
    /// Replicas that start together migrate one after the other.
    Migrations = 7_261_001,
    /// Orders audit appends, checkpoints and outbox events.
    WriteOrder = 7_261_002,
    /// The first administrator is made once.
    Bootstrap = 7_261_003,
    /// The keyring is created or rotated once.
    Keyring = 7_261_004,
    /// Sign-in reservations of the throttle.
    SignInReservation = 7_261_005,
    /// The retention index is derived by one writer at a time.
    Records = 7_261_006,
}

impl AdvisoryLock {
    /// The statement that takes the lock until the transaction ends.
    pub fn xact_sql(self) -> String {
        format!("SELECT pg_advisory_xact_lock({})", self as i64)
    }
}

/// PostgreSQL's planner setting for the cost of reading a page out of order.
const RANDOM_PAGE_COST: &str = "random_page_cost";
/// The value every service session plans with (sent in the startup packet, no
/// round trip), unless the database URL's `options` sets one. PostgreSQL's
/// default of 4 prices a random read as a spinning disk's; with the working
/// set in memory or on SSD its documentation suggests values near 1. At 4 the
/// filtered placement list walked the primary key past ~1,000 rows instead of
/// reading its 51 from the cohort index: 3x the database time per page.
pub const PLANNER_RANDOM_PAGE_COST: &str = "1.1";

/// The error of a write refused on a replica that started before the master
/// key was rotated (the keyring fence): nothing sealed is written with a
/// retired key.
pub const ROTATED: &str = "the master key was rotated since this process started";

/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot create the folder for the SQLite database: {0}")]
    Folder(std::io::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(DbErr),
    #[error("cannot apply the migrations: {0}")]
    Migrate(DbErr),
}

/// The file path of a `sqlite:` URL, when it names a file.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path.starts_with(":memory:") {
        None
    } else {
        Some(std::path::PathBuf::from(path))
    }
}

/// The SQLite database's folder and file, made private to the service's
/// user before SQLite opens them: folders it creates 0700, the database
/// file 0600 (SQLite gives its -wal and -shm files the database file's
/// mode). Folders that already exist keep their mode (the file may be
/// configured into a shared folder such as /tmp).
fn private_files(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut folders = std::fs::DirBuilder::new();
        folders.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            folders.mode(0o700);
        }
        folders.create(parent)?;
    }
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        file.mode(0o600);
    }
    file.open(path)?;
    Ok(())
}

/// Connects with the settings every deployment needs.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbSetupError> {
    if let Some(path) = sqlite_path(url) {
        private_files(&path).map_err(DbSetupError::Folder)?;
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    let planner_cost_in_url = url.contains(RANDOM_PAGE_COST);
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        // A ping before every checkout was a round trip per query (a third of
        // the database traffic of a list request). Connections in steady use
        // go out as they are; one idle for a while is pinged first, and one
        // broken by a database restart fails its query as a 503 and is replaced.
        .test_before_acquire_if_idle_for(Duration::from_secs(10))
        // SQL statements carry bound values that may be personal data: never log them.
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |o| {
            if planner_cost_in_url {
                // the operator chose one in the URL's `options`
                o
            } else {
                o.options([(RANDOM_PAGE_COST, PLANNER_RANDOM_PAGE_COST)])
            }
        })
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                .create_if_missing(true)
                // deleted and overwritten content is zeroed, not left in free space
                .pragma("secure_delete", "ON")
        });
    sea_orm::Database::connect(opts)
        .await
        .map_err(DbSetupError::Connect)
}

/// Applies every pending migration. On PostgreSQL an advisory lock makes
/// replicas that start together take turns.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbSetupError> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let txn = db.begin().await.map_err(DbSetupError::Migrate)?;
            txn.execute_unprepared(&AdvisoryLock::Migrations.xact_sql())
                .await
                .map_err(DbSetupError::Migrate)?;
            Migrator::up(&txn, None)
                .await
                .map_err(DbSetupError::Migrate)?;
            txn.commit().await.map_err(DbSetupError::Migrate)
        }
        _ => Migrator::up(db, None).await.map_err(DbSetupError::Migrate),
    }
}

/// PostgreSQL: gives the service's role what it needs and nothing more:
/// reading and writing the case tables, only reading and appending the audit
/// tables, only reading the migration bookkeeping. No TRUNCATE, no TRIGGER,
/// no schema changes, and (not being the owner) no way to disable the audit
/// tables' triggers; as a non-superuser it cannot set
/// `session_replication_role` either. Run by `casedesk migrate` as the
/// owner, after every migration, so new tables get their grants.
pub async fn grant_service_role(db: &DatabaseConnection, role: &str) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    // `role` is checked to be a plain identifier by the configuration; quoted all the same
    let role = format!("\"{}\"", role.replace('"', ""));
    for statement in [
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
        // the service only appends to the trail; pruning its oldest end is the
        // owner's (`casedesk audit prune`), behind a signed prune point
        format!("REVOKE UPDATE, DELETE ON audit_events, audit_checkpoints FROM {role}"),
        // destruction reports are kept for good, as written
        format!("REVOKE UPDATE, DELETE ON destruction_reports FROM {role}"),
        format!("REVOKE INSERT, UPDATE, DELETE ON audit_prunes FROM {role}"),
        format!("REVOKE INSERT, UPDATE, DELETE ON seaql_migrations FROM {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
    ] {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}

/// Whether the database answers and every migration is applied.
pub async fn readiness(db: &DatabaseConnection) -> Result<(), &'static str> {
    db.execute_unprepared("SELECT 1")
        .await
        .map_err(|_| "The database does not answer.")?;
    let pending = Migrator::get_pending_migrations_read_only(db)
        .await
        .map_err(|_| "The migration state cannot be read.")?;
    if pending.is_empty() {
        Ok(())
    } else {
        Err("Database migrations are pending; run `casedesk migrate`.")
    }
}

/// Begins a transaction that will write: `BEGIN IMMEDIATE` on SQLite, so two
/// writers queue on the lock instead of failing when they upgrade.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// After an erasure, outside its transaction: SQLite checkpoints and
/// truncates its write-ahead log at once (bounded by the log's size, a few
/// milliseconds); PostgreSQL's VACUUM of the erased tables, which grows with
/// the tables, runs on a task of its own so that the request does not wait
/// for it. A failure is logged; the next erasure's purge covers it.
pub async fn purge_after_erasure(db: &DatabaseConnection, tables: &'static [&'static str]) {
    if db.get_database_backend() == DbBackend::Postgres {
        let db = db.clone();
        tokio::spawn(async move {
            if let Err(e) = purge_old_row_versions(&db, tables).await {
                tracing::warn!(error = %e, "could not vacuum the erased tables");
            }
        });
    } else if let Err(e) = purge_old_row_versions(db, tables).await {
        tracing::warn!(error = %e, "could not purge old row versions after an erasure");
    }
}

/// After an erasure: makes sure no old version of the erased rows stays
/// readable on disk. SQLite (with `secure_delete`) checkpoints and truncates
/// its write-ahead log; PostgreSQL vacuums the tables the erasure touched.
pub async fn purge_old_row_versions(db: &DatabaseConnection, tables: &[&str]) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await?;
        }
        DbBackend::Postgres => {
            db.execute_unprepared(&format!("VACUUM {}", tables.join(", ")))
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// The next number of counter `scope` (1, 2, ...; a stay's or a
/// placement's reference of a year), taken in the caller's transaction: a
/// concurrent taker waits for it, and a rolled-back transaction gives its
/// number back.
pub(crate) async fn next_in_sequence(db: &impl ConnectionTrait, scope: &str) -> Result<i64, DbErr> {
    use crate::entities::reference_counters::{Column, Entity};
    use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
    let mut insert = Query::insert();
    insert
        .into_table(Entity)
        .columns([Column::Scope, Column::Last])
        .values([scope.into(), 1.into()])
        .map_err(|e| DbErr::Custom(format!("a counter's insert: {e}")))?
        .on_conflict(
            OnConflict::column(Column::Scope)
                .value(Column::Last, Expr::col((Entity, Column::Last)).add(1))
                .to_owned(),
        )
        .returning_col(Column::Last);
    let row = db
        .query_one(&insert)
        .await?
        .ok_or(DbErr::RecordNotInserted)?;
    row.try_get("", "last")
}

/// A page of the ids of table `E` after `after`, in order, at most `limit`:
/// how a whole table is walked in batches (building the archive index).
pub async fn ids_after<E>(
    db: &impl ConnectionTrait,
    id: E::Column,
    after: Option<uuid::Uuid>,
    limit: u64,
) -> Result<Vec<uuid::Uuid>, DbErr>
where
    E: sea_orm::EntityTrait,
{
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut q = E::find().select_only().column(id);
    if let Some(a) = after {
        q = q.filter(id.gt(a));
    }
    q.order_by_asc(id).limit(limit).into_tuple().all(db).await
}

/// The newest-first page query of resources keyed by UUIDv7 ids (which sort
/// by creation time): rows older than the cursor, newest first.
pub(crate) fn newest_first<E: sea_orm::EntityTrait>(
    q: sea_orm::Select<E>,
    id_col: E::Column,
    after: Option<uuid::Uuid>,
    fetch: u64,
) -> sea_orm::Select<E> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let q = match after {
        Some(a) => q.filter(id_col.lt(a)),
        None => q,
    };
    q.order_by_desc(id_col).limit(fetch)
}

/// Whether a write was refused by a unique constraint (on either backend).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Whether an error means the database cannot be reached right now (down,
/// restarting, the connection cut), rather than that a statement failed.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::{sqlx, RuntimeErr};
    let sqlx_err = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx_err.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        // PostgreSQL: connection exceptions (08), operator intervention
        // (57P: shutdown, restart), and a transaction the database rolled
        // back because it collided with another (40001 serialization
        // failure, 40P01 deadlock): nothing was written, and the same request
        // again succeeds. SQLite: the write lock stayed busy past the timeout (5).
        sqlx::Error::Database(e) => e.code().is_some_and(|c| {
            c.starts_with("08") || c.starts_with("57P") || c == "40001" || c == "40P01" || c == "5"
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://data/casedesk.db?mode=rwc"),
            Some("data/casedesk.db".into())
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://localhost/x"), None);
    }
}
