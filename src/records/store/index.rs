//! The retention index: every closed record with the archiving values its
//! rule derives. Derived again before it is read or a list is made, and
//! whenever a rule changes; a record on a destruction list keeps the values
//! it was listed with.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    sea_query::{Expr, ExprTrait},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, RelationTrait,
};
use uuid::Uuid;

use crate::{
    entities::{
        defenders, placement_status_changes, placements, retention_records, retention_rules,
        stay_status_changes, stays,
    },
    records::model::{Archiefnominatie, Archiefstatus, RecordType, Term},
};

/// What a closed record's own history says about it.
#[derive(Debug, Clone)]
struct Closed {
    record_type: RecordType,
    record_id: Uuid,
    reference: Option<String>,
    outcome: String,
    closed_on: NaiveDate,
    /// The records destroyed with it (a defender's stays, a participant's placements).
    children: Vec<(RecordType, Uuid)>,
}

/// The archiving values a rule gives a record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Derived {
    rule_id: Option<Uuid>,
    closed_on: Option<NaiveDate>,
    nominatie: Option<Archiefnominatie>,
    date: Option<NaiveDate>,
}

/// How many index entries a derivation added, changed and dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Refreshed {
    pub added: u64,
    pub changed: u64,
    pub dropped: u64,
}

const FINAL_PLACEMENT: &[&str] = &["reported", "rejected", "withdrawn", "cancelled"];

/// The latest change to one of `to` per record, as (record, from, date).
fn latest<K: std::hash::Hash + Eq>(
    rows: impl IntoIterator<Item = (K, Option<String>, DateTime<Utc>)>,
) -> HashMap<K, (Option<String>, NaiveDate)> {
    let mut out: HashMap<K, (Option<String>, DateTime<Utc>)> = HashMap::new();
    for (k, from, at) in rows {
        match out.get(&k) {
            Some((_, seen)) if *seen >= at => {}
            _ => {
                out.insert(k, (from, at));
            }
        }
    }
    out.into_iter()
        .map(|(k, (from, at))| (k, (from, at.date_naive())))
        .collect()
}

/// A container's parts so far: all closed, the latest closing, the closed ones.
type Container = (bool, Option<NaiveDate>, Vec<(RecordType, Uuid)>);

/// One stay or placement with its container and, if closed, its outcome
/// and the day it closed.
struct Part {
    id: Uuid,
    reference: String,
    container: Uuid,
    closed: Option<(String, NaiveDate)>,
}

/// The closed parts, and the containers all of whose parts are closed (a
/// container closes the day its last part did).
fn with_containers(
    parts: Vec<Part>,
    part: RecordType,
    container: RecordType,
    out: &mut Vec<Closed>,
) {
    let mut containers: HashMap<Uuid, Container> = HashMap::new();
    for p in parts {
        let entry = containers
            .entry(p.container)
            .or_insert((true, None, Vec::new()));
        match p.closed {
            Some((outcome, on)) => {
                entry.1 = std::cmp::max(entry.1, Some(on));
                entry.2.push((part, p.id));
                out.push(Closed {
                    record_type: part,
                    record_id: p.id,
                    reference: Some(p.reference),
                    outcome,
                    closed_on: on,
                    children: Vec::new(),
                });
            }
            None => entry.0 = false,
        }
    }
    for (id, (all_closed, on, children)) in containers {
        if let (true, Some(on)) = (all_closed, on) {
            out.push(Closed {
                record_type: container,
                record_id: id,
                reference: None,
                outcome: "all".to_owned(),
                closed_on: on,
                children,
            });
        }
    }
}

