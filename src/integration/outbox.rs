//! The transactional outbox: every change to a stay, placement, participant,
//! institution or agreement writes one event row in the transaction of the
//! change, so an event exists if and only if its change committed.
//!
//! Events carry ids and non-personal attributes (`kenmerken`) only; a
//! receiver fetches the resource with its own credentials. Sequence numbers
//! are assigned under the same lock that orders the audit chain, so they are
//! gap-free and in commit order: a reader resuming after number `n` misses
//! nothing. Each event also has a number within its *stream* (the events
//! one scope reads), gap-free too: the feed shows readers only those, so a
//! reader of one stream learns nothing of the others' events. A secret stay
//! writes no event at all (see `shelter::store::notify_stay`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{entities::outbox_events, http::types::Timestamp, text::text_enum};

text_enum!(
    /// A notification channel (VNG Notificaties `kanaal`).
    Kanaal {
        Stays => "stays",
        Placements => "placements",
        Participants => "participants",
        Institutions => "institutions",
        Agreements => "agreements",
    }
);

text_enum!(
    /// What happened to the resource (VNG Notificaties `actie`).
    Actie {
        Create => "create",
        Update => "update",
        Destroy => "destroy",
        StatusChange => "status_change",
    }
);

text_enum!(
    /// Who may read an event: each stream is read with one scope, and has a
    /// sequence of its own without gaps (see the feed).
    Stream {
        Stays => "stays",
        Exchange => "exchange",
    }
);

impl Stream {
    /// The scope an API client reads the stream with.
    pub fn read_scope(self) -> crate::accounts::model::Scope {
        use crate::accounts::model::Scope;
        match self {
            Stream::Stays => Scope::StaysRead,
            Stream::Exchange => Scope::ExchangeRead,
        }
    }
}

impl Kanaal {
    /// The stream the channel's events belong to.
    pub fn stream(self) -> Stream {
        match self {
            Kanaal::Stays => Stream::Stays,
            Kanaal::Placements
            | Kanaal::Participants
            | Kanaal::Institutions
            | Kanaal::Agreements => Stream::Exchange,
        }
    }

    /// The resource name in events.
    pub fn resource(self) -> &'static str {
        match self {
            Kanaal::Stays => "stay",
            Kanaal::Placements => "placement",
            Kanaal::Participants => "participant",
            Kanaal::Institutions => "institution",
            Kanaal::Agreements => "agreement",
        }
    }

    /// Where an API client fetches the resource: for stays the summary,
    /// which is all an integration may see of one.
    pub fn collection_path(self) -> &'static str {
        match self {
            Kanaal::Stays => "stay-summaries",
            Kanaal::Placements => "placements",
            Kanaal::Participants => "participants",
            Kanaal::Institutions => "institutions",
            Kanaal::Agreements => "agreements",
        }
    }

    /// The `kenmerken` a subscription may filter on. Each is a coded,
    /// non-personal attribute.
    pub fn kenmerken(self) -> &'static [&'static str] {
        match self {
            Kanaal::Stays => &["status"],
            Kanaal::Placements => &[
                "status",
                "programme",
                "direction",
                "kind",
                "educationLevel",
                "country",
                "year",
            ],
            Kanaal::Participants => &["educationLevel"],
            Kanaal::Institutions => &["kind", "country", "sisterCity"],
            Kanaal::Agreements => &["programme", "status"],
        }
    }
}

/// An event about to be written.
#[derive(Debug, Clone)]
pub struct Notification {
    pub kanaal: Kanaal,
    pub actie: Actie,
    pub resource_id: Uuid,
    pub kenmerken: BTreeMap<String, String>,
}

impl Notification {
    pub fn new(kanaal: Kanaal, actie: Actie, resource_id: Uuid) -> Self {
        Self {
            kanaal,
            actie,
            resource_id,
            kenmerken: BTreeMap::new(),
        }
    }

