//! Operational data that would otherwise pile up (ended sessions, old login
//! failures, old webhook deliveries and outbox events) is removed here: in
//! the background, on every replica, each in a statement of its own. Never
//! in a request's transaction, and never under the audit chain's lock, so a
//! large backlog costs a sweep its time and no request any.
//!
//! The audit trail is not swept here: it is pruned behind a signed
//! checkpoint (`audit::prune`), by the owner of the schema.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::entities::{known_sign_in_addresses, login_failures, sessions};
use crate::AppState;

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub login_failures: u64,
    pub deliveries: u64,
    pub events: u64,
    pub idempotency_keys: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.sessions + self.login_failures + self.deliveries + self.events + self.idempotency_keys
    }
}

/// One sweep at `now`.
pub async fn sweep(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    config: &crate::config::Config,
) -> Result<Swept, DbErr> {
    let sessions = sessions::Entity::delete_many()
        .filter(
            Condition::any()
                .add(sessions::Column::ExpiresAt.lte(now))
                .add(sessions::Column::LastSeenAt.lte(now - config.session_idle)),
        )
        .exec(db)
        .await?
        .rows_affected;
    // a failure older than twice the lock window counts towards no lock
    let login_failures = login_failures::Entity::delete_many()
        .filter(login_failures::Column::At.lt(now - crate::accounts::store::FAILURES_KEPT))
        .exec(db)
        .await?
        .rows_affected
        // addresses an account signed in from, once no longer known
        + known_sign_in_addresses::Entity::delete_many()
            .filter(
                known_sign_in_addresses::Column::LastAt
                    .lt(now - crate::accounts::throttle::KNOWN_FOR),
            )
            .exec(db)
            .await?
            .rows_affected;
    // creates' idempotency keys, once past their 24 hours
    let idempotency_keys = crate::http::idempotency::prune(db, now).await?;
    let (deliveries, events) =
        crate::integration::delivery::prune(db, now, &config.webhooks).await?;
    Ok(Swept {
        sessions,
        login_failures,
        deliveries,
        events,
        idempotency_keys,
    })
}

/// Starts the sweeper (supervised: a panic restarts it). Its first sweep is
/// one interval after start.
pub fn spawn(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    let (_, handle) = crate::supervise::supervise(
        "housekeeping",
        std::time::Duration::from_secs(1),
        move || {
            let state = state.clone();
            async move {
                let mut tick = tokio::time::interval(state.config.housekeeping_interval);
                tick.tick().await; // the first tick is immediate
                loop {
                    tick.tick().await;
                    match sweep(&state.db, state.clock.now(), &state.config).await {
                        Ok(swept) if swept.total() > 0 => tracing::info!(
                            sessions = swept.sessions,
                            login_failures = swept.login_failures,
                            deliveries = swept.deliveries,
                            events = swept.events,
                            idempotency_keys = swept.idempotency_keys,
                            "housekeeping removed ended and old operational rows"
                        ),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "housekeeping failed; trying again later")
                        }
                    }
                }
            }
        },
    );
    handle
}
