//! Pruning the trail from its oldest end, behind a signed checkpoint: the
//! events up to the newest checkpoint older than the retention
//! (`CASEDESK_AUDIT_KEEP_YEARS`) are deleted, and a signed prune point says
//! where the trail now begins. Verification, online and offline, starts
//! from that point: the first event kept must follow it and link to its
//! hash, so a cut from the front beyond it is still found, and so is a cut
//! from the end (the checkpoints after it).

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    sea_query::Query, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{chain::PrunePoint, AuditKeys};
use crate::{
    db::begin_write,
    entities::{audit_checkpoints, audit_events, audit_prunes},
};

/// The events whose `resource_id` is a destruction report's SHA-256.
pub const REPORT_ANCHORS: [&str; 2] = ["destruction_report.created", "destruction_report.anchored"];

/// The point the trail was last pruned to, if it ever was.
pub async fn latest(db: &impl ConnectionTrait) -> Result<Option<PrunePoint>, DbErr> {
    Ok(audit_prunes::Entity::find()
        .order_by_desc(audit_prunes::Column::Seq)
        .one(db)
        .await?
        .map(PrunePoint::from))
}

/// Prunes the events up to the newest checkpoint whose event is older than
/// `keep`. Returns the new prune point and how many events went, or `None`
/// when nothing is old enough.
pub async fn prune(
    db: &DatabaseConnection,
    keys: &AuditKeys,
    now: DateTime<Utc>,
    keep: TimeDelta,
) -> Result<Option<(PrunePoint, u64)>, DbErr> {
    let txn = begin_write(db).await?;
    super::lock_chain(&txn).await?;
    let from = latest(&txn).await?.map_or(0, |p| p.seq);
    // the newest checkpointed event older than the retention
    let cut = audit_events::Entity::find()
        .filter(audit_events::Column::OccurredAt.lt(now - keep))
        .filter(audit_events::Column::Seq.gt(from))
        .filter(
            audit_events::Column::Seq.in_subquery(
                Query::select()
                    .column(audit_checkpoints::Column::Seq)
                    .from(audit_checkpoints::Entity)
                    .to_owned(),
            ),
        )
        .order_by_desc(audit_events::Column::Seq)
        .one(&txn)
        .await?;
    let Some(cut) = cut else {
        txn.rollback().await?;
        return Ok(None);
    };
    let point = PrunePoint::sign(keys, cut.seq, &cut.hash, now);
    // a destruction report is kept for good, and so is its anchor: the
    // events holding report hashes that are about to go are written again
    // at the head of the chain, so each report stays verifiable
    let anchors: Vec<Option<String>> = audit_events::Entity::find()
        .select_only()
        .column(audit_events::Column::ResourceId)
        .filter(audit_events::Column::Seq.gt(from))
        .filter(audit_events::Column::Seq.lte(point.seq))
        .filter(audit_events::Column::Action.is_in(REPORT_ANCHORS))
        .order_by_asc(audit_events::Column::Seq)
        .into_tuple()
        .all(&txn)
        .await?;
    let ctx = super::Context::new(keys.clone());
    for sha in anchors.into_iter().flatten() {
        super::record(
            &txn,
            now,
            &ctx,
            super::Event::new("destruction_report.anchored", 200).on("destruction_report", &sha),
        )
        .await?;
    }
    audit_prunes::Entity::insert(audit_prunes::ActiveModel {
        seq: Set(point.seq),
        hash: Set(point.hash.clone()),
        pruned_at: Set(point.pruned_at),
        public_key: Set(point.public_key.clone()),
        signature: Set(point.signature.clone()),
    })
    .exec_without_returning(&txn)
    .await?;
    let gone = audit_events::Entity::delete_many()
        .filter(audit_events::Column::Seq.lte(point.seq))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    tracing::info!(
        prune_seq = point.seq,
        prune_hash = %point.hash,
        prune_signature = %point.signature,
        events = gone,
        "audit trail pruned behind a signed checkpoint"
    );
    Ok(Some((point, gone)))
}
