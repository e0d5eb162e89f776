//! The archive index: every closed record with the archiving values its
//! rule derives. Written by the owning areas' ports ([`sync`], called in
//! the transaction of the change that closes, reopens, hides or erases a
//! record), derived again from its own stored values when a rule changes
//! ([`rederive`]), and read with plain reads.
//!
//! A record open again leaves the index and any destruction list at once;
//! one under a legal hold stays, without a date, so the hold is not lost.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    sea_query::{Expr, ExprTrait},
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{
    entities::{destruction_list_items, retention_records, retention_rules},
    records::{
        model::{Archiefnominatie, Archiefstatus, ItemStatus, Processing, RecordType, Term},
        port::{Container, Lifecycle},
    },
};

/// The archiving values a rule gives a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Derived {
    pub rule_id: Option<Uuid>,
    pub closed_on: Option<NaiveDate>,
    pub nominatie: Option<Archiefnominatie>,
    pub date: Option<NaiveDate>,
}

impl Derived {
    const OPEN: Derived = Derived {
        rule_id: None,
        closed_on: None,
        nominatie: None,
        date: None,
    };

    fn of(row: &retention_records::Model) -> Derived {
        Derived {
            rule_id: row.rule_id,
            closed_on: row.closed_on,
            nominatie: row
                .archiefnominatie
                .as_deref()
                .and_then(Archiefnominatie::parse),
            date: row.archiefactiedatum,
        }
    }
}

/// How many index entries a derivation changed and took off a list.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refreshed {
    pub changed: u64,
    pub released: u64,
}

/// The rules by (record type, outcome).
pub(super) struct Rules(HashMap<(String, String), RuleValues>);

/// A rule's id, nominatie and term (`None` where the stored text is unreadable).
type RuleValues = (Uuid, Option<Archiefnominatie>, Option<Term>);

impl Rules {
    pub(super) async fn load(db: &impl ConnectionTrait) -> Result<Rules, DbErr> {
        let rules: Vec<retention_rules::Model> = super::rules::all_rules(db).await?;
        Ok(Rules(
            rules
                .iter()
                .map(|r| {
                    (
                        (r.record_type.clone(), r.outcome.clone()),
                        (
                            r.id,
                            Archiefnominatie::parse(&r.archiefnominatie),
                            Term::parse(&r.term).ok(),
                        ),
                    )
                })
                .collect(),
        ))
    }

    /// What the rule of (`t`, `outcome`) gives a record closed on `on`,
    /// with a reviewer's `keep` until a later day.
    pub(super) fn own(
        &self,
        t: &str,
        outcome: &str,
        on: NaiveDate,
        keep: Option<NaiveDate>,
    ) -> Derived {
        let rule = self.0.get(&(t.to_owned(), outcome.to_owned()));
        let (rule_id, nominatie, term) = rule.cloned().unwrap_or((Uuid::nil(), None, None));
        Derived {
            rule_id: rule.map(|_| rule_id),
            closed_on: Some(on),
            nominatie,
            date: with_keep(term.map(|t| t.after(on)), keep),
        }
    }
}

/// A container's nominatie: kept for good if it or anything it holds is,
/// and undecided if any part has no rule.
fn strictest(a: Option<Archiefnominatie>, b: Option<Archiefnominatie>) -> Option<Archiefnominatie> {
    match (a, b) {
        (Some(Archiefnominatie::BlijvendBewaren), _)
        | (_, Some(Archiefnominatie::BlijvendBewaren)) => Some(Archiefnominatie::BlijvendBewaren),
        (Some(x), Some(_)) => Some(x),
        _ => None,
    }
}

/// The later of a date and a reviewer's "keep until".
fn with_keep(date: Option<NaiveDate>, keep: Option<NaiveDate>) -> Option<NaiveDate> {
    match (date, keep) {
        (Some(d), Some(k)) => Some(std::cmp::max(d, k)),
        (d, None) => d,
        (None, _) => None,
    }
}

