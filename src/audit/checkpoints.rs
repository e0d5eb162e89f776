//! Signed checkpoints of the chain's head: made every
//! `CASEDESK_AUDIT_CHECKPOINT_SECONDS` when the head moved, and on an
//! auditor's request; stored append-only, and published in the service's log,
//! so copies exist outside the database.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryOrder,
};

use super::{chain::Checkpoint, AuditKeys};
use crate::{db::begin_write, entities::audit_checkpoints};

/// Every checkpoint, oldest first.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<Checkpoint>, DbErr> {
    Ok(audit_checkpoints::Entity::find()
        .order_by_asc(audit_checkpoints::Column::Seq)
        .all(db)
        .await?
        .into_iter()
        .map(Checkpoint::from)
        .collect())
}

/// The latest checkpoint, if any.
pub async fn latest(db: &impl ConnectionTrait) -> Result<Option<Checkpoint>, DbErr> {
    Ok(audit_checkpoints::Entity::find()
        .order_by_desc(audit_checkpoints::Column::Seq)
        .one(db)
        .await?
        .map(Checkpoint::from))
}

/// Signs the current head, unless the latest checkpoint already names it
/// (then that one is returned). `None` when the chain is empty.
pub async fn make(
    db: &DatabaseConnection,
    keys: &AuditKeys,
    now: DateTime<Utc>,
) -> Result<Option<(Checkpoint, bool)>, DbErr> {
    let txn = begin_write(db).await?;
    super::lock_chain(&txn).await?;
    let Some((seq, hash)) = super::last_event(&txn).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    if let Some(existing) = latest(&txn).await?.filter(|c| c.seq == seq) {
        txn.rollback().await?;
        return Ok(Some((existing, false)));
    }
    let checkpoint = Checkpoint::sign(keys, seq, &hash, now);
    audit_checkpoints::Entity::insert(audit_checkpoints::ActiveModel {
        seq: Set(checkpoint.seq),
        hash: Set(checkpoint.hash.clone()),
        created_at: Set(checkpoint.created_at),
        public_key: Set(checkpoint.public_key.clone()),
        signature: Set(checkpoint.signature.clone()),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    publish(&checkpoint);
    Ok(Some((checkpoint, true)))
}

/// Writes the checkpoint to the log: a copy outside the database, holding
/// ids and hashes only.
fn publish(c: &Checkpoint) {
    tracing::info!(
        checkpoint_seq = c.seq,
        checkpoint_hash = %c.hash,
        checkpoint_created_at = %c.created_at.to_rfc3339(),
        checkpoint_public_key = %c.public_key,
        checkpoint_signature = %c.signature,
        "audit checkpoint"
    );
}

/// Makes a checkpoint every `every` (when the head moved), until aborted
/// (supervised: a panic restarts it).
pub fn spawn(
    db: DatabaseConnection,
    keys: AuditKeys,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    every: std::time::Duration,
    keep: Option<chrono::TimeDelta>,
) -> tokio::task::JoinHandle<()> {
    let (_, handle) = crate::supervise::supervise(
        "audit checkpoints",
        std::time::Duration::from_secs(1),
        move || {
            let (db, keys, clock) = (db.clone(), keys.clone(), clock.clone());
            async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await; // the first tick is immediate
                loop {
                    tick.tick().await;
                    if let Err(e) = make(&db, &keys, clock.now()).await {
                        tracing::warn!(error = %e, "making an audit checkpoint failed; trying again later");
                    }
                    // events older than the retention go, behind a checkpoint
                    if let Some(keep) = keep {
                        if let Err(e) = super::prune::prune(&db, &keys, clock.now(), keep).await {
                            tracing::warn!(error = %e, "pruning the audit trail failed; trying again later");
                        }
                    }
                }
            }
        },
    );
    handle
}
