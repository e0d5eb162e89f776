//! Destruction lists: proposed by a records officer, reviewed per item by
//! the coordinator of each item's programme, approved, waited for, and
//! executed (see `records::execution`). Open Archiefbeheer's process.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    entities::{destruction_list_items, destruction_lists, retention_records, retention_rules},
    records::{
        eligibility::{refusal, Refusal},
        list_rules::{self, Facts, Step},
        model::{
            Archiefnominatie, CaseProgramme, Decision, ItemStatus, ListStatus, Processing,
            RecordType,
        },
    },
    text::Corrupt,
    versioned::{self, Changes},
};

/// The record types that hold others (their entries are found by type and id).
const CONTAINERS: [&str; 2] = ["defender", "participant"];

/// Why a change of a destruction list or of an index entry was not made.
/// `records::api` says each as the problem the API answers.
#[derive(Debug)]
pub(crate) enum ListError {
    /// The list's state machine refused the move.
    Refused(list_rules::Refusal),
    /// The author of a list does not review it.
    AuthorReviews,
    /// Only a list ready to review takes reviews; this one is in the status named.
    NotReadyToReview(String),
    /// Review decisions that cannot be taken: every one, with its field.
    Decisions(Vec<DecisionProblem>),
    /// A destroyed record has nothing left to hold.
    Destroyed,
    /// Only a list in `new` is edited; this one is in the status named.
    NotEditable(String),
    /// The list changed since the version given: nothing was written.
    Stale,
    /// No such item (suggested, on this list).
    NotFound,
    /// The list's row was not written although it was locked (internal).
    Lost,
    /// The versioned write of an entry or a list failed.
    Write(versioned::WriteError),
    Db(DbErr),
    Corrupt(Corrupt),
}

impl From<DbErr> for ListError {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

impl From<Corrupt> for ListError {
    fn from(e: Corrupt) -> Self {
        Self::Corrupt(e)
    }
}

impl From<versioned::WriteError> for ListError {
    fn from(e: versioned::WriteError) -> Self {
        Self::Write(e)
    }
}

/// One review decision that cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecisionProblem {
    /// `decisions[n].item` or `decisions[n].keepUntil`.
    pub field: String,
    pub code: &'static str,
    pub detail: &'static str,
}

/// The most records one list may hold.
pub(crate) const MAX_ITEMS: usize = 1000;

/// Why each of `rows` may not be destroyed (proposed when `list` is
/// `None`, executed by `list` otherwise), from the entries of their parts
/// and containers; `None` where it may.
pub(crate) async fn refusals(
    db: &impl ConnectionTrait,
    rows: &[retention_records::Model],
    today: NaiveDate,
    list: Option<Uuid>,
) -> Result<Vec<Option<Refusal>>, DbErr> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.record_id).collect();
    let parts = super::parts_of(db, &ids).await?;
    let container_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.container_id).collect();
    let containers = if container_ids.is_empty() {
        Vec::new()
    } else {
        retention_records::Entity::find()
            .filter(retention_records::Column::RecordType.is_in(CONTAINERS))
            .filter(retention_records::Column::RecordId.is_in(container_ids))
            .filter(retention_records::Column::ContainerId.is_null())
            .all(db)
            .await?
    };
    Ok(rows
        .iter()
        .map(|r| {
            let mine: Vec<retention_records::Model> = parts
                .iter()
                .filter(|p| p.container_id == Some(r.record_id))
                .cloned()
                .collect();
            let container = r
                .container_id
                .and_then(|c| containers.iter().find(|x| x.record_id == c));
            refusal(r, &mine, container, today, list)
        })
        .collect())
}

