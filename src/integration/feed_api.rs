//! The event feed for systems that pull: the outbox in commit order,
//! resumable from any cursor, limited to the channels the client's scopes
//! cover. A cursor holds the reader's place in each stream it reads (the
//! stream numbers have no gaps), never the global sequence: a reader of the
//! exchange stream cannot count or time stays events through its gaps.

use std::collections::BTreeMap;

use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, ApiResponse, OpenApi};

use super::{
    outbox::{EventBody, Kanaal, Stream},
    views::{EventFeedPage, FeedEvent},
};
use crate::{
    accounts::{access::Caller, model::Scope},
    http::{
        pagination::{encode_cursor, PageRequest},
        problem::{ApiError, ApiResult},
        Tag,
    },
    AppState,
};

/// The scope that reads a stream.
fn scope_of(stream: Stream) -> Scope {
    match stream {
        Stream::Stays => Scope::StaysRead,
        Stream::Exchange => Scope::ExchangeRead,
    }
}

/// A feed cursor: for each stream the caller read, the number of the last
/// event it saw there. Readers see only stream numbers, which have no gaps,
/// never the global sequence.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Position {
    #[serde(rename = "s")]
    streams: BTreeMap<String, i64>,
}

/// What `after` may hold: a position, or a cursor of the earlier format
/// (a global sequence number), which is answered like an expired cursor.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
enum AnyCursor {
    Position(Position),
    Global(#[allow(dead_code, reason = "only its shape is recognised")] i64),
}

#[derive(ApiResponse)]
pub enum FeedResponse {
    /// Events after the cursor, oldest first.
    #[oai(status = 200)]
    Ok(Json<EventFeedPage>),
}

pub struct EventFeedApi;

#[OpenApi(tag = "Tag::Integration")]
impl EventFeedApi {
    /// Read the events that followed a cursor, in commit order.
    ///
    /// Start without `after` to read from the first event; store `next` and
    /// pass it as `after` to resume without gaps or repeats. Only channels
    /// the client's scopes cover are shown (`stays` needs `stays.read`, the
    /// exchange channels `exchange.read`); secret stays are in no channel.
    /// A cursor of the feed's earlier format answers `feed-cursor-expired`.
    #[oai(path = "/events", method = "get", operation_id = "listEvents")]
    async fn list_events(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        /// A cursor from an earlier page (`next`, or an event's `cursor`).
        #[oai(validator(max_length = 512))]
        after: Query<Option<String>>,
        /// Only this channel.
        kanaal: Query<Option<Kanaal>>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<FeedResponse> {
        let page = PageRequest::<AnyCursor>::parse_named(limit.0, after.0.as_deref(), "after")?;
        let streams: Vec<Stream> = Stream::ALL
            .iter()
            .copied()
            .filter(|s| caller.has_scope(scope_of(*s)))
            .collect();
        if let Some(k) = kanaal.0 {
            if !streams.contains(&k.stream()) {
                return Err(ApiError::typed(
                    crate::http::problem::ProblemType::InsufficientScope,
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
                    crate::http::problem::ProblemType::FeedCursorExpired,
                    "This cursor is of the feed's earlier format and no longer valid; read the feed from its start and fetch the resources to reconcile.",
                ))
            }
        };
        // a position in a stream the caller no longer reads is dropped
        position
            .streams
            .retain(|name, _| streams.iter().any(|s| s.as_str() == name));
        let mut rows = Vec::new();
        for stream in &streams {
            let kanalen: Vec<&str> = Kanaal::ALL
                .iter()
                .filter(|k| k.stream() == *stream)
                .filter(|k| kanaal.0.is_none_or(|only| only == **k))
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
                if let Some(oldest) = super::store::oldest_in_stream(&state.db, *stream).await? {
                    if oldest > start + 1 {
                        return Err(ApiError::typed(
                            crate::http::problem::ProblemType::FeedCursorExpired,
                            format!(
                                "Events after this cursor are older than the feed window ({} days) and were removed; read the feed from its start and fetch the resources to reconcile.",
                                state.config.webhooks.feed_window.num_days()
                            ),
                        ));
                    }
                }
            }
            rows.extend(super::store::feed(&state.db, *stream, start, kanalen, fetch).await?);
        }
        // each stream's next events, merged in commit order
        rows.sort_by_key(|r| r.seq);
        let more = rows.len() > page.limit as usize;
        let mut items: Vec<FeedEvent> = Vec::new();
        for r in rows.iter().take(page.limit as usize) {
            // an event that does not read back is a failure, not a gap in the feed
            let Some(event) = EventBody::from_row(r, &state.config.public_url) else {
                tracing::error!(seq = r.seq, "a stored outbox event does not parse");
                return Err(crate::http::problem::ApiError::internal());
            };
            position.streams.insert(r.stream.clone(), r.stream_seq);
            items.push(FeedEvent {
                cursor: encode_cursor(&position)?,
                event,
            });
        }
        let next = encode_cursor(&position)?;
        Ok(FeedResponse::Ok(Json(EventFeedPage { items, next, more })))
    }
}
