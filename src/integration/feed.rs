//! The event feed read by an API client: each stream the client's scopes
//! cover (a secret stay is in none), resumed from a position that holds one
//! number per stream, merged in commit order. A position behind the feed
//! window, or of the earlier global format, is expired.

use std::collections::BTreeMap;

use super::{
    outbox::{EventBody, Kanaal, Stream},
    store,
    views::{EventFeedPage, FeedEvent},
};
use crate::{
    accounts::{access::Caller, model::Scope},
    http::{
        pagination::{encode_cursor, PageRequest},
        problem::{ApiError, ProblemType},
    },
    AppState,
};

fn scope_of(stream: Stream) -> Scope {
    stream.read_scope()
}

/// A feed cursor: for each stream the caller read, the number of the last
/// event it saw there. Readers see only stream numbers, which have no gaps,
/// never the global sequence.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Position {
    #[serde(rename = "s")]
    streams: BTreeMap<String, i64>,
}

/// What `after` may hold: a position, or a cursor of the earlier format
/// (a global sequence number), which is answered like an expired cursor.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum AnyCursor {
    Position(Position),
    Global(#[allow(dead_code, reason = "only its shape is recognised")] i64),
}

/// The streams `caller`'s scopes cover.
pub(crate) fn readable_streams(caller: &Caller) -> Vec<Stream> {
    super::subscriptions::streams_of(&caller.scopes)
}

/// The page of `streams` (of one channel, if `kanaal`) after `page`'s cursor.
pub(crate) async fn read(
    state: &AppState,
    streams: &[Stream],
    page: PageRequest<AnyCursor>,
    kanaal: Option<Kanaal>,
) -> Result<EventFeedPage, ApiError> {
    if let Some(k) = kanaal {
        if !streams.contains(&k.stream()) {
            return Err(ApiError::typed(
                ProblemType::InsufficientScope,
                format!(
                    "The {} channel needs the {} scope.",
                    k.as_str(),
                    scope_of(k.stream()).as_str()
                ),
            ));
        }
    }
    let fetch = page.fetch_limit();
    let mut position = match page.after {
        None => Position::default(),
        Some(AnyCursor::Position(p)) => p,
        Some(AnyCursor::Global(_)) => {
            return Err(ApiError::typed(
                ProblemType::FeedCursorExpired,
                "This cursor is of the feed's earlier format and no longer valid; read the feed from its start and fetch the resources to reconcile.",
            ))
        }
    };
    // a position in a stream the caller no longer reads is dropped
    position
        .streams
        .retain(|name, _| streams.iter().any(|s| s.as_str() == name));
    let mut rows = Vec::new();
    for stream in streams {
        let kanalen: Vec<&str> = Kanaal::ALL
            .iter()
            .filter(|k| k.stream() == *stream)
            .filter(|k| kanaal.is_none_or(|only| only == **k))
            .map(|k| k.as_str())
            .collect();
        if kanalen.is_empty() {
            continue;
        }
        let start = position
            .streams
            .get(stream.as_str())
            .copied()
            .unwrap_or(0)
            .max(0);
        // a stream has no gaps: an event missing after the cursor was pruned
        if start > 0 {
            if let Some(oldest) = store::oldest_in_stream(&state.db, *stream).await? {
                if oldest > start + 1 {
                    return Err(ApiError::typed(
                        ProblemType::FeedCursorExpired,
                        format!(
                            "Events after this cursor are older than the feed window ({} days) and were removed; read the feed from its start and fetch the resources to reconcile.",
                            state.config.webhooks.feed_window.num_days()
                        ),
                    ));
                }
            }
        }
        rows.extend(store::feed(&state.db, *stream, start, kanalen, fetch).await?);
    }
    // each stream's next events, merged in commit order
    rows.sort_by_key(|r| r.seq);
    let more = rows.len() > page.limit as usize;
    let mut items: Vec<FeedEvent> = Vec::new();
    for r in rows.iter().take(page.limit as usize) {
        // an event that does not read back is a failure, not a gap in the feed
        let Some(event) = EventBody::from_row(r, &state.config.public_url) else {
            tracing::error!(seq = r.seq, "a stored outbox event does not parse");
            return Err(ApiError::internal());
        };
        position.streams.insert(r.stream.clone(), r.stream_seq);
        items.push(FeedEvent {
            cursor: encode_cursor(&position)?,
            event,
        });
    }
    let next = encode_cursor(&position)?;
    Ok(EventFeedPage { items, next, more })
}