async fn closed_records(txn: &impl ConnectionTrait) -> Result<Vec<Closed>, DbErr> {
    let mut out = Vec::new();
    // Shelter City: stays of defenders not erased; a stay's outcome is the
    // status it was closed from
    let stay_rows: Vec<(Uuid, String, Uuid, String)> = stays::Entity::find()
        .select_only()
        .column(stays::Column::Id)
        .column(stays::Column::Reference)
        .column(stays::Column::DefenderId)
        .column(stays::Column::Status)
        .join(
            sea_orm::JoinType::InnerJoin,
            stays::Relation::Defender.def(),
        )
        .filter(defenders::Column::ErasedAt.is_null())
        .into_tuple()
        .all(txn)
        .await?;
    let closings: Vec<(Uuid, Option<String>, DateTime<Utc>)> = stay_status_changes::Entity::find()
        .select_only()
        .column(stay_status_changes::Column::StayId)
        .column(stay_status_changes::Column::FromStatus)
        .column(stay_status_changes::Column::ChangedAt)
        .filter(stay_status_changes::Column::ToStatus.eq("closed"))
        .into_tuple()
        .all(txn)
        .await?;
    let closings = latest(closings);
    let parts = stay_rows
        .into_iter()
        .map(|(id, reference, defender, status)| Part {
            id,
            reference,
            container: defender,
            closed: (status == "closed")
                .then(|| closings.get(&id))
                .flatten()
                .map(|(from, on)| (from.clone().unwrap_or_default(), *on)),
        })
        .collect();
    with_containers(parts, RecordType::Stay, RecordType::Defender, &mut out);
    // exchange: placements in a final status (their outcome), and
    // participants all of whose placements are
    let placement_rows: Vec<(Uuid, String, Uuid, String)> = placements::Entity::find()
        .select_only()
        .column(placements::Column::Id)
        .column(placements::Column::Reference)
        .column(placements::Column::ParticipantId)
        .column(placements::Column::Status)
        .into_tuple()
        .all(txn)
        .await?;
    let finals: Vec<(Uuid, Option<String>, DateTime<Utc>)> =
        placement_status_changes::Entity::find()
            .select_only()
            .column(placement_status_changes::Column::PlacementId)
            .column(placement_status_changes::Column::FromStatus)
            .column(placement_status_changes::Column::ChangedAt)
            .filter(
                placement_status_changes::Column::ToStatus.is_in(FINAL_PLACEMENT.iter().copied()),
            )
            .into_tuple()
            .all(txn)
            .await?;
    let finals = latest(finals);
    let parts = placement_rows
        .into_iter()
        .map(|(id, reference, participant, status)| {
            let on = FINAL_PLACEMENT
                .contains(&status.as_str())
                .then(|| finals.get(&id))
                .flatten()
                .map(|(_, on)| *on);
            Part {
                id,
                reference,
                container: participant,
                closed: on.map(|on| (status, on)),
            }
        })
        .collect();
    with_containers(
        parts,
        RecordType::Placement,
        RecordType::Participant,
        &mut out,
    );
    Ok(out)
}

type RuleMap = HashMap<(String, String), (Uuid, Option<Archiefnominatie>, Option<Term>)>;

fn rule_map(rules: &[retention_rules::Model]) -> RuleMap {
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
        .collect()
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
        (None, k) => k,
    }
}

