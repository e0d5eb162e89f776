//! Building the archive index in full, once, when this build derives it
//! differently from the one that last built it (or never did): every
//! defender and participant is asked of its owner's port and written, in
//! batches. From then on the index moves with each change, in its
//! transaction (`records::port`).

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

use super::store::build;
use crate::db::begin_write;

/// How many containers one transaction writes.
const BATCH: u64 = 500;

/// The areas that own records, each asked through its retention port.
#[derive(Clone, Copy)]
enum Owner {
    Shelter,
    Exchange,
}

/// Builds the index unless this derivation built it already; returns how
/// many defenders and participants it wrote.
pub(crate) async fn ensure_built(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if build::done(db).await? {
        return Ok(0);
    }
    let mut written = 0;
    for owner in [Owner::Shelter, Owner::Exchange] {
        let mut after = None;
        loop {
            let ids = match owner {
                Owner::Shelter => crate::shelter::retention::ids(db, after, BATCH).await?,
                Owner::Exchange => crate::exchange::retention::ids(db, after, BATCH).await?,
            };
            let Some(last) = ids.last().copied() else {
                break;
            };
            let txn = begin_write(db).await?;
            for id in &ids {
                match owner {
                    Owner::Shelter => crate::shelter::retention::sync(&txn, now, *id).await?,
                    Owner::Exchange => crate::exchange::retention::sync(&txn, now, *id).await?,
                }
            }
            txn.commit().await?;
            written += ids.len() as u64;
            after = Some(last);
        }
    }
    build::record(db, now).await?;
    if written > 0 {
        tracing::info!(
            records = written,
            version = build::VERSION,
            "archive index built in full"
        );
    }
    Ok(written)
}
