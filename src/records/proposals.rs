//! A destruction list proposed, as the handler calls it: the records named
//! or found by a filter, each checked (one problem per record, all at once),
//! written as a new list by its author in one transaction.

use chrono::NaiveDate;
use uuid::Uuid;

use super::{eligibility::Refusal, model::RecordType, store};
use crate::{
    accounts::{access::Caller, model::Role},
    db::begin_write,
    entities::{destruction_lists, retention_records},
    http::problem::{ApiError, InvalidParam},
    AppState,
};

/// Which records a proposal takes.
pub(crate) enum Selection<'a> {
    /// These index entries, each of which must be eligible.
    Named(&'a [Uuid]),
    /// Every eligible record due by `due_by` (of one type, if given).
    Due {
        record_type: Option<RecordType>,
        due_by: NaiveDate,
    },
}

/// Whether the caller may learn that secret records exist: shelter
/// coordinators (the staff assigned to a secret stay hold no records role).
pub(crate) fn sees_secret(caller: &Caller) -> bool {
    caller.has(Role::ShelterCoordinator)
}

/// Proposes the list `name` of the records `selection` takes, authored by
/// the caller.
pub(crate) async fn propose(
    state: &AppState,
    caller: &Caller,
    name: String,
    selection: Selection<'_>,
) -> Result<destruction_lists::Model, ApiError> {
    let now = state.clock.now();
    let today = now.date_naive();
    let secret_visible = sees_secret(caller);
    let txn = begin_write(&state.db).await?;
    let rows = match selection {
        Selection::Named(ids) => {
            let mut rows = store::records_in(&txn, ids).await?;
            // a secret record does not exist for whoever may not see it
            rows.retain(|r| !r.secret || secret_visible);
            let refused = store::refusals(&txn, &rows, today, None).await?;
            let problems = named_problems(ids, &rows, &refused);
            if !problems.is_empty() {
                return Err(ApiError::invalid(problems));
            }
            rows
        }
        Selection::Due {
            record_type,
            due_by,
        } => {
            let rows = store::eligible(&txn, record_type, due_by, today, secret_visible).await?;
            if rows.len() > store::MAX_ITEMS {
                return Err(ApiError::field(
                    "filter",
                    "too_many",
                    format!(
                        "takes more than {} records; narrow it (dueBy, recordType)",
                        store::MAX_ITEMS
                    ),
                ));
            }
            rows
        }
    };
    if rows.is_empty() {
        return Err(ApiError::field(
            "records",
            "empty",
            "no record is due for destruction",
        ));
    }
    let author = caller.actor_id;
    let list = store::create_list(&txn, &caller.audit, now, author, name, &rows).await?;
    txn.commit().await?;
    Ok(list)
}

/// Every problem of the records a proposal names, by position: not an
/// index entry (or one the caller may not see), not eligible, a part whose
/// container is proposed too (it is destroyed with it), named twice.
pub(crate) fn named_problems(
    ids: &[Uuid],
    rows: &[retention_records::Model],
    refused: &[Option<Refusal>],
) -> Vec<InvalidParam> {
    let mut problems = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let name = format!("records[{n}]");
        match rows.iter().position(|r| r.id == *id) {
            None => problems.push(InvalidParam::new(
                name.clone(),
                "not_found",
                "is not an archive record",
            )),
            Some(at) => match &refused[at] {
                Some(r) => problems.push(InvalidParam::new(name.clone(), r.code(), r.reason())),
                // a placement whose participant is proposed goes with them
                None if rows[at].container_id.is_some_and(|c| {
                    rows.iter()
                        .any(|r| r.record_id == c && r.container_id.is_none())
                }) =>
                {
                    problems.push(InvalidParam::new(
                        name.clone(),
                        "part_proposed",
                        "belongs to a participant on this proposal: it is destroyed with them",
                    ))
                }
                None => {}
            },
        }
        if ids[..n].contains(id) {
            problems.push(InvalidParam::new(name, "duplicate", "is named twice"));
        }
    }
    problems
}
