//! Executing approved destruction lists, in the background: one replica at
//! a time per list (a lease in the database), one record per transaction
//! (a crash destroys nothing twice and loses no report entry: an item is
//! marked destroyed in the transaction that destroys it), and a report kept
//! for good whose hash goes into the audit chain.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter,
};
use serde::Serialize;
use uuid::Uuid;

use super::{
    eligibility::Refusal,
    model::{period_of, CaseProgramme, ItemStatus, ListStatus, Processing, RecordType},
    port::Container,
    store,
};
use crate::{
    audit::{self, Actor, Event},
    db::begin_write,
    entities::{destruction_list_items, destruction_lists, destruction_reports, retention_records},
    AppState,
};

/// How long a replica holds a list it executes before another may take over.
pub const LEASE: TimeDelta = TimeDelta::minutes(5);

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Executed {
    pub lists: u64,
    pub records: u64,
}

/// One destroyed record in a report.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportItem {
    pub record_type: String,
    pub record_id: Uuid,
    pub reference: Option<String>,
    pub outcome: String,
    pub selectielijstklasse: String,
    pub closed_on: Option<NaiveDate>,
    pub archiefactiedatum: Option<NaiveDate>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub destroyed_at: Option<DateTime<Utc>>,
    /// For a stay or placement destroyed with its defender or participant:
    /// the record id of that defender or participant.
    #[serde(default)]
    pub part_of: Option<Uuid>,
}

/// Records destroyed per record type and period (the year they closed).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollUp {
    pub record_type: String,
    pub period: String,
    pub records: u64,
}

/// A destruction report: what was destroyed, on whose review and approval.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub list_id: Uuid,
    pub list_name: String,
    pub author: Uuid,
    pub reviewers: Vec<Uuid>,
    pub approved_by: Option<Uuid>,
    pub approved_at: Option<DateTime<Utc>>,
    pub executed_at: DateTime<Utc>,
    pub items: Vec<ReportItem>,
    pub roll_up: Vec<RollUp>,
}

fn report_of(
    list: &destruction_lists::Model,
    items: &[destruction_list_items::Model],
    executed_at: DateTime<Utc>,
) -> Report {
    let done: Vec<&destruction_list_items::Model> = items
        .iter()
        .filter(|i| i.processing == Processing::Succeeded.as_str())
        .collect();
    let mut reviewers: Vec<Uuid> = done.iter().filter_map(|i| i.reviewed_by).collect();
    reviewers.sort();
    reviewers.dedup();
    let mut roll: BTreeMap<(String, String), u64> = BTreeMap::new();
    for i in &done {
        *roll
            .entry((i.record_type.clone(), period_of(i.closed_on)))
            .or_default() += 1;
    }
    Report {
        list_id: list.id,
        list_name: list.name.clone(),
        author: list.author_id,
        reviewers,
        approved_by: list.approved_by,
        approved_at: list.approved_at,
        executed_at,
        items: done
            .iter()
            .map(|i| ReportItem {
                part_of: i
                    .container_item_id
                    .and_then(|c| items.iter().find(|x| x.id == c))
                    .map(|c| c.record_id),
                record_type: i.record_type.clone(),
                record_id: i.record_id,
                reference: i.reference.clone(),
                outcome: i.outcome.clone(),
                selectielijstklasse: i.selectielijstklasse.clone(),
                closed_on: i.closed_on,
                archiefactiedatum: i.archiefactiedatum,
                reviewed_by: i.reviewed_by,
                reviewed_at: i.reviewed_at,
                destroyed_at: i.destroyed_at,
            })
            .collect(),
        roll_up: roll
            .into_iter()
            .map(|((record_type, period), records)| RollUp {
                record_type,
                period,
                records,
            })
            .collect(),
    }
}

