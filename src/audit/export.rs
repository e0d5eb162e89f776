//! An exported segment of the audit chain, verified offline: without the
//! database, against checkpoints an auditor kept outside the system.
//!
//! The segment carries the chain key wrapped by the master key (useless
//! without it). With the master key the offline check recomputes every
//! hash; without it, it still checks every link, the sequence, and that the
//! segment agrees with every checkpoint (each signed by the pinned public key).

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::chain::{Broken, ChainKey, Checkpoint, Fault, PrunePoint, Walk, GENESIS_HASH};
use crate::entities::audit_events;

pub const FORMAT: &str = "casedesk-audit-segment/1";

/// One event as exported: every stored column.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedEvent {
    pub seq: i64,
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_type: Option<String>,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub outcome: i32,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    /// As stored: sealed.
    pub reason: Option<String>,
    pub changed_fields: Option<String>,
    pub occurrences: Option<i32>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<audit_events::Model> for ExportedEvent {
    fn from(m: audit_events::Model) -> Self {
        Self {
            seq: m.seq,
            id: m.id,
            occurred_at: m.occurred_at,
            actor_type: m.actor_type,
            actor_id: m.actor_id,
            action: m.action,
            resource_type: m.resource_type,
            resource_id: m.resource_id,
            outcome: m.outcome,
            request_id: m.request_id,
            client_ip: m.client_ip,
            reason: m.reason,
            changed_fields: m.changed_fields,
            occurrences: m.occurrences,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

impl From<ExportedEvent> for audit_events::Model {
    fn from(e: ExportedEvent) -> Self {
        Self {
            seq: e.seq,
            id: e.id,
            occurred_at: e.occurred_at,
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            outcome: e.outcome,
            request_id: e.request_id,
            client_ip: e.client_ip,
            reason: e.reason,
            changed_fields: e.changed_fields,
            occurrences: e.occurrences,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A run of consecutive events, with what is needed to check them offline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    pub format: String,
    pub exported_at: DateTime<Utc>,
    /// Whether the segment was exported up to the chain's head.
    pub to_head: bool,
    /// The chain key, wrapped by the master key.
    pub chain_key: Option<String>,
    pub events: Vec<ExportedEvent>,
    /// The checkpoints stored at export time (for reference: verify against
    /// your own copies).
    pub checkpoints: Vec<Checkpoint>,
    /// Whether the segment starts where the trail begins: at its first event,
    /// or right after the point it was pruned to.
    #[serde(default)]
    pub from_start: bool,
    /// The signed point the trail was pruned to, if it was.
    #[serde(default)]
    pub pruned_to: Option<PrunePoint>,
}

/// Reads events `from..=to` (to the head when `to` is `None`).
pub async fn segment(
    db: &impl ConnectionTrait,
    from: i64,
    to: Option<i64>,
    chain_key: Option<String>,
    now: DateTime<Utc>,
) -> Result<Segment, DbErr> {
    let pruned_to = super::prune::latest(db).await?;
    let begins = pruned_to.as_ref().map_or(1, |p| p.seq + 1);
    let mut events = Vec::new();
    let mut next = from.max(1);
    loop {
        let mut q = audit_events::Entity::find().filter(audit_events::Column::Seq.gte(next));
        if let Some(to) = to {
            q = q.filter(audit_events::Column::Seq.lte(to));
        }
        let batch = q
            .order_by_asc(audit_events::Column::Seq)
            .limit(1000)
            .all(db)
            .await?;
        let Some(last) = batch.last().map(|e| e.seq) else {
            break;
        };
        events.extend(batch.into_iter().map(ExportedEvent::from));
        next = last + 1;
    }
    Ok(Segment {
        format: FORMAT.to_owned(),
        exported_at: now,
        to_head: to.is_none(),
        chain_key,
        events,
        checkpoints: super::checkpoints::all(db).await?,
        from_start: from <= begins,
        pruned_to,
    })
}

/// The outcome of an offline check.
#[derive(Debug)]
pub struct Offline {
    pub checked: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// Checkpoints within (or just before) the segment that were compared.
    pub checkpoints_compared: usize,
    pub hashes_recomputed: bool,
    pub broken: Option<Broken>,
}

/// Checks a segment against checkpoints signed by `pinned`, recomputing
/// hashes when the chain key is known.
pub fn verify_offline(
    segment: Segment,
    checkpoints: &[Checkpoint],
    pinned: &str,
    key: Option<&ChainKey>,
) -> Offline {
    let events: Vec<audit_events::Model> = segment.events.into_iter().map(Into::into).collect();
    let first_seq = events.first().map(|e| e.seq);
    let last_seq = events.last().map(|e| e.seq);
    // where the segment starts: where the trail begins (the genesis, or the
    // signed point it was pruned to), a checkpoint just before it, or unknown
    let mut prune_forged = None;
    let start = match first_seq {
        _ if segment.from_start => match &segment.pruned_to {
            Some(p) => {
                if !p.signed_by(pinned) {
                    prune_forged = Some(p.seq);
                }
                Some((p.seq + 1, p.hash.clone()))
            }
            None => Some((1, GENESIS_HASH.to_owned())),
        },
        Some(1) => Some((1, GENESIS_HASH.to_owned())),
        Some(seq) => checkpoints
            .iter()
            .find(|c| c.seq == seq - 1)
            .map(|c| (seq, c.hash.clone())),
        None => None,
    };
    // checkpoints before the segment prove nothing about it, except the one
    // it starts from (whose signature is checked with the rest)
    let relevant: Vec<Checkpoint> = checkpoints
        .iter()
        .filter(|c| first_seq.is_none_or(|f| c.seq >= f - 1))
        // nor do those of the pruned part
        .filter(|c| !segment.from_start || segment.pruned_to.as_ref().is_none_or(|p| c.seq > p.seq))
        .cloned()
        .collect();
    let mut walk = Walk::new(key, &relevant, pinned, start);
    if let Some(seq) = prune_forged {
        walk.broken = Some(Broken {
            seq,
            event_id: None,
            fault: Fault::PruneSignature,
        });
    }
    for e in &events {
        if !walk.step(e) {
            break;
        }
    }
    let walk = walk.finish(segment.to_head);
    Offline {
        checked: walk.checked,
        first_seq,
        last_seq,
        checkpoints_compared: relevant.len(),
        hashes_recomputed: key.is_some(),
        broken: walk.broken,
    }
}
