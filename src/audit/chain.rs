//! The audit chain: how events are hashed, how checkpoints of its head are
//! signed, and how both are verified (online over the database, offline over
//! an exported segment).
//!
//! Every event stores the hash of its predecessor. Events from
//! [`ChainKey::keyed_from`] on are hashed with HMAC-SHA256 under the chain
//! key, a random key kept in the keyring wrapped by the master key, which is
//! never in the database: someone with the database alone cannot recompute
//! a hash, so deleting, renumbering or re-attributing an event breaks the
//! chain. Events written before the chain was keyed (an upgraded deployment)
//! keep their unkeyed SHA-256 hashes; the first keyed event's link anchors
//! them. The sequence number where keying starts is sealed with the key, so
//! it cannot be moved to pass off rewritten events as old ones.
//!
//! A cut tail is found through checkpoints: signed (Ed25519) statements of
//! the head (sequence, hash, time), made periodically and on request, logged
//! and listable, so auditors keep copies outside the system. A chain that
//! ends before a checkpoint, or disagrees with one, is broken.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    crypto::{constant_time_eq, sha256_hex, signature_valid, MasterKey, SigningKey},
    entities::{audit_checkpoints, audit_events},
};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The key of the chain and the sequence number from which it is keyed.
#[derive(Clone)]
pub struct ChainKey {
    pub key: MasterKey,
    pub keyed_from: i64,
}

impl ChainKey {
    /// The stored form (wrapped under the master key in the keyring): the
    /// key and where keying starts, sealed together.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(40));
        out.extend_from_slice(self.key.expose_bytes());
        out.extend_from_slice(&self.keyed_from.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let key: [u8; 32] = bytes.get(..32)?.try_into().ok()?;
        let from: [u8; 8] = bytes.get(32..40)?.try_into().ok()?;
        Some(Self {
            key: MasterKey::from_bytes(key),
            keyed_from: i64::from_be_bytes(from),
        })
    }

    /// The hash an event must carry.
    pub fn hash(&self, e: &audit_events::Model) -> String {
        if e.seq < self.keyed_from {
            legacy_hash(e)
        } else {
            keyed_hash(&self.key, e)
        }
    }
}

/// The keys of the audit trail.
#[derive(Clone)]
pub struct AuditKeys(Arc<Inner>);

struct Inner {
    chain: ChainKey,
    signing: SigningKey,
    /// Seals `X-Audit-Reason` texts that are about no single defender.
    reason: MasterKey,
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKeys([redacted])")
    }
}

impl AuditKeys {
    pub fn new(chain: ChainKey, signing: SigningKey, reason: MasterKey) -> Self {
        Self(Arc::new(Inner {
            chain,
            signing,
            reason,
        }))
    }

    pub fn chain(&self) -> &ChainKey {
        &self.0.chain
    }

    pub fn signing(&self) -> &SigningKey {
        &self.0.signing
    }

    pub fn reason_key(&self) -> &MasterKey {
        &self.0.reason
    }

    /// The checkpoints' public key (base64), for auditors to pin.
    pub fn public_key(&self) -> String {
        self.0.signing.public_key()
    }
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The fields every hash covers, in order, and the previous hash. The keyed
/// form adds a version tag and `occurrences`, which events before keying
/// never had.
fn canonical(e: &audit_events::Model, keyed: bool) -> String {
    let mut fields = vec![
        serde_json::json!(e.seq),
        serde_json::json!(e.id.to_string()),
        serde_json::json!(format_time(e.occurred_at)),
        serde_json::json!(e.actor_type),
        serde_json::json!(e.actor_id.map(|a| a.to_string())),
        serde_json::json!(e.action),
        serde_json::json!(e.resource_type),
        serde_json::json!(e.resource_id),
        serde_json::json!(e.outcome),
        serde_json::json!(e.request_id),
        serde_json::json!(e.client_ip),
        serde_json::json!(e.reason),
        serde_json::json!(e.changed_fields),
    ];
    if keyed {
        fields.insert(0, serde_json::json!("casedesk-audit-v2"));
        fields.push(serde_json::json!(e.occurrences));
    }
    fields.push(serde_json::json!(e.prev_hash));
    serde_json::Value::Array(fields).to_string()
}

/// The unkeyed hash of events written before the chain was keyed: SHA-256
/// over a JSON array of every field and the previous hash.
pub fn legacy_hash(e: &audit_events::Model) -> String {
    sha256_hex(canonical(e, false).as_bytes())
}

/// The keyed hash: HMAC-SHA256 under the chain key over a JSON array of a
/// version tag, every field and the previous hash.
pub fn keyed_hash(key: &MasterKey, e: &audit_events::Model) -> String {
    key.hmac_hex(canonical(e, true).as_bytes())
}

/// A signed statement of the chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub created_at: DateTime<Utc>,
    /// The Ed25519 public key that signed it (base64).
    pub public_key: String,
    /// Ed25519 over [`Checkpoint::message`] (base64).
    pub signature: String,
}

