//! Stay summaries: reference, status and dates, for the Shelter City roles
//! and for API clients with `stays.read`. Nothing here identifies a
//! defender; a client's reads are audited all the same.

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use uuid::Uuid;

use super::{
    model::StayStatus,
    store,
    views::{StaySummary, StaySummaryList},
};
use crate::{
    accounts::access::Caller,
    audit::{self, Actor, Event},
    entities::stays,
    http::{
        pagination::PageRequest,
        problem::{ApiError, ApiResult},
        Tag,
    },
    AppState,
};

#[derive(ApiResponse)]
pub enum SummaryResponse {
    /// The stay's summary.
    #[oai(status = 200)]
    Ok(Json<StaySummary>),
}

fn summary_view(s: stays::Model) -> Result<StaySummary, ApiError> {
    Ok(StaySummary {
        id: s.id,
        reference: s.reference,
        status: StayStatus::stored(&s.status, "stays.status")?,
        planned_arrival: s.planned_arrival,
        planned_departure: s.planned_departure,
        actual_arrival: s.actual_arrival,
        actual_departure: s.actual_departure,
        updated_at: s.updated_at.into(),
    })
}

/// API clients' reads are audited (staff see summaries unaudited, as in the stay list).
async fn audit_client_read(
    state: &AppState,
    caller: &Caller,
    ctx: &audit::Context,
    event: Event<'_>,
) -> Result<(), ApiError> {
    if matches!(caller.actor, Actor::Client(_)) {
        audit::record_alone(&state.audit, state.clock.now(), ctx, event).await?;
    }
    Ok(())
}

pub struct StaySummariesApi;

#[OpenApi(tag = "Tag::Stays")]
impl StaySummariesApi {
    /// List stay summaries (reference, status, dates), newest first.
    #[oai(
        path = "/stay-summaries",
        method = "get",
        operation_id = "listStaySummaries"
    )]
    async fn list_stay_summaries(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        status: Query<Option<StayStatus>>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<StaySummaryList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let visible = super::sight::visible_stays(&caller);
        let rows =
            store::stay_summaries(&state.db, visible, status.0, page.after, page.fetch_limit())
                .await?;
        let rows = page.cut(rows, |r| r.id)?;
        audit_client_read(
            &state,
            &caller,
            &caller.audit,
            Event::new("stay_summaries.listed", 200).fields(vec!["summary"]),
        )
        .await?;
        Ok(StaySummaryList::page(
            rows.try_map(summary_view)?,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Show a stay's summary (reference, status, dates).
    #[oai(
        path = "/stay-summaries/:id",
        method = "get",
        operation_id = "getStaySummary"
    )]
    async fn get_stay_summary(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<SummaryResponse> {
        let visible = super::sight::visible_stays(&caller);
        let stay = store::stay_summary(&state.db, visible, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        // a client's reason is about this stay's defender: sealed under its
        // key (looked up only then: staff reads are not audited here)
        let ctx = match matches!(caller.actor, Actor::Client(_)) && caller.audit.has_reason() {
            true => match store::defender(&state.db, stay.defender_id).await? {
                Some(d) => super::sight::defender_audit(&state, &caller, &d).await?,
                None => caller.audit.clone(),
            },
            false => caller.audit.clone(),
        };
        audit_client_read(
            &state,
            &caller,
            &ctx,
            Event::new("read", 200)
                .on("stay", stay.id)
                .fields(vec!["summary"]),
        )
        .await?;
        Ok(SummaryResponse::Ok(Json(summary_view(stay)?)))
    }
}