/// A container's values: its own, with the latest date and the strictest
/// nominatie of the parts it still holds.
pub(super) fn combined(own: Derived, parts: &[Derived]) -> Derived {
    parts.iter().fold(own, |mut d, p| {
        d.date = match (d.date, p.date) {
            (Some(a), Some(b)) => Some(std::cmp::max(a, b)),
            _ => None,
        };
        d.nominatie = strictest(d.nominatie, p.nominatie);
        d
    })
}

/// A container's reference: its first part's, and how many more it holds.
fn container_reference(parts: &[String]) -> Option<String> {
    let first = parts.first()?;
    Some(match parts.len() {
        1 => first.clone(),
        n => format!("{first}+{}", n - 1),
    })
}

/// Takes an entry off the list it is on (its item is `removed`).
pub(crate) async fn release(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    row: &retention_records::Model,
    keep_until: Option<NaiveDate>,
) -> Result<(), DbErr> {
    if let Some(list_id) = row.list_id {
        use destruction_list_items::Column as I;
        destruction_list_items::Entity::update_many()
            .col_expr(I::Status, Expr::value(ItemStatus::Removed.as_str()))
            .filter(I::ListId.eq(list_id))
            .filter(I::RecordRowId.eq(row.id))
            .filter(I::Processing.ne(Processing::Succeeded.as_str()))
            .exec(txn)
            .await?;
    }
    use retention_records::Column as C;
    let mut q = retention_records::Entity::update_many()
        .col_expr(C::ListId, Expr::value(Option::<Uuid>::None))
        .col_expr(C::Version, Expr::col(C::Version).add(1))
        .col_expr(C::UpdatedAt, Expr::value(now));
    if let Some(k) = keep_until {
        q = q.col_expr(C::KeepUntil, Expr::value(Some(k)));
    }
    q.filter(C::Id.eq(row.id)).exec(txn).await?;
    Ok(())
}