/// The entries a filter proposes: due, destroyable, not held or listed,
/// nothing of theirs held, kept, open or listed; secret ones only for a
/// caller who may see them. At most `MAX_ITEMS + 1` (more is too many).
pub(crate) async fn eligible(
    db: &impl ConnectionTrait,
    record_type: Option<RecordType>,
    due_by: NaiveDate,
    today: NaiveDate,
    secret_visible: bool,
) -> Result<Vec<retention_records::Model>, DbErr> {
    use retention_records::Column as C;
    let mut q = retention_records::Entity::find()
        .filter(C::Archiefactiedatum.lte(std::cmp::min(due_by, today)))
        .filter(C::DestroyedAt.is_null())
        .filter(C::LegalHold.eq(false))
        .filter(C::ListId.is_null())
        .filter(C::Archiefnominatie.eq(Archiefnominatie::Vernietigen.as_str()))
        .filter(C::RecordType.ne(RecordType::Stay.as_str()));
    if let Some(t) = record_type {
        q = q.filter(C::RecordType.eq(t.as_str()));
    }
    if !secret_visible {
        q = q.filter(C::Secret.eq(false));
    }
    let rows = q
        .order_by_asc(C::Id)
        .limit(MAX_ITEMS as u64 + 1)
        .all(db)
        .await?;
    let refused = refusals(db, &rows, today, None).await?;
    let rows: Vec<retention_records::Model> = rows
        .into_iter()
        .zip(refused)
        .filter(|(_, r)| r.is_none())
        .map(|(row, _)| row)
        .collect();
    // a placement whose participant is proposed too goes with them
    let containers: std::collections::HashSet<Uuid> = rows
        .iter()
        .filter(|r| r.container_id.is_none())
        .map(|r| r.record_id)
        .collect();
    Ok(rows
        .into_iter()
        .filter(|r| !r.container_id.is_some_and(|c| containers.contains(&c)))
        .collect())
}

/// Makes a list of `rows` (each already checked with [`ineligible`]).
pub(crate) async fn create_list(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    author: Uuid,
    name: String,
    rows: &[retention_records::Model],
) -> Result<destruction_lists::Model, DbErr> {
    let list = versioned::insert(
        txn,
        audit,
        now,
        destruction_lists::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name),
            status: Set(ListStatus::New.as_str().to_owned()),
            author_id: Set(author),
            submitted_at: Set(None),
            approved_by: Set(None),
            approved_at: Set(None),
            execute_after: Set(None),
            lease_holder: Set(None),
            lease_until: Set(None),
            executed_at: Set(None),
            report_sha256: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        },
        |m| Event::new("destruction_list.created", 201).on("destruction_list", m.id),
    )
    .await?;
    let classes: std::collections::HashMap<Uuid, String> = retention_rules::Entity::find()
        .all(txn)
        .await?
        .into_iter()
        .map(|r| (r.id, r.selectielijstklasse))
        .collect();
    for row in rows {
        destruction_list_items::Entity::insert(destruction_list_items::ActiveModel {
            id: Set(Uuid::now_v7()),
            list_id: Set(list.id),
            record_row_id: Set(row.id),
            record_type: Set(row.record_type.clone()),
            record_id: Set(row.record_id),
            programme: Set(row.programme.clone()),
            reference: Set(row.reference.clone()),
            outcome: Set(row.outcome.clone()),
            selectielijstklasse: Set(row
                .rule_id
                .and_then(|r| classes.get(&r).cloned())
                .unwrap_or_default()),
            closed_on: Set(row.closed_on),
            archiefactiedatum: Set(row.archiefactiedatum),
            status: Set(ItemStatus::Suggested.as_str().to_owned()),
            decision: Set(None),
            keep_until: Set(None),
            reviewed_by: Set(None),
            reviewed_at: Set(None),
            processing: Set(Processing::New.as_str().to_owned()),
            destroyed_at: Set(None),
            created_at: Set(now),
            secret: Set(row.secret),
            container_item_id: Set(None),
        })
        .exec_without_returning(txn)
        .await?;
    }
    retention_records::Entity::update_many()
        .col_expr(
            retention_records::Column::ListId,
            Expr::value(Some(list.id)),
        )
        .filter(retention_records::Column::Id.is_in(rows.iter().map(|r| r.id)))
        .exec(txn)
        .await?;
    Ok(list)
}

/// A page of lists by id; for a reviewer only those holding an item of
/// their programmes.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_lists(
    db: &impl ConnectionTrait,
    programmes: Option<&[CaseProgramme]>,
    secret_visible: bool,
    after: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<destruction_lists::Model>, DbErr> {
    use destruction_lists::Column as C;
    let mut q = destruction_lists::Entity::find();
    if !secret_visible {
        q = q.filter(C::Id.not_in_subquery(secret_lists()));
    }
    if let Some(programmes) = programmes {
        let ids: Vec<Uuid> = destruction_list_items::Entity::find()
            .select_only()
            .column(destruction_list_items::Column::ListId)
            .distinct()
            .filter(
                destruction_list_items::Column::Programme
                    .is_in(programmes.iter().map(|p| p.as_str())),
            )
            .into_tuple()
            .all(db)
            .await?;
        q = q.filter(C::Id.is_in(ids));
    }
    if let Some(after) = after {
        q = q.filter(C::Id.gt(after));
    }
    q.order_by_asc(C::Id).limit(fetch).all(db).await
}

