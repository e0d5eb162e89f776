//! A check-in recorded, as the handler calls it: one transaction that
//! writes the outcome (the check-in's version always moves) and the note
//! sealed under the defender's key, and answers the note kept (a kept note
//! shown is a read, audited as one).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{
    model::CheckInOutcome,
    sight, store,
    vault::{self, Field},
};
use crate::{
    accounts::access::Caller,
    audit::{self, Event},
    db::begin_write,
    entities::check_ins,
    http::{if_match_version, problem::ApiError},
    versioned::Changes,
    AppState,
};

/// A recorded check-in as it now stands.
pub(crate) struct Recorded {
    pub id: Uuid,
    pub due_on: NaiveDate,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
    pub version: i32,
}

/// Records `outcome` (and `note`, when given; left out, the earlier note is
/// kept) for check-in `check_in_id` of stay `stay_id`, at the version
/// `if_match` names.
pub(crate) async fn record(
    state: &AppState,
    caller: &Caller,
    (stay_id, check_in_id): (Uuid, Uuid),
    if_match: Option<&str>,
    outcome: CheckInOutcome,
    note: Option<String>,
) -> Result<Recorded, ApiError> {
    let found = sight::stay_in_full(state, caller, stay_id).await?;
    let key = found.data_key(&state.keys)?;
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let existing = store::find_check_in(&txn, stay_id, check_in_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let expected = if_match_version(if_match, existing.version)?;
    let mut changes = Changes::<check_ins::Entity>::new();
    changes.set(
        "outcome",
        check_ins::Column::Outcome,
        Some(outcome.as_str()),
    );
    changes.also(check_ins::Column::RecordedBy, Some(caller.actor_id));
    if note.is_some() {
        let sealed = vault::seal_opt(&key, Field::CheckInNote, existing.id, note.as_deref());
        changes.set("note", check_ins::Column::NoteEnc, sealed);
    }
    let ctx = found.audit(&state.keys, caller)?;
    // the outcome is always written: the check-in's version always moves
    let version = store::record_check_in(&txn, &ctx, now, existing.id, expected, changes)
        .await?
        .map_or(expected, |row| row.version);
    // the answer shows the note kept: a read of it, audited as one
    let note = match note {
        Some(n) => Some(n),
        None if existing.note_enc.is_some() => {
            let read = Event::new("read", 200)
                .on("check_in", existing.id)
                .fields(vec!["note"]);
            audit::record(&txn, now, &ctx, read).await?;
            let sealed = existing.note_enc.as_deref();
            vault::open_opt(&key, Field::CheckInNote, existing.id, sealed)?
        }
        None => None,
    };
    txn.commit().await?;
    Ok(Recorded {
        id: existing.id,
        due_on: existing.due_on,
        note,
        at: now,
        version,
    })
}