/// A record open again: off any list; out of the index unless a legal hold
/// keeps its entry (then without a date).
async fn reopened(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    row: &retention_records::Model,
) -> Result<(), DbErr> {
    if row.destroyed_at.is_some() {
        return Ok(());
    }
    if row.list_id.is_some() {
        release(txn, now, row, None).await?;
    }
    if row.legal_hold {
        if Derived::of(row) != Derived::OPEN {
            set_values(txn, now, row.id, &Derived::OPEN, None).await?;
        }
    } else {
        retention_records::Entity::delete_by_id(row.id)
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// What an entry should say, beside its archiving values.
struct Facts<'a> {
    record_type: RecordType,
    record_id: Uuid,
    container_id: Option<Uuid>,
    reference: Option<String>,
    outcome: &'a str,
    secret: bool,
}

/// Writes an entry's values, inserting it when new.
async fn upsert(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    existing: Option<&retention_records::Model>,
    f: &Facts<'_>,
    d: &Derived,
) -> Result<(), DbErr> {
    match existing {
        Some(row) => {
            let same = Derived::of(row) == *d
                && row.outcome == f.outcome
                && row.secret == f.secret
                && row.container_id == f.container_id
                && row.reference == f.reference;
            if !same {
                use retention_records::Column as C;
                set_values(txn, now, row.id, d, Some(f.outcome)).await?;
                retention_records::Entity::update_many()
                    .col_expr(C::Secret, Expr::value(f.secret))
                    .col_expr(C::ContainerId, Expr::value(f.container_id))
                    .col_expr(C::Reference, Expr::value(f.reference.clone()))
                    .filter(C::Id.eq(row.id))
                    .exec(txn)
                    .await?;
            }
        }
        None => {
            retention_records::Entity::insert(retention_records::ActiveModel {
                id: Set(Uuid::now_v7()),
                record_type: Set(f.record_type.as_str().to_owned()),
                record_id: Set(f.record_id),
                programme: Set(f.record_type.programme().as_str().to_owned()),
                reference: Set(f.reference.clone()),
                outcome: Set(f.outcome.to_owned()),
                rule_id: Set(d.rule_id),
                closed_on: Set(d.closed_on),
                archiefnominatie: Set(d.nominatie.map(|n| n.as_str().to_owned())),
                archiefactiedatum: Set(d.date),
                keep_until: Set(None),
                archiefstatus: Set(Archiefstatus::NogTeArchiveren.as_str().to_owned()),
                legal_hold: Set(false),
                list_id: Set(None),
                destroyed_at: Set(None),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
                secret: Set(f.secret),
                container_id: Set(f.container_id),
            })
            .exec_without_returning(txn)
            .await?;
        }
    }
    Ok(())
}

async fn set_values(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    id: Uuid,
    d: &Derived,
    outcome: Option<&str>,
) -> Result<(), DbErr> {
    use retention_records::Column as C;
    let mut q = retention_records::Entity::update_many()
        .col_expr(C::RuleId, Expr::value(d.rule_id))
        .col_expr(C::ClosedOn, Expr::value(d.closed_on))
        .col_expr(
            C::Archiefnominatie,
            Expr::value(d.nominatie.map(|n| n.as_str().to_owned())),
        )
        .col_expr(C::Archiefactiedatum, Expr::value(d.date))
        .col_expr(C::Version, Expr::col(C::Version).add(1))
        .col_expr(C::UpdatedAt, Expr::value(now));
    if let Some(o) = outcome {
        q = q.col_expr(C::Outcome, Expr::value(o.to_owned()));
    }
    q.filter(C::Id.eq(id)).exec(txn).await?;
    Ok(())
}

/// Marks entries destroyed at `at` (an entry destroyed by a list keeps
/// that list's id).
pub(crate) async fn mark_destroyed(
    txn: &DatabaseTransaction,
    at: DateTime<Utc>,
    rows: &[&retention_records::Model],
) -> Result<(), DbErr> {
    use retention_records::Column as C;
    retention_records::Entity::update_many()
        .col_expr(
            C::Archiefstatus,
            Expr::value(Archiefstatus::Vernietigd.as_str()),
        )
        .col_expr(C::DestroyedAt, Expr::value(Some(at)))
        .col_expr(C::Version, Expr::col(C::Version).add(1))
        .col_expr(C::UpdatedAt, Expr::value(at))
        .filter(C::Id.is_in(rows.iter().map(|r| r.id)))
        .filter(C::DestroyedAt.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// The entries of a container and its parts (destroyed ones included).
pub(super) async fn entries_of(
    db: &impl ConnectionTrait,
    container_type: RecordType,
    container_id: Uuid,
    part_ids: &[Uuid],
) -> Result<Vec<retention_records::Model>, DbErr> {
    use retention_records::Column as C;
    // every term on an index: (record_type, record_id) or container_id (an
    // OR with a bare record_id term scanned the whole index on SQLite)
    let part_type = match container_type {
        RecordType::Defender | RecordType::Stay => RecordType::Stay,
        RecordType::Participant | RecordType::Placement => RecordType::Placement,
    };
    let mut rows = retention_records::Entity::find()
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(C::RecordType.eq(container_type.as_str()))
                        .add(C::RecordId.eq(container_id)),
                )
                .add(C::ContainerId.eq(container_id)),
        )
        .all(db)
        .await?;
    // parts whose entries predate `container_id` (an index built by an
    // earlier version)
    let missing: Vec<Uuid> = part_ids
        .iter()
        .copied()
        .filter(|p| !rows.iter().any(|r| r.record_id == *p))
        .collect();
    if !missing.is_empty() {
        rows.extend(
            retention_records::Entity::find()
                .filter(C::RecordType.eq(part_type.as_str()))
                .filter(C::RecordId.is_in(missing))
                .all(db)
                .await?,
        );
    }
    Ok(rows)
}

/// Writes the index entries of a container and its parts as the owner's
/// port says they stand (see `records::port::sync`).
#[tracing::instrument(skip_all)]
pub(crate) async fn sync(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    c: &Container,
) -> Result<(), DbErr> {
    let part_type = c.part_type();
    let part_ids: Vec<Uuid> = c.parts.iter().map(|p| p.id).collect();
    let existing = entries_of(txn, c.record_type, c.id, &part_ids).await?;
    let find = |t: RecordType, id: Uuid| {
        existing
            .iter()
            .find(|r| r.record_type == t.as_str() && r.record_id == id)
    };
    if let Some(at) = c.gone {
        // erased on request: every entry says so, and leaves any list
        let rows: Vec<&retention_records::Model> = existing
            .iter()
            .filter(|r| r.destroyed_at.is_none())
            .collect();
        for row in rows.iter().filter(|r| r.list_id.is_some()) {
            release(txn, at, row, None).await?;
        }
        return mark_destroyed(txn, at, &rows).await;
    }
    let rules = Rules::load(txn).await?;
    let mut part_values = Vec::new();
    let mut all_closed = true;
    for p in &c.parts {
        let row = find(part_type, p.id);
        match p.lifecycle {
            Lifecycle::Closed { on, outcome } => {
                let d = rules.own(
                    part_type.as_str(),
                    outcome,
                    on,
                    row.and_then(|r| r.keep_until),
                );
                let facts = Facts {
                    record_type: part_type,
                    record_id: p.id,
                    container_id: Some(c.id),
                    reference: Some(p.reference.clone()),
                    outcome,
                    secret: p.secret,
                };
                upsert(txn, now, row, &facts, &d).await?;
                part_values.push(d);
            }
            Lifecycle::Open => {
                all_closed = false;
                if let Some(row) = row {
                    reopened(txn, now, row).await?;
                }
            }
        }
    }
    let row = find(c.record_type, c.id);
    if !all_closed {
        if let Some(row) = row {
            reopened(txn, now, row).await?;
        }
        return Ok(());
    }
    // closed the day its last part closed (destroyed parts included); a
    // container that never had a part, the day it was made
    let destroyed_parts: Vec<&retention_records::Model> = existing
        .iter()
        .filter(|r| r.record_type == part_type.as_str() && r.destroyed_at.is_some())
        .collect();
    let closed_on = part_values
        .iter()
        .filter_map(|d| d.closed_on)
        .chain(destroyed_parts.iter().filter_map(|r| r.closed_on))
        .max();
    let (outcome, closed_on) = match closed_on {
        Some(on) => ("all", on),
        None => ("none", c.created_on),
    };
    let own = rules.own(
        c.record_type.as_str(),
        outcome,
        closed_on,
        row.and_then(|r| r.keep_until),
    );
    let d = combined(own, &part_values);
    let references: Vec<String> = c.parts.iter().map(|p| p.reference.clone()).collect();
    let facts = Facts {
        record_type: c.record_type,
        record_id: c.id,
        container_id: None,
        reference: container_reference(&references),
        outcome,
        secret: c.parts.iter().any(|p| p.secret),
    };
    upsert(txn, now, row, &facts, &d).await
}

/// Derives every entry again from its own stored closing and outcome (after
/// a rule changed): containers from the parts they hold. An entry on a list
/// that is now to be kept for good leaves the list.
#[tracing::instrument(skip_all)]
///
/// `only`: just the container with this record id and its parts.
pub(crate) async fn rederive(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    only: Option<Uuid>,
) -> Result<Refreshed, DbErr> {
    use retention_records::Column as C;
    let rules = Rules::load(txn).await?;
    let mut q = retention_records::Entity::find().filter(C::DestroyedAt.is_null());
    if let Some(id) = only {
        q = q.filter(
            Condition::any()
                .add(C::RecordId.eq(id))
                .add(C::ContainerId.eq(id)),
        );
    }
    let rows = q.all(txn).await?;
    let mut own: HashMap<Uuid, Derived> = HashMap::new();
    for r in &rows {
        if let Some(on) = r.closed_on {
            own.insert(
                r.id,
                rules.own(&r.record_type, &r.outcome, on, r.keep_until),
            );
        }
    }
    let mut parts: HashMap<Uuid, Vec<Derived>> = HashMap::new();
    for r in rows.iter().filter(|r| r.container_id.is_some()) {
        if let (Some(c), Some(d)) = (r.container_id, own.get(&r.id)) {
            parts.entry(c).or_default().push(d.clone());
        }
    }
    let mut done = Refreshed::default();
    for r in &rows {
        let Some(d) = own.get(&r.id) else { continue };
        let d = match (r.container_id, parts.get(&r.record_id)) {
            (None, Some(p)) => combined(d.clone(), p),
            _ => d.clone(),
        };
        if d != Derived::of(r) {
            set_values(txn, now, r.id, &d, None).await?;
            done.changed += 1;
        }
        if r.list_id.is_some() && d.nominatie == Some(Archiefnominatie::BlijvendBewaren) {
            release(txn, now, r, None).await?;
            done.released += 1;
        }
    }
    Ok(done)
}

/// Whether a legal hold stands on a record or any of its parts.
pub(crate) async fn held(
    db: &impl ConnectionTrait,
    record_type: RecordType,
    id: Uuid,
) -> Result<bool, DbErr> {
    use retention_records::Column as C;
    Ok(retention_records::Entity::find()
        .filter(C::LegalHold.eq(true))
        .filter(C::DestroyedAt.is_null())
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(C::RecordType.eq(record_type.as_str()))
                        .add(C::RecordId.eq(id)),
                )
                .add(C::ContainerId.eq(id)),
        )
        .one(db)
        .await?
        .is_some())
}