pub(crate) async fn list(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<destruction_lists::Model>, DbErr> {
    destruction_lists::Entity::find_by_id(id).one(db).await
}

/// The lists holding an item of a secret record: only those who may see
/// secret records learn they exist.
fn secret_lists() -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(destruction_list_items::Column::ListId)
        .from(destruction_list_items::Entity)
        .and_where(destruction_list_items::Column::Secret.eq(true))
        .to_owned()
}

/// Whether a list holds an item of a secret record.
pub(crate) async fn holds_secret(db: &impl ConnectionTrait, list_id: Uuid) -> Result<bool, DbErr> {
    Ok(destruction_list_items::Entity::find()
        .filter(destruction_list_items::Column::ListId.eq(list_id))
        .filter(destruction_list_items::Column::Secret.eq(true))
        .one(db)
        .await?
        .is_some())
}

/// A page of a list's items by id, only of `programmes` when given.
pub(crate) async fn items(
    db: &impl ConnectionTrait,
    list_id: Uuid,
    programmes: Option<&[CaseProgramme]>,
    after: Option<Uuid>,
    fetch: u64,
) -> Result<Vec<destruction_list_items::Model>, DbErr> {
    use destruction_list_items::Column as C;
    let mut q = destruction_list_items::Entity::find().filter(C::ListId.eq(list_id));
    if let Some(programmes) = programmes {
        q = q.filter(C::Programme.is_in(programmes.iter().map(|p| p.as_str())));
    }
    if let Some(after) = after {
        q = q.filter(C::Id.gt(after));
    }
    q.order_by_asc(C::Id).limit(fetch).all(db).await
}

pub(crate) async fn all_items(
    db: &impl ConnectionTrait,
    list_id: Uuid,
) -> Result<Vec<destruction_list_items::Model>, DbErr> {
    items(db, list_id, None, None, u64::MAX >> 1).await
}

fn status_of(m: &destruction_lists::Model) -> Result<ListStatus, Corrupt> {
    ListStatus::stored(&m.status, "destruction_lists.status")
}

fn suggested(
    items: &[destruction_list_items::Model],
) -> impl Iterator<Item = &destruction_list_items::Model> {
    items
        .iter()
        .filter(|i| i.status == ItemStatus::Suggested.as_str())
}

/// Moves the list to `to` at version `expected`, with `also` set, recording it.
async fn set_status(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    list: &destruction_lists::Model,
    expected: i32,
    to: ListStatus,
    also: Vec<(destruction_lists::Column, sea_orm::Value)>,
) -> Result<destruction_lists::Model, ListError> {
    let mut changes: Changes<destruction_lists::Entity> = Changes::new();
    changes.set("status", destruction_lists::Column::Status, to.as_str());
    for (c, v) in also {
        changes.also(c, v);
    }
    versioned::update(
        txn,
        audit,
        now,
        list.id,
        expected,
        changes,
        Event::new("destruction_list.status_changed", 200).on("destruction_list", list.id),
    )
    .await?
    .ok_or(ListError::Lost)
}