impl Checkpoint {
    /// What is signed: a fixed text naming the sequence, hash and time.
    pub fn message(seq: i64, hash: &str, created_at: DateTime<Utc>) -> String {
        format!(
            "casedesk audit checkpoint v1\nseq={seq}\nhash={hash}\ncreated={}",
            format_time(created_at)
        )
    }

    pub fn sign(keys: &AuditKeys, seq: i64, hash: &str, created_at: DateTime<Utc>) -> Checkpoint {
        // stored with microseconds, so signed with microseconds
        let created_at = DateTime::parse_from_rfc3339(&format_time(created_at))
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(created_at);
        Checkpoint {
            seq,
            hash: hash.to_owned(),
            created_at,
            public_key: keys.public_key(),
            signature: keys
                .signing()
                .sign(Self::message(seq, hash, created_at).as_bytes()),
        }
    }

    /// Whether the signature is valid and made with `pinned` (base64).
    pub fn signed_by(&self, pinned: &str) -> bool {
        constant_time_eq(self.public_key.as_bytes(), pinned.as_bytes())
            && signature_valid(
                pinned,
                Self::message(self.seq, &self.hash, self.created_at).as_bytes(),
                &self.signature,
            )
    }
}

/// A signed statement that the trail was pruned up to and including the
/// event at `seq`, whose hash is `hash` (the hash of a signed checkpoint):
/// the first event kept must be `seq + 1` and link to `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrunePoint {
    pub seq: i64,
    pub hash: String,
    pub pruned_at: DateTime<Utc>,
    pub public_key: String,
    pub signature: String,
}

impl PrunePoint {
    /// What is signed: unlike a checkpoint's text, so neither passes for the other.
    pub fn message(seq: i64, hash: &str, pruned_at: DateTime<Utc>) -> String {
        format!(
            "casedesk audit prune v1\nseq={seq}\nhash={hash}\npruned={}",
            format_time(pruned_at)
        )
    }

    pub fn sign(keys: &AuditKeys, seq: i64, hash: &str, pruned_at: DateTime<Utc>) -> PrunePoint {
        let pruned_at = DateTime::parse_from_rfc3339(&format_time(pruned_at))
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(pruned_at);
        PrunePoint {
            seq,
            hash: hash.to_owned(),
            pruned_at,
            public_key: keys.public_key(),
            signature: keys
                .signing()
                .sign(Self::message(seq, hash, pruned_at).as_bytes()),
        }
    }

    /// Whether the signature is valid and made with `pinned` (base64).
    pub fn signed_by(&self, pinned: &str) -> bool {
        constant_time_eq(self.public_key.as_bytes(), pinned.as_bytes())
            && signature_valid(
                pinned,
                Self::message(self.seq, &self.hash, self.pruned_at).as_bytes(),
                &self.signature,
            )
    }
}

impl From<crate::entities::audit_prunes::Model> for PrunePoint {
    fn from(m: crate::entities::audit_prunes::Model) -> Self {
        Self {
            seq: m.seq,
            hash: m.hash,
            pruned_at: m.pruned_at,
            public_key: m.public_key,
            signature: m.signature,
        }
    }
}

impl From<audit_checkpoints::Model> for Checkpoint {
    fn from(m: audit_checkpoints::Model) -> Self {
        Self {
            seq: m.seq,
            hash: m.hash,
            created_at: m.created_at,
            public_key: m.public_key,
            signature: m.signature,
        }
    }
}

/// Why a chain does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An event's sequence number is not its predecessor's plus one.
    Sequence,
    /// An event does not link to its predecessor's hash.
    Link,
    /// An event's content does not give its hash.
    Hash,
    /// A checkpoint's signature is not valid for the pinned key.
    CheckpointSignature,
    /// The event at a checkpoint's sequence number has another hash.
    CheckpointMismatch,
    /// The chain ends before a checkpoint: its tail was cut.
    TailCut,
    /// The point the trail was pruned to is not signed by the pinned key.
    PruneSignature,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Sequence => "sequence",
            Fault::Link => "link",
            Fault::Hash => "hash",
            Fault::CheckpointSignature => "checkpoint_signature",
            Fault::CheckpointMismatch => "checkpoint_mismatch",
            Fault::TailCut => "tail_cut",
            Fault::PruneSignature => "prune_signature",
        }
    }
}

/// Where and why a chain broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub seq: i64,
    /// The event, when there is one at that place.
    pub event_id: Option<Uuid>,
    pub fault: Fault,
}

/// A walk along the chain in sequence order, checking each event against
/// its predecessor, its hash (when the key is known) and the checkpoints.
pub struct Walk<'a> {
    key: Option<&'a ChainKey>,
    checkpoints: std::collections::BTreeMap<i64, &'a Checkpoint>,
    expected_seq: Option<i64>,
    expected_prev: Option<String>,
    pub checked: u64,
    pub last_seq: Option<i64>,
    pub broken: Option<Broken>,
}

