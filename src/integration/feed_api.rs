//! The event feed for systems that pull: the outbox in commit order,
//! resumable from any cursor, limited to the channels the client's scopes
//! cover.

use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, ApiResponse, OpenApi};

use super::{
    outbox::{EventBody, Kanaal},
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

/// The scope that shows a channel in the feed.
fn scope_of(kanaal: Kanaal) -> Scope {
    match kanaal {
        Kanaal::Stays => Scope::StaysRead,
        _ => Scope::ExchangeRead,
    }
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
    /// exchange channels `exchange.read`).
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
        let page = PageRequest::<i64>::parse_named(limit.0, after.0.as_deref(), "after")?;
        let visible: Vec<&str> = Kanaal::ALL
            .iter()
            .filter(|k| caller.has_scope(scope_of(**k)))
            .filter(|k| kanaal.0.is_none_or(|only| only == **k))
            .map(|k| k.as_str())
            .collect();
        if let Some(k) = kanaal.0 {
            if visible.is_empty() {
                return Err(ApiError::typed(
                    crate::http::problem::ProblemType::InsufficientScope,
                    format!(
                        "The {} channel needs the {} scope.",
                        k.as_str(),
                        scope_of(k).as_str()
                    ),
                ));
            }
        }
        let start = page.after.unwrap_or(0).max(0);
        // the outbox has no gaps: an event missing after the cursor was pruned
        if start > 0 {
            if let Some(oldest) = super::store::oldest_event(&state.db).await? {
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
        let rows = super::store::feed(&state.db, start, visible, page.fetch_limit()).await?;
        let more = rows.len() > page.limit as usize;
        let mut items: Vec<FeedEvent> = Vec::new();
        for r in rows.iter().take(page.limit as usize) {
            // an event that does not read back is a failure, not a gap in the feed
            let Some(event) = EventBody::from_row(r, &state.config.public_url) else {
                tracing::error!(seq = r.seq, "a stored outbox event does not parse");
                return Err(crate::http::problem::ApiError::internal());
            };
            items.push(FeedEvent {
                cursor: encode_cursor(&r.seq)?,
                event,
            });
        }
        let next = match items.last() {
            Some(i) => i.cursor.clone(),
            None => encode_cursor(&start)?,
        };
        Ok(FeedResponse::Ok(Json(EventFeedPage { items, next, more })))
    }
}