/// Which index entries a list shows.
#[derive(Debug, Default, Clone)]
pub(crate) struct RecordFilter {
    pub record_type: Option<RecordType>,
    /// Entries whose `archiefactiedatum` is on or before this date.
    pub due_by: Option<NaiveDate>,
    pub archiefstatus: Option<Archiefstatus>,
    pub legal_hold: Option<bool>,
    /// Whether the caller may learn that secret records exist.
    pub secret_visible: bool,
}

/// A page of index entries by id.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_records(
    db: &impl ConnectionTrait,
    f: &RecordFilter,
    after: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<retention_records::Model>, DbErr> {
    use retention_records::Column as C;
    let mut q = retention_records::Entity::find();
    if let Some(t) = f.record_type {
        q = q.filter(C::RecordType.eq(t.as_str()));
    }
    if let Some(d) = f.due_by {
        q = q.filter(C::Archiefactiedatum.lte(d));
    }
    if let Some(s) = f.archiefstatus {
        q = q.filter(C::Archiefstatus.eq(s.as_str()));
    }
    if let Some(h) = f.legal_hold {
        q = q.filter(C::LegalHold.eq(h));
    }
    if !f.secret_visible {
        q = q.filter(C::Secret.eq(false));
    }
    if let Some(after) = after {
        q = q.filter(C::Id.gt(after));
    }
    q.order_by_asc(C::Id).limit(fetch).all(db).await
}

