//! The event feed for systems that pull: the outbox in commit order,
//! resumable from any cursor, limited to the channels the client's scopes
//! cover. A cursor holds the reader's place in each stream it reads (the
//! stream numbers have no gaps), never the global sequence: a reader of the
//! exchange stream cannot count or time stays events through its gaps.

use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, ApiResponse, OpenApi};

use super::{feed, outbox::Kanaal, views::EventFeedPage};
use crate::{
    accounts::access::Caller,
    http::{pagination::PageRequest, problem::ApiResult, Tag},
    AppState,
};

/// The scope that reads a stream.
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
        let page = PageRequest::parse_named(limit.0, after.0.as_deref(), "after")?;
        let streams = feed::readable_streams(&caller);
        let page = feed::read(*state, &streams, page, kanaal.0).await?;
        Ok(FeedResponse::Ok(Json(page)))
    }
}
