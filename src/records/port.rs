//! The records area's side of the retention ports: what an area that owns
//! records (shelter, exchange) tells it about a container record (a
//! defender, a participant) and its parts (stays, placements), in the
//! owner's own terms turned into these few types by the owner's port
//! (`shelter::retention`, `exchange::retention`).
//!
//! An owner calls [`sync`] in the transaction of every change that can
//! close, reopen, hide or erase a record, so the archive index is written
//! with the change that moves it, and is read with plain reads. The records
//! area never reads an owner's tables or status strings: it asks the port.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use uuid::Uuid;

pub(crate) use super::model::RecordType;

/// Where a record stands in its owner's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Work goes on (or may go on again): it has no retention date.
    Open,
    /// Closed on `on`; `outcome` names the retention rule (the status it
    /// closed from, or its final status).
    Closed {
        on: NaiveDate,
        outcome: &'static str,
    },
}

/// One stay or placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub id: Uuid,
    pub reference: String,
    pub lifecycle: Lifecycle,
    /// Only its coordinators and assigned staff may learn it exists.
    pub secret: bool,
}

/// A defender or participant with every part it still has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Container {
    pub record_type: RecordType,
    pub id: Uuid,
    /// The day it was made: a container that never had a part closes then.
    pub created_on: NaiveDate,
    pub parts: Vec<Part>,
    /// Erased or deleted (on request, or by a destruction) at.
    pub gone: Option<DateTime<Utc>>,
}

impl Container {
    /// The record type of its parts.
    pub(crate) fn part_type(&self) -> RecordType {
        match self.record_type {
            RecordType::Defender | RecordType::Stay => RecordType::Stay,
            RecordType::Participant | RecordType::Placement => RecordType::Placement,
        }
    }
}

/// Writes the index entries of `c` and its parts as they now stand: closed
/// records get their archiving values, records open again leave the index
/// and any destruction list, a gone record's entries say it was destroyed.
pub(crate) async fn sync(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    c: &Container,
) -> Result<(), DbErr> {
    super::store::sync(txn, now, c).await
}

/// Whether a legal hold stands on the record or any of its parts (an
/// erasure on request is refused while one does, AVG art. 17(3)(e)).
pub(crate) async fn held(
    db: &impl ConnectionTrait,
    record_type: RecordType,
    id: Uuid,
) -> Result<bool, DbErr> {
    super::store::held(db, record_type, id).await
}