impl<'a> Walk<'a> {
    /// `start`: the sequence number and previous hash the first event must
    /// have, or `None` for a segment whose predecessor is unknown. Every
    /// checkpoint must be signed by `pinned`.
    pub fn new(
        key: Option<&'a ChainKey>,
        checkpoints: &'a [Checkpoint],
        pinned: &'a str,
        start: Option<(i64, String)>,
    ) -> Self {
        let mut walk = Self {
            key,
            checkpoints: checkpoints.iter().map(|c| (c.seq, c)).collect(),
            expected_seq: start.as_ref().map(|s| s.0),
            expected_prev: start.map(|s| s.1),
            checked: 0,
            last_seq: None,
            broken: None,
        };
        if let Some(bad) = checkpoints.iter().find(|c| !c.signed_by(pinned)) {
            walk.broken = Some(Broken {
                seq: bad.seq,
                event_id: None,
                fault: Fault::CheckpointSignature,
            });
        }
        walk
    }

    /// Checks the next event; false once the chain is broken.
    pub fn step(&mut self, e: &audit_events::Model) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let fault = if self.expected_seq.is_some_and(|s| s != e.seq) {
            Some(Fault::Sequence)
        } else if self
            .expected_prev
            .as_ref()
            .is_some_and(|p| !constant_time_eq(p.as_bytes(), e.prev_hash.as_bytes()))
        {
            Some(Fault::Link)
        } else if self
            .key
            .is_some_and(|k| !constant_time_eq(k.hash(e).as_bytes(), e.hash.as_bytes()))
        {
            Some(Fault::Hash)
        } else if self
            .key
            .is_some_and(|k| e.seq < k.keyed_from && e.occurrences.is_some())
        {
            // events before keying never had this column
            Some(Fault::Hash)
        } else if self
            .checkpoints
            .get(&e.seq)
            .is_some_and(|c| !constant_time_eq(c.hash.as_bytes(), e.hash.as_bytes()))
        {
            Some(Fault::CheckpointMismatch)
        } else {
            None
        };
        if let Some(fault) = fault {
            self.broken = Some(Broken {
                seq: e.seq,
                event_id: Some(e.id),
                fault,
            });
            return false;
        }
        self.checked += 1;
        self.last_seq = Some(e.seq);
        self.expected_seq = Some(e.seq + 1);
        self.expected_prev = Some(e.hash.clone());
        true
    }

    /// Ends the walk: a checkpoint past the last event means a cut tail
    /// (`to_head`: the events walked were meant to reach the head).
    pub fn finish(mut self, to_head: bool) -> Self {
        if self.broken.is_none() && to_head {
            let last = self.last_seq.unwrap_or(0);
            if let Some((seq, _)) = self.checkpoints.range(last + 1..).next() {
                self.broken = Some(Broken {
                    seq: *seq,
                    event_id: None,
                    fault: Fault::TailCut,
                });
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(occurrences: Option<i32>) -> audit_events::Model {
        audit_events::Model {
            seq: 42,
            id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            actor_type: Some("staff".into()),
            actor_id: Some(Uuid::now_v7()),
            action: "staff.updated".into(),
            resource_type: Some("staff".into()),
            resource_id: Some("x".into()),
            outcome: 200,
            request_id: Some("r".into()),
            client_ip: Some("192.0.2.1".into()),
            reason: Some("sealed:v1:k:abc".into()),
            changed_fields: Some("displayName".into()),
            occurrences,
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    /// Events of deployments before the chain was keyed were hashed by this
    /// formula (the code as it was); they must verify unchanged.
    #[test]
    fn the_legacy_hash_is_the_earlier_versions_hash() {
        let e = event(None);
        let earlier = crate::crypto::sha256_hex(
            serde_json::json!([
                e.seq,
                e.id.to_string(),
                format_time(e.occurred_at),
                e.actor_type,
                e.actor_id.map(|a| a.to_string()),
                e.action,
                e.resource_type,
                e.resource_id,
                e.outcome,
                e.request_id,
                e.client_ip,
                e.reason,
                e.changed_fields,
                e.prev_hash,
            ])
            .to_string()
            .as_bytes(),
        );
        assert_eq!(legacy_hash(&e), earlier);
    }

    #[test]
    fn the_keyed_hash_covers_every_field_and_needs_the_key() {
        let key = MasterKey::generate();
        let e = event(Some(3));
        let h = keyed_hash(&key, &e);
        assert_ne!(h, keyed_hash(&MasterKey::generate(), &e));
        assert_ne!(h, legacy_hash(&e));
        let mut other = e.clone();
        other.occurrences = Some(4);
        assert_ne!(h, keyed_hash(&key, &other));
        let mut other = e.clone();
        other.actor_id = Some(Uuid::now_v7());
        assert_ne!(h, keyed_hash(&key, &other));
    }
}