    /// Adds an attribute; only the names [`Kanaal::kenmerken`] lists are kept
    /// (the list is what keeps personal data out).
    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        if self.kanaal.kenmerken().contains(&name) {
            self.kenmerken.insert(name.to_owned(), value.to_string());
        }
        self
    }
}

/// The lock that orders audit events and outbox events alike (PostgreSQL;
/// SQLite's write transactions are serial anyway).
const WRITE_ORDER_LOCK: crate::db::AdvisoryLock = crate::db::AdvisoryLock::WriteOrder;

/// Writes the event inside the change's transaction.
pub async fn emit(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    n: Notification,
) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&WRITE_ORDER_LOCK.xact_sql()).await?;
    }
    let last = last_seq(txn).await?;
    let stream = n.kanaal.stream();
    let stream_last = last_stream_seq(txn, stream).await?;
    let kenmerken = serde_json::to_string(&n.kenmerken).unwrap_or_else(|_| "{}".to_owned());
    outbox_events::Entity::insert(outbox_events::ActiveModel {
        seq: Set(last + 1),
        stream: Set(stream.as_str().to_owned()),
        stream_seq: Set(stream_last + 1),
        id: Set(Uuid::now_v7()),
        kanaal: Set(n.kanaal.as_str().to_owned()),
        resource: Set(n.kanaal.resource().to_owned()),
        resource_id: Set(n.resource_id),
        actie: Set(n.actie.as_str().to_owned()),
        kenmerken: Set(kenmerken),
        created_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    wake();
    Ok(())
}

/// The highest sequence number written so far (0 when none).
pub async fn last_seq(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let last: Option<i64> = outbox_events::Entity::find()
        .select_only()
        .column(outbox_events::Column::Seq)
        .order_by_desc(outbox_events::Column::Seq)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.unwrap_or(0))
}

/// The highest number written in a stream so far (0 when none).
pub async fn last_stream_seq(db: &impl ConnectionTrait, stream: Stream) -> Result<i64, DbErr> {
    let last: Option<i64> = outbox_events::Entity::find()
        .select_only()
        .column(outbox_events::Column::StreamSeq)
        .filter(outbox_events::Column::Stream.eq(stream.as_str()))
        .order_by_desc(outbox_events::Column::StreamSeq)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.unwrap_or(0))
}

/// An event as webhooks and the feed carry it: the VNG Notificaties shape,
/// plus the event's own id for receivers that must tell repeats apart.
#[derive(Debug, Clone, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct EventBody {
    /// The event's id; a redelivered event keeps it.
    pub id: Uuid,
    pub kanaal: Kanaal,
    /// The URL of the main object.
    pub hoofd_object: String,
    /// The kind of resource that changed.
    pub resource: String,
    /// The URL of the resource that changed.
    pub resource_url: String,
    pub actie: Actie,
    /// When the change was committed.
    pub aanmaakdatum: Timestamp,
    /// Coded, non-personal attributes of the resource (such as `status`), for filtering.
    pub kenmerken: BTreeMap<String, String>,
}

impl EventBody {
    pub fn from_row(row: &outbox_events::Model, public_url: &url::Url) -> Option<Self> {
        let kanaal = Kanaal::parse(&row.kanaal)?;
        let url = format!(
            "{}{}/{}/{}",
            public_url.as_str().trim_end_matches('/'),
            crate::http::API_BASE,
            kanaal.collection_path(),
            row.resource_id
        );
        Some(Self {
            id: row.id,
            kanaal,
            hoofd_object: url.clone(),
            resource: row.resource.clone(),
            resource_url: url,
            actie: Actie::parse(&row.actie)?,
            aanmaakdatum: row.created_at.into(),
            kenmerken: serde_json::from_str(&row.kenmerken).ok()?,
        })
    }
}

static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Tells this process's delivery worker that an event may be waiting.
pub fn wake() {
    WAKE.notify_one();
}

/// Resolves when [`wake`] is called (one waiter: the delivery worker).
pub fn woken() -> tokio::sync::futures::Notified<'static> {
    WAKE.notified()
}