/// Clears every review decision of a list's items.
async fn clear_reviews(txn: &DatabaseTransaction, list_id: Uuid) -> Result<(), DbErr> {
    use destruction_list_items::Column as C;
    destruction_list_items::Entity::update_many()
        .col_expr(C::Decision, Expr::value(Option::<String>::None))
        .col_expr(C::KeepUntil, Expr::value(Option::<NaiveDate>::None))
        .col_expr(C::ReviewedBy, Expr::value(Option::<Uuid>::None))
        .col_expr(C::ReviewedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(C::ListId.eq(list_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Takes an item off its list: the record may be proposed again (with the
/// reviewer's later date, if one was given).
pub(crate) async fn take_off(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    item: &destruction_list_items::Model,
    keep_until: Option<NaiveDate>,
) -> Result<(), DbErr> {
    destruction_list_items::Entity::update_many()
        .col_expr(
            destruction_list_items::Column::Status,
            Expr::value(ItemStatus::Removed.as_str()),
        )
        .filter(destruction_list_items::Column::Id.eq(item.id))
        .exec(txn)
        .await?;
    let Some(row) = super::record(txn, item.record_row_id).await? else {
        return Ok(());
    };
    super::release(txn, now, &row, keep_until).await?;
    if keep_until.is_some() {
        // the keep moves its date, and that of whatever holds it
        super::rederive(txn, now, Some(row.container_id.unwrap_or(row.record_id))).await?;
    }
    Ok(())
}

/// What a list moves to once every item has a decision.
fn after_review(items: &[destruction_list_items::Model]) -> Option<ListStatus> {
    let mut all_decided = true;
    let mut changes = false;
    for i in suggested(items) {
        match i.decision.as_deref().and_then(Decision::parse) {
            None => all_decided = false,
            Some(Decision::Accept) => {}
            Some(_) => changes = true,
        }
    }
    all_decided.then_some(if changes {
        ListStatus::ChangesRequested
    } else {
        ListStatus::InternallyReviewed
    })
}

/// Moves a list as its author or archivist asks. `waiting` is the period
/// between approval and execution.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn change_status(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    caller: Uuid,
    list: &destruction_lists::Model,
    expected: i32,
    to: ListStatus,
    waiting: chrono::Duration,
) -> Result<destruction_lists::Model, ListError> {
    let from = status_of(list)?;
    let items = all_items(txn, list.id).await?;
    let facts = Facts {
        author: list.author_id,
        execute_after: list.execute_after,
        execution_begun: items
            .iter()
            .any(|i| i.processing == Processing::Succeeded.as_str()),
        holds_records: suggested(&items).next().is_some(),
        caller_reviewed: items.iter().any(|i| i.reviewed_by == Some(caller)),
    };
    let step = list_rules::step(from, to, &facts, caller, now).map_err(ListError::Refused)?;
    let none_ts = || sea_orm::Value::from(Option::<DateTime<Utc>>::None);
    match step {
        Step::Abort => {
            // before any record is destroyed, the list goes back to its author
            clear_reviews(txn, list.id).await?;
            set_status(
                txn,
                audit,
                now,
                list,
                expected,
                to,
                vec![
                    (
                        destruction_lists::Column::ApprovedBy,
                        Option::<Uuid>::None.into(),
                    ),
                    (destruction_lists::Column::ApprovedAt, none_ts()),
                    (destruction_lists::Column::ExecuteAfter, none_ts()),
                    (destruction_lists::Column::SubmittedAt, none_ts()),
                ],
            )
            .await
        }
        Step::Submit { after_changes } => {
            let mut to = to;
            if after_changes {
                // the author takes the reviewers' requested changes
                for i in suggested(&items) {
                    match i.decision.as_deref().and_then(Decision::parse) {
                        Some(Decision::Keep) => take_off(txn, now, i, i.keep_until).await?,
                        Some(Decision::Remove) => take_off(txn, now, i, None).await?,
                        _ => {}
                    }
                }
                let left = all_items(txn, list.id).await?;
                if suggested(&left).next().is_none() {
                    to = ListStatus::New;
                } else if after_review(&left) == Some(ListStatus::InternallyReviewed) {
                    to = ListStatus::InternallyReviewed;
                }
            } else {
                clear_reviews(txn, list.id).await?;
            }
            set_status(
                txn,
                audit,
                now,
                list,
                expected,
                to,
                vec![(destruction_lists::Column::SubmittedAt, Some(now).into())],
            )
            .await
        }
        Step::ToArchivist => set_status(txn, audit, now, list, expected, to, Vec::new()).await,
        Step::Approve => {
            set_status(
                txn,
                audit,
                now,
                list,
                expected,
                to,
                vec![
                    (destruction_lists::Column::ApprovedBy, Some(caller).into()),
                    (destruction_lists::Column::ApprovedAt, Some(now).into()),
                    (
                        destruction_lists::Column::ExecuteAfter,
                        Some(now + waiting).into(),
                    ),
                ],
            )
            .await
        }
    }
}

/// One reviewer's decision on one item.
#[derive(Debug, Clone)]
pub(crate) struct ItemDecision {
    pub item: Uuid,
    pub decision: Decision,
    pub keep_until: Option<NaiveDate>,
}

/// Records a reviewer's decisions on items of their programmes; once every
/// item has one, the list moves on.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn review(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    reviewer: Uuid,
    programmes: &[CaseProgramme],
    list: &destruction_lists::Model,
    decisions: &[ItemDecision],
) -> Result<destruction_lists::Model, ListError> {
    if reviewer == list.author_id {
        return Err(ListError::AuthorReviews);
    }
    if status_of(list)? != ListStatus::ReadyToReview {
        return Err(ListError::NotReadyToReview(list.status.clone()));
    }
    let items = all_items(txn, list.id).await?;
    let today = now.date_naive();
    let mut problems = Vec::new();
    for (n, d) in decisions.iter().enumerate() {
        let name = |f: &str| format!("decisions[{n}].{f}");
        let item = items.iter().find(|i| i.id == d.item);
        match item {
            Some(i)
                if programmes.iter().any(|p| p.as_str() == i.programme)
                    && i.status == ItemStatus::Suggested.as_str() => {}
            // another programme's item does not exist for this reviewer
            _ => problems.push(DecisionProblem {
                field: name("item"),
                code: "not_found",
                detail: "is not an item of this list in your programme",
            }),
        }
        match (d.decision, d.keep_until) {
            (Decision::Keep, Some(k)) if k > today => {}
            (Decision::Keep, Some(_)) => problems.push(DecisionProblem {
                field: name("keepUntil"),
                code: "not_future",
                detail: "must be a date after today",
            }),
            (Decision::Keep, None) => problems.push(DecisionProblem {
                field: name("keepUntil"),
                code: "required",
                detail: "is required when the decision is keep",
            }),
            (_, Some(_)) => problems.push(DecisionProblem {
                field: name("keepUntil"),
                code: "not_allowed",
                detail: "is only given when the decision is keep",
            }),
            (_, None) => {}
        }
        if decisions[..n].iter().any(|e| e.item == d.item) {
            problems.push(DecisionProblem {
                field: name("item"),
                code: "duplicate",
                detail: "is decided twice",
            });
        }
    }
    if !problems.is_empty() {
        return Err(ListError::Decisions(problems));
    }
    for d in decisions {
        use destruction_list_items::Column as C;
        destruction_list_items::Entity::update_many()
            .col_expr(C::Decision, Expr::value(d.decision.as_str()))
            .col_expr(C::KeepUntil, Expr::value(d.keep_until))
            .col_expr(C::ReviewedBy, Expr::value(Some(reviewer)))
            .col_expr(C::ReviewedAt, Expr::value(Some(now)))
            .filter(C::Id.eq(d.item))
            .exec(txn)
            .await?;
    }
    audit::record(
        txn,
        now,
        audit,
        Event::new("destruction_list.reviewed", 200)
            .on("destruction_list", list.id)
            .fields(vec!["decisions"]),
    )
    .await?;
    let items = all_items(txn, list.id).await?;
    match after_review(&items) {
        Some(to) => set_status(txn, audit, now, list, list.version, to, Vec::new()).await,
        None => Ok(list.clone()),
    }
}

/// Places or lifts a legal hold on an index entry at version `expected`.
/// A held record leaves any list it is on, and no list takes it.
pub(crate) async fn set_hold(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    row: &retention_records::Model,
    expected: i32,
    hold: bool,
) -> Result<Option<retention_records::Model>, ListError> {
    if row.destroyed_at.is_some() {
        return Err(ListError::Destroyed);
    }
    let mut changes: Changes<retention_records::Entity> = Changes::new();
    if row.legal_hold != hold {
        changes.set("legalHold", retention_records::Column::LegalHold, hold);
    }
    let action = if hold {
        "record.legal_hold_placed"
    } else {
        "record.legal_hold_lifted"
    };
    let updated = versioned::update(
        txn,
        audit,
        now,
        row.id,
        expected,
        changes,
        Event::new(action, 200).on("record", row.id),
    )
    .await?;
    if updated.is_none() || !hold {
        return Ok(updated);
    }
    // held: it, whatever it holds and whatever holds it leave any list
    let mut related = vec![row.clone()];
    related.extend(super::parts_of(txn, &[row.record_id]).await?);
    if let Some(c) = row.container_id {
        related.extend(
            retention_records::Entity::find()
                .filter(retention_records::Column::RecordType.is_in(CONTAINERS))
                .filter(retention_records::Column::RecordId.eq(c))
                .filter(retention_records::Column::ContainerId.is_null())
                .all(txn)
                .await?,
        );
    }
    for r in related.iter().filter(|r| r.list_id.is_some()) {
        super::release(txn, now, r, None).await?;
    }
    Ok(super::record(txn, row.id).await?)
}

/// The list, locked until the transaction ends (PostgreSQL; a SQLite write
/// transaction is exclusive already), so that two reviews or status
/// changes of one list are applied one after the other.
pub(crate) async fn list_for_update(
    txn: &DatabaseTransaction,
    id: Uuid,
) -> Result<Option<destruction_lists::Model>, DbErr> {
    let mut q = destruction_lists::Entity::find_by_id(id);
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    q.one(txn).await
}

/// Destroyed records over all executed lists, as (record type, period, count).
pub(crate) async fn destruction_totals(
    db: &impl ConnectionTrait,
    secret_visible: bool,
) -> Result<Vec<(String, String, u64)>, DbErr> {
    let mut q = destruction_list_items::Entity::find();
    if !secret_visible {
        q = q.filter(destruction_list_items::Column::Secret.eq(false));
    }
    let rows: Vec<(String, Option<NaiveDate>)> = q
        .select_only()
        .column(destruction_list_items::Column::RecordType)
        .column(destruction_list_items::Column::ClosedOn)
        .filter(destruction_list_items::Column::Processing.eq(Processing::Succeeded.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    let mut totals: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for (t, closed) in rows {
        *totals
            .entry((t, crate::records::model::period_of(closed)))
            .or_default() += 1;
    }
    Ok(totals.into_iter().map(|((t, p), n)| (t, p, n)).collect())
}

/// Why a list in `status` may not be edited: only a list in `new` (never
/// submitted, or aborted back to its author) takes out items or goes.
fn editable(list: &destruction_lists::Model) -> Result<(), ListError> {
    if status_of(list)? != ListStatus::New {
        return Err(ListError::NotEditable(list.status.clone()));
    }
    Ok(())
}

/// Moves a list in `new` on a version at `expected`, so that an edit races
/// no other change (412 when it does).
async fn touch(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    list: &destruction_lists::Model,
    expected: i32,
) -> Result<(), ListError> {
    use destruction_lists::Column as C;
    let done = destruction_lists::Entity::update_many()
        .col_expr(C::Version, Expr::value(expected + 1))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(list.id))
        .filter(C::Version.eq(expected))
        .exec(txn)
        .await?;
    if done.rows_affected == 0 {
        return Err(ListError::Stale);
    }
    Ok(())
}

/// Takes one item out of a list in `new`: its record may be proposed again.
pub(crate) async fn remove_item(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    list: &destruction_lists::Model,
    expected: i32,
    item_id: Uuid,
) -> Result<(), ListError> {
    editable(list)?;
    let item = destruction_list_items::Entity::find_by_id(item_id)
        .filter(destruction_list_items::Column::ListId.eq(list.id))
        .filter(destruction_list_items::Column::Status.eq(ItemStatus::Suggested.as_str()))
        .one(txn)
        .await?
        .ok_or(ListError::NotFound)?;
    touch(txn, now, list, expected).await?;
    take_off(txn, now, &item, None).await?;
    audit::record(
        txn,
        now,
        audit,
        Event::new("destruction_list.item_removed", 204)
            .on("destruction_list", list.id)
            .fields(vec!["items"]),
    )
    .await?;
    Ok(())
}

/// Removes a list in `new` with its items: every record on it is free to
/// be proposed again. Nothing on it was destroyed (a list whose execution
/// began cannot be aborted back to `new`).
pub(crate) async fn remove_list(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    list: &destruction_lists::Model,
    expected: i32,
) -> Result<(), ListError> {
    editable(list)?;
    touch(txn, now, list, expected).await?;
    for item in suggested(&all_items(txn, list.id).await?) {
        take_off(txn, now, item, None).await?;
    }
    destruction_list_items::Entity::delete_many()
        .filter(destruction_list_items::Column::ListId.eq(list.id))
        .exec(txn)
        .await?;
    destruction_lists::Entity::delete_by_id(list.id)
        .exec(txn)
        .await?;
    audit::record(
        txn,
        now,
        audit,
        Event::new("destruction_list.removed", 204).on("destruction_list", list.id),
    )
    .await?;
    Ok(())
}