/// Derives the index again. Takes the records lock on PostgreSQL (SQLite's
/// write transaction is already exclusive).
#[tracing::instrument(skip_all)]
pub async fn refresh(txn: &DatabaseTransaction, now: DateTime<Utc>) -> Result<Refreshed, DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&crate::db::AdvisoryLock::Records.xact_sql())
            .await?;
    }
    let rules = rule_map(&super::rules::all_rules(txn).await?);
    let closed = closed_records(txn).await?;
    let existing: HashMap<(String, Uuid), retention_records::Model> =
        retention_records::Entity::find()
            .filter(retention_records::Column::DestroyedAt.is_null())
            .all(txn)
            .await?
            .into_iter()
            .map(|r| ((r.record_type.clone(), r.record_id), r))
            .collect();
    // the records' own values, children first (a container takes the latest
    // date and the strictest nominatie of itself and what it holds)
    let mut derived: HashMap<(RecordType, Uuid), Derived> = HashMap::new();
    let own = |c: &Closed| {
        let rule = rules.get(&(c.record_type.as_str().to_owned(), c.outcome.clone()));
        let (rule_id, nominatie, term) = rule.cloned().unwrap_or((Uuid::nil(), None, None));
        Derived {
            rule_id: rule.map(|_| rule_id),
            closed_on: Some(c.closed_on),
            nominatie,
            date: term.map(|t| t.after(c.closed_on)),
        }
    };
    let keep_of = |t: RecordType, id: Uuid| {
        existing
            .get(&(t.as_str().to_owned(), id))
            .and_then(|r| r.keep_until)
    };
    for c in closed.iter().filter(|c| c.children.is_empty()) {
        let mut d = own(c);
        d.date = with_keep(d.date, keep_of(c.record_type, c.record_id));
        derived.insert((c.record_type, c.record_id), d);
    }
    for c in closed.iter().filter(|c| !c.children.is_empty()) {
        let mut d = own(c);
        for child in &c.children {
            if let Some(cd) = derived.get(child) {
                d.date = match (d.date, cd.date) {
                    (Some(a), Some(b)) => Some(std::cmp::max(a, b)),
                    _ => None,
                };
                d.nominatie = strictest(d.nominatie, cd.nominatie);
            }
        }
        d.date = with_keep(d.date, keep_of(c.record_type, c.record_id));
        derived.insert((c.record_type, c.record_id), d);
    }
    let mut done = Refreshed::default();
    let mut seen: HashSet<(String, Uuid)> = HashSet::new();
    for c in &closed {
        let key = (c.record_type.as_str().to_owned(), c.record_id);
        seen.insert(key.clone());
        let Some(d) = derived.get(&(c.record_type, c.record_id)) else {
            continue;
        };
        match existing.get(&key) {
            // a listed record keeps the values it was listed with
            Some(row) if row.list_id.is_some() => {}
            Some(row) => {
                let stored = Derived {
                    rule_id: row.rule_id,
                    closed_on: row.closed_on,
                    nominatie: Archiefnominatie::parse(
                        row.archiefnominatie.as_deref().unwrap_or(""),
                    ),
                    date: row.archiefactiedatum,
                };
                if stored != *d || row.outcome != c.outcome {
                    set_derived(txn, now, row.id, Some(&c.outcome), d).await?;
                    done.changed += 1;
                }
            }
            None => {
                retention_records::Entity::insert(retention_records::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    record_type: Set(c.record_type.as_str().to_owned()),
                    record_id: Set(c.record_id),
                    programme: Set(c.record_type.programme().as_str().to_owned()),
                    reference: Set(c.reference.clone()),
                    outcome: Set(c.outcome.clone()),
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
                })
                .exec_without_returning(txn)
                .await?;
                done.added += 1;
            }
        }
    }
    // records open again (a stay reopened, a participant's new placement)
    for (key, row) in &existing {
        if seen.contains(key) || row.list_id.is_some() {
            continue;
        }
        if row.legal_hold {
            // the hold stays; the record has no date while it is open
            let open = Derived {
                rule_id: row.rule_id,
                closed_on: None,
                nominatie: None,
                date: None,
            };
            if row.closed_on.is_some() {
                set_derived(txn, now, row.id, None, &open).await?;
                done.changed += 1;
            }
        } else {
            retention_records::Entity::delete_by_id(row.id)
                .exec(txn)
                .await?;
            done.dropped += 1;
        }
    }
    Ok(done)
}

async fn set_derived(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    id: Uuid,
    outcome: Option<&str>,
    d: &Derived,
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

/// Which index entries a list shows.
#[derive(Debug, Default, Clone)]
pub struct RecordFilter {
    pub record_type: Option<RecordType>,
    /// Entries whose `archiefactiedatum` is on or before this date.
    pub due_by: Option<NaiveDate>,
    pub archiefstatus: Option<Archiefstatus>,
    pub legal_hold: Option<bool>,
}

/// A page of index entries by id.
#[tracing::instrument(skip_all)]
pub async fn list_records(
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
    if let Some(after) = after {
        q = q.filter(C::Id.gt(after));
    }
    q.order_by_asc(C::Id).limit(fetch).all(db).await
}

#[tracing::instrument(skip_all)]
pub async fn record(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<retention_records::Model>, DbErr> {
    retention_records::Entity::find_by_id(id).one(db).await
}

/// The entries of `ids`, in any order.
pub async fn records_in(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<retention_records::Model>, DbErr> {
    retention_records::Entity::find()
        .filter(retention_records::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}