#[tracing::instrument(skip_all)]
pub(crate) async fn record(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<retention_records::Model>, DbErr> {
    retention_records::Entity::find_by_id(id).one(db).await
}

/// The entries of `ids`, in any order.
pub(crate) async fn records_in(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<retention_records::Model>, DbErr> {
    retention_records::Entity::find()
        .filter(retention_records::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}

/// The entries of the parts of the containers `ids` (not destroyed).
pub(crate) async fn parts_of(
    db: &impl ConnectionTrait,
    container_ids: &[Uuid],
) -> Result<Vec<retention_records::Model>, DbErr> {
    retention_records::Entity::find()
        .filter(retention_records::Column::ContainerId.is_in(container_ids.iter().copied()))
        .filter(retention_records::Column::DestroyedAt.is_null())
        .all(db)
        .await
}

/// The last full build of the index; `VERSION` is this derivation's.
pub(crate) mod build {
    use chrono::{DateTime, Utc};
    use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

    use crate::entities::retention_index_builds as builds;

    /// The index derivation in this build: a newer one builds in full once.
    pub(crate) const VERSION: i32 = 2;

    pub(crate) async fn done(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
        Ok(builds::Entity::find_by_id(VERSION).one(db).await?.is_some())
    }

    pub(crate) async fn record(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<(), DbErr> {
        builds::Entity::insert(builds::ActiveModel {
            version: Set(VERSION),
            built_at: Set(now),
        })
        .on_conflict_do_nothing_on([builds::Column::Version])
        .exec(db)
        .await?;
        Ok(())
    }
}