/// Takes (or renews) the lease on a list; `false` when another replica holds it.
async fn claim(state: &AppState, list: Uuid, now: DateTime<Utc>) -> Result<bool, DbErr> {
    use destruction_lists::Column as C;
    let me = state.instance.to_string();
    let done = destruction_lists::Entity::update_many()
        .col_expr(C::LeaseHolder, Expr::value(Some(me.clone())))
        .col_expr(C::LeaseUntil, Expr::value(Some(now + LEASE)))
        .filter(C::Id.eq(list))
        .filter(C::Status.eq(ListStatus::ReadyToDelete.as_str()))
        .filter(
            sea_orm::Condition::any()
                .add(C::LeaseUntil.is_null())
                .add(C::LeaseUntil.lt(now))
                .add(C::LeaseHolder.eq(me)),
        )
        .exec(&state.db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// The owner's view of the record an item names, in this transaction:
/// the container (defender or participant) it is, or belongs to.
async fn container_of(
    txn: &DatabaseTransaction,
    record_type: RecordType,
    record_id: Uuid,
) -> Result<Option<Container>, DbErr> {
    match record_type {
        RecordType::Defender => crate::shelter::retention::container(txn, record_id).await,
        RecordType::Participant => crate::exchange::retention::container(txn, record_id).await,
        RecordType::Placement => {
            match crate::exchange::retention::participant_of(txn, record_id).await? {
                Some(p) => crate::exchange::retention::container(txn, p).await,
                None => Ok(None),
            }
        }
        RecordType::Stay => Ok(None),
    }
}

/// Destroys one item's record, in one transaction with its report entry.
/// The record and every part of it are checked again first, through the
/// owner's port: anything open, reopened, held or kept stays, and leaves
/// the list, with the refusal on record.
async fn destroy_item(
    state: &AppState,
    list: &destruction_lists::Model,
    item_id: Uuid,
) -> Result<(), DbErr> {
    let now = state.clock.now();
    let today = now.date_naive();
    let txn = begin_write(&state.db).await?;
    let Some(item) = destruction_list_items::Entity::find_by_id(item_id)
        .one(&txn)
        .await?
        .filter(|i| {
            i.processing != Processing::Succeeded.as_str()
                && i.status == ItemStatus::Suggested.as_str()
        })
    else {
        txn.rollback().await?;
        return Ok(());
    };
    let mut ctx = audit::Context::new(state.keys.audit.clone());
    ctx.actor = list.approved_by.map(Actor::Staff);
    let record_type = RecordType::stored(&item.record_type, "destruction_list_items.record_type")?;
    // the index as the owner says it stands now, written in this transaction
    let container = container_of(&txn, record_type, item.record_id).await?;
    if let Some(c) = &container {
        store::sync(&txn, now, c).await?;
    }
    let row = store::record(&txn, item.record_row_id).await?;
    let refused = match (&container, &row) {
        (Some(c), Some(row)) if c.gone.is_none() => {
            store::refusals(&txn, std::slice::from_ref(row), today, Some(list.id))
                .await?
                .pop()
                .flatten()
        }
        _ => Some(Refusal::Destroyed),
    };
    if let Some(refusal) = refused {
        // it stays (or is gone already): off the list, and on record why
        store::take_off(&txn, now, &item, None).await?;
        audit::record(
            &txn,
            now,
            &ctx,
            Event::new("record.destruction_refused", 409)
                .on("record", item.record_row_id)
                .fields(vec![refusal.code()]),
        )
        .await?;
        txn.commit().await?;
        return Ok(());
    }
    let Some(row) = row else {
        return Err(DbErr::Custom("an index entry vanished".into()));
    };
    let parts = store::parts_of(&txn, &[row.record_id]).await?;
    // the entries first: the owner's erasure then finds nothing to release
    let mut rows: Vec<&retention_records::Model> = vec![&row];
    rows.extend(parts.iter());
    store::mark_destroyed(&txn, now, &rows).await?;
    match record_type {
        RecordType::Defender => {
            crate::shelter::retention::destroy(&txn, &ctx, now, item.record_id)
                .await
                .map_err(|e| match e {
                    crate::versioned::WriteError::Db(e) => e,
                    crate::versioned::WriteError::Stale => {
                        DbErr::Custom("the defender changed during its destruction".into())
                    }
                })?;
        }
        RecordType::Participant => {
            crate::exchange::retention::destroy(&txn, &ctx, now, item.record_id).await?;
        }
        RecordType::Placement => {
            crate::exchange::retention::destroy_placement(&txn, &ctx, now, item.record_id).await?;
            // its participant's entry moves with it
            if let Some(c) = &container {
                crate::exchange::retention::sync(&txn, now, c.id).await?;
            }
        }
        RecordType::Stay => {
            return Err(DbErr::Custom(
                "a stay is destroyed with its defender".into(),
            ));
        }
    }
    destruction_list_items::Entity::update_many()
        .col_expr(
            destruction_list_items::Column::Processing,
            Expr::value(Processing::Succeeded.as_str()),
        )
        .col_expr(
            destruction_list_items::Column::DestroyedAt,
            Expr::value(Some(now)),
        )
        .filter(destruction_list_items::Column::Id.eq(item.id))
        .exec(&txn)
        .await?;
    // what went with it is accounted for, item by item
    for p in &parts {
        if p.list_id == Some(list.id) {
            // on this list as an item of its own (an older list): that item
            // is the one that accounts for it
            use destruction_list_items::Column as I;
            destruction_list_items::Entity::update_many()
                .col_expr(I::Processing, Expr::value(Processing::Succeeded.as_str()))
                .col_expr(I::DestroyedAt, Expr::value(Some(now)))
                .col_expr(I::ContainerItemId, Expr::value(Some(item.id)))
                .filter(I::ListId.eq(list.id))
                .filter(I::RecordRowId.eq(p.id))
                .exec(&txn)
                .await?;
            continue;
        }
        destruction_list_items::Entity::insert(destruction_list_items::ActiveModel {
            id: Set(Uuid::now_v7()),
            list_id: Set(list.id),
            record_row_id: Set(p.id),
            record_type: Set(p.record_type.clone()),
            record_id: Set(p.record_id),
            programme: Set(p.programme.clone()),
            reference: Set(p.reference.clone()),
            outcome: Set(p.outcome.clone()),
            selectielijstklasse: Set(item.selectielijstklasse.clone()),
            closed_on: Set(p.closed_on),
            archiefactiedatum: Set(p.archiefactiedatum),
            status: Set(ItemStatus::Suggested.as_str().to_owned()),
            decision: Set(None),
            keep_until: Set(None),
            reviewed_by: Set(item.reviewed_by),
            reviewed_at: Set(item.reviewed_at),
            processing: Set(Processing::Succeeded.as_str().to_owned()),
            destroyed_at: Set(Some(now)),
            created_at: Set(now),
            secret: Set(p.secret),
            container_item_id: Set(Some(item.id)),
        })
        .exec_without_returning(&txn)
        .await?;
    }
    audit::record(
        &txn,
        now,
        &ctx,
        Event::new("record.destroyed", 204).on("record", item.record_row_id),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Writes the report, moves the list to `deleted` and records the report's hash.
async fn finish(state: &AppState, list_id: Uuid) -> Result<(), DbErr> {
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let Some(list) = store::list(&txn, list_id)
        .await?
        .filter(|l| l.status == ListStatus::ReadyToDelete.as_str())
    else {
        txn.rollback().await?;
        return Ok(());
    };
    let items = store::all_items(&txn, list.id).await?;
    let report = report_of(&list, &items, now);
    let body = serde_json::to_string(&report).map_err(|e| DbErr::Custom(e.to_string()))?;
    let sha = crate::crypto::sha256_hex(body.as_bytes());
    destruction_reports::Entity::insert(destruction_reports::ActiveModel {
        list_id: Set(list.id),
        body: Set(body),
        sha256: Set(sha.clone()),
        created_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    use destruction_lists::Column as C;
    destruction_lists::Entity::update_many()
        .col_expr(C::Status, Expr::value(ListStatus::Deleted.as_str()))
        .col_expr(C::ExecutedAt, Expr::value(Some(now)))
        .col_expr(C::ReportSha256, Expr::value(Some(sha.clone())))
        .col_expr(C::LeaseHolder, Expr::value(Option::<String>::None))
        .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::Version, Expr::value(list.version + 1))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(list.id))
        .exec(&txn)
        .await?;
    let mut ctx = audit::Context::new(state.keys.audit.clone());
    ctx.actor = list.approved_by.map(Actor::Staff);
    audit::record(
        &txn,
        now,
        &ctx,
        Event::new("destruction_list.deleted", 200)
            .on("destruction_list", list.id)
            .fields(vec!["status"]),
    )
    .await?;
    // the report's hash, in the chain: a report changed later no longer matches
    audit::record(
        &txn,
        now,
        &ctx,
        Event::new("destruction_report.created", 201).on("destruction_report", &sha),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(list = %list.id, report_sha256 = %sha, records = report.items.len(), "destruction list executed");
    Ok(())
}

/// Executes every list whose waiting period has passed. `stop_after`
/// records, the run stops as if the process died (tests of resumption).
pub async fn execute_due(state: &AppState, stop_after: Option<u64>) -> Result<Executed, DbErr> {
    let now = state.clock.now();
    let due = destruction_lists::Entity::find()
        .filter(destruction_lists::Column::Status.eq(ListStatus::ReadyToDelete.as_str()))
        .filter(destruction_lists::Column::ExecuteAfter.lte(now))
        .all(&state.db)
        .await?;
    let mut done = Executed::default();
    let (mut shelter_destroyed, mut exchange_destroyed) = (false, false);
    for list in due {
        if !claim(state, list.id, state.clock.now()).await? {
            continue;
        }
        let pending: Vec<Uuid> = store::all_items(&state.db, list.id)
            .await?
            .into_iter()
            .filter(|i| {
                i.status == ItemStatus::Suggested.as_str()
                    && i.processing != Processing::Succeeded.as_str()
            })
            .map(|i| i.id)
            .collect();
        let mut lost = false;
        for item in pending {
            if stop_after.is_some_and(|n| done.records >= n) {
                return Ok(done);
            }
            // the lease is renewed before each record: lost (another replica
            // took over after a stall), this one leaves the list to it
            if !claim(state, list.id, state.clock.now()).await? {
                lost = true;
                break;
            }
            destroy_item(state, &list, item).await?;
            done.records += 1;
        }
        if lost {
            continue;
        }
        finish(state, list.id).await?;
        done.lists += 1;
        // a run cut short before its purge is made good by the one that finishes
        for i in store::all_items(&state.db, list.id).await? {
            if i.processing == Processing::Succeeded.as_str() {
                match RecordType::parse(&i.record_type).map(|t| t.programme()) {
                    Some(CaseProgramme::Shelter) => shelter_destroyed = true,
                    Some(CaseProgramme::Exchange) => exchange_destroyed = true,
                    None => {}
                }
            }
        }
    }
    // old row versions of what was destroyed are purged from the files:
    // learners' as well as defenders' (docs/retention.md)
    if shelter_destroyed {
        crate::db::purge_after_erasure(&state.db, crate::shelter::retention::DESTROYED_TABLES)
            .await;
    }
    if exchange_destroyed {
        crate::db::purge_after_erasure(&state.db, crate::exchange::retention::DESTROYED_TABLES)
            .await;
    }
    Ok(done)
}

/// The stored report of an executed list.
pub async fn report(
    db: &impl ConnectionTrait,
    list_id: Uuid,
) -> Result<Option<destruction_reports::Model>, DbErr> {
    destruction_reports::Entity::find_by_id(list_id)
        .one(db)
        .await
}

/// Runs [`execute_due`] every `CASEDESK_DESTRUCTION_POLL_SECONDS`, supervised.
pub fn spawn(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    let every = state.config.destruction_poll_interval;
    let (_, handle) = crate::supervise::supervise(
        "destruction lists",
        std::time::Duration::from_secs(1),
        move || {
            let state = state.clone();
            async move {
                let mut tick = tokio::time::interval(every);
                // `interval` ticks at once: the first round comes one interval
                // after start, like every later one
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = execute_due(&state, None).await {
                        tracing::warn!(error = %e, "executing destruction lists failed; trying again later");
                    }
                }
            }
        },
    );
    handle
}
