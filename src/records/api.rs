//! The records lifecycle's operations: retention rules, the archiving index
//! with legal holds, destruction lists with their reviews, and reports.

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, Object, OpenApi, ResponseContent,
};
use uuid::Uuid;

use super::{
    execution,
    model::{Archiefstatus, CaseProgramme, RecordType, Term},
    proposals::{self, sees_secret},
    store::{self, ItemDecision, RecordFilter},
    views::{self, *},
};
use crate::{
    accounts::{access::Caller, model::Role},
    db::begin_write,
    entities::retention_rules,
    http::{
        body::JsonBody,
        csv::{to_csv_bytes, wants_csv, Csv},
        etag, if_match_version,
        pagination::PageRequest,
        problem::{ApiError, ApiResult, InvalidParam},
        Tag,
    },
    versioned::Changes,
    AppState,
};

crate::list_types!(
    RetentionRulePage,
    RetentionRuleList,
    RetentionRule,
    "retention rules"
);
crate::list_types!(
    ArchiveRecordPage,
    ArchiveRecordList,
    ArchiveRecord,
    "archive records"
);
crate::list_types!(
    DestructionListPage,
    DestructionListList,
    DestructionList,
    "destruction lists"
);
crate::list_types!(
    DestructionListItemPage,
    DestructionListItemList,
    DestructionListItem,
    "destruction list items"
);
crate::created_response!(DestructionListCreated, DestructionList, "destruction list");

#[derive(ApiResponse)]
pub enum RetentionRuleResponse {
    /// The rule.
    #[oai(status = 200)]
    Ok(Json<RetentionRule>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum ArchiveRecordResponse {
    /// The index entry.
    #[oai(status = 200)]
    Ok(Json<ArchiveRecord>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum Removed {
    /// Removed: the records it held may be proposed again.
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
pub enum DestructionListResponse {
    /// The list.
    #[oai(status = 200)]
    Ok(Json<DestructionList>, #[oai(header = "ETag")] String),
}

#[derive(ResponseContent)]
pub enum DestructionReportContent {
    Json(Json<DestructionReport>),
    Csv(Csv),
}

#[derive(ApiResponse)]
pub enum DestructionReportResponse {
    /// The report, as JSON or (with `Accept: text/csv`) its items as CSV.
    #[oai(status = 200)]
    Ok(DestructionReportContent),
}

/// A destruction list's refusal (or failure) as the problem the API answers.
impl From<store::ListError> for ApiError {
    fn from(e: store::ListError) -> Self {
        use crate::{http::problem::ProblemType as P, records::list_rules::Refusal as R};
        use store::ListError as E;
        match e {
            E::Refused(r) => {
                let kind = match r {
                    R::WaitingPeriod { .. } => P::WaitingPeriod,
                    R::Illegal { .. } => P::IllegalTransition,
                    R::AuthorApproves | R::ReviewerApproves => P::SeparationOfDuties,
                    R::BeingExecuted
                    | R::ExecutionBegun
                    | R::NothingToReview
                    | R::NothingToDestroy => P::Conflict,
                };
                ApiError::typed(kind, r.detail())
            }
            E::AuthorReviews => ApiError::typed(
                P::SeparationOfDuties,
                "The author of a destruction list does not review it: a coordinator who did not write it does.",
            ),
            E::NotReadyToReview(status) => ApiError::conflict(format!(
                "Only a list ready to review takes reviews; this one is {status}."
            )),
            E::Decisions(problems) => ApiError::invalid(
                problems
                    .into_iter()
                    .map(|p| InvalidParam::new(p.field, p.code, p.detail))
                    .collect(),
            ),
            E::Destroyed => {
                ApiError::conflict("The record is destroyed; nothing is left to hold.")
            }
            E::NotEditable(status) => ApiError::typed(
                P::IllegalTransition,
                format!("A list in status {status} is not edited; abort it first (status new)."),
            ),
            E::Stale => ApiError::typed(
                P::StaleVersion,
                "The list changed since that version; nothing was written.",
            ),
            E::NotFound => ApiError::not_found(),
            E::Lost => ApiError::internal(),
            E::Write(e) => e.into(),
            E::Db(e) => e.into(),
            E::Corrupt(c) => c.into(),
        }
    }
}

/// Destroyed records over all executed lists.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct DestructionTotals {
    pub items: Vec<DestructionTotal>,
}

#[derive(ResponseContent)]
pub enum DestructionTotalsContent {
    Json(Json<DestructionTotals>),
    Csv(Csv),
}

#[derive(ApiResponse)]
pub enum DestructionTotalsResponse {
    /// The totals, as JSON or (with `Accept: text/csv`) CSV.
    #[oai(status = 200)]
    Ok(DestructionTotalsContent),
}

/// The programmes whose items a caller reviews; `None` for a records
/// officer, who sees every list and item.
fn sight(caller: &Caller) -> Option<Vec<CaseProgramme>> {
    if caller.has(Role::RecordsOfficer) {
        return None;
    }
    Some(reviewed_programmes(caller))
}

fn reviewed_programmes(caller: &Caller) -> Vec<CaseProgramme> {
    let mut p = Vec::new();
    if caller.has(Role::ShelterCoordinator) {
        p.push(CaseProgramme::Shelter);
    }
    if caller.has(Role::ExchangeCoordinator) {
        p.push(CaseProgramme::Exchange);
    }
    p
}

/// The list, if the caller may see it (a reviewer: only with an item of theirs).
async fn visible_list(
    db: &impl sea_orm::ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> Result<crate::entities::destruction_lists::Model, ApiError> {
    let list = store::list(db, id).await?.ok_or_else(ApiError::not_found)?;
    // a list holding a secret record exists only for those who may see it
    if !sees_secret(caller) && store::holds_secret(db, id).await? {
        return Err(ApiError::not_found());
    }
    if let Some(programmes) = sight(caller) {
        if store::items(db, id, Some(&programmes), None, 1)
            .await?
            .is_empty()
        {
            return Err(ApiError::not_found());
        }
    }
    Ok(list)
}

fn rule_changes(
    body: &RetentionRuleUpdate,
    current: &retention_rules::Model,
) -> Result<Changes<retention_rules::Entity>, ApiError> {
    use retention_rules::Column as C;
    let mut changes = Changes::new();
    if let Some(n) = body.archiefnominatie {
        if n.as_str() != current.archiefnominatie {
            changes.set("archiefnominatie", C::Archiefnominatie, n.as_str());
        }
    }
    if let Some(t) = &body.term {
        let t = t.trim().to_ascii_uppercase();
        Term::parse(&t).map_err(|reason| ApiError::field("term", "invalid", reason))?;
        if t != current.term {
            changes.set("term", C::Term, t);
        }
    }
    if let Some(k) = &body.selectielijstklasse {
        let k = crate::text::parse_text(k, 200)
            .map_err(|reason| ApiError::field("selectielijstklasse", "invalid", reason))?;
        if k.is_empty() {
            return Err(ApiError::field(
                "selectielijstklasse",
                "required",
                "must not be empty",
            ));
        }
        if k != current.selectielijstklasse {
            changes.set("selectielijstklasse", C::Selectielijstklasse, k);
        }
    }
    Ok(changes)
}

pub struct RecordsApi;

#[OpenApi(tag = "Tag::Records")]
impl RecordsApi {
    /// List the retention rules: one per record type and outcome.
    #[oai(
        path = "/retention-rules",
        method = "get",
        operation_id = "listRetentionRules"
    )]
    async fn list_rules(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<RetentionRuleList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let rows = store::list_rules(&state.db, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        let items = rows.try_map(views::rule)?;
        Ok(RetentionRuleList::page(
            items,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Show a retention rule.
    #[oai(
        path = "/retention-rules/:id",
        method = "get",
        operation_id = "getRetentionRule"
    )]
    async fn get_rule(
        &self,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<RetentionRuleResponse> {
        let m = store::rule(&state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let tag = etag(m.version);
        Ok(RetentionRuleResponse::Ok(Json(views::rule(m)?), tag))
    }

    /// Change a retention rule (needs `If-Match`). The archiving dates of
    /// records not on a destruction list are derived again at once.
    #[oai(
        path = "/retention-rules/:id",
        method = "patch",
        operation_id = "updateRetentionRule"
    )]
    async fn update_rule(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the current version.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<RetentionRuleUpdate>,
    ) -> ApiResult<RetentionRuleResponse> {
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let current = store::rule(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), current.version)?;
        let changes = rule_changes(&body, &current)?;
        let updated = store::update_rule(&txn, &caller.audit, now, current.id, expected, changes)
            .await?
            .unwrap_or(current);
        store::rederive(&txn, now, None).await?;
        txn.commit().await?;
        let tag = etag(updated.version);
        Ok(RetentionRuleResponse::Ok(Json(views::rule(updated)?), tag))
    }

    /// List closed records with their archiving values (derived again first).
    #[oai(
        path = "/archive-records",
        method = "get",
        operation_id = "listArchiveRecords"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_records(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        #[oai(name = "recordType")] record_type: Query<Option<RecordType>>,
        /// Records whose `archiefactiedatum` is on or before this day.
        #[oai(name = "dueBy")]
        due_by: Query<Option<chrono::NaiveDate>>,
        archiefstatus: Query<Option<Archiefstatus>>,
        #[oai(name = "legalHold")] legal_hold: Query<Option<bool>>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<ArchiveRecordList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let filter = RecordFilter {
            record_type: record_type.0,
            due_by: due_by.0,
            archiefstatus: archiefstatus.0,
            legal_hold: legal_hold.0,
            secret_visible: sees_secret(&caller),
        };
        let rows = store::list_records(&state.db, &filter, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        let items = rows.try_map(views::record)?;
        Ok(ArchiveRecordList::page(
            items,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Show a record's archiving values.
    #[oai(
        path = "/archive-records/:id",
        method = "get",
        operation_id = "getArchiveRecord"
    )]
    async fn get_record(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<ArchiveRecordResponse> {
        let m = store::record(&state.db, id.0)
            .await?
            .filter(|m| !m.secret || sees_secret(&caller))
            .ok_or_else(ApiError::not_found)?;
        let tag = etag(m.version);
        Ok(ArchiveRecordResponse::Ok(Json(views::record(m)?), tag))
    }

    /// Place or lift a legal hold (needs `If-Match`; say why in
    /// `X-Audit-Reason`). A held record leaves any destruction list it is on.
    #[oai(
        path = "/archive-records/:id",
        method = "patch",
        operation_id = "updateArchiveRecord"
    )]
    async fn update_record(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the current version.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<ArchiveRecordUpdate>,
    ) -> ApiResult<ArchiveRecordResponse> {
        // the guard refuses a hold placed or lifted without X-Audit-Reason
        // (access::REASON_REQUIRED); this is the last line of that defence
        if !caller.audit.has_reason() {
            return Err(ApiError::field(
                "X-Audit-Reason",
                "required",
                "A legal hold is placed or lifted with a reason in X-Audit-Reason.",
            ));
        }
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let current = store::record(&txn, id.0)
            .await?
            .filter(|m| !m.secret || sees_secret(&caller))
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), current.version)?;
        let updated = match body.legal_hold {
            Some(hold) => {
                store::set_hold(&txn, &caller.audit, now, &current, expected, hold).await?
            }
            None => None,
        };
        let updated = match updated {
            Some(u) => u,
            None => store::record(&txn, id.0)
                .await?
                .ok_or_else(ApiError::not_found)?,
        };
        txn.commit().await?;
        let tag = etag(updated.version);
        Ok(ArchiveRecordResponse::Ok(
            Json(views::record(updated)?),
            tag,
        ))
    }

    /// Destroyed records over all executed lists, per record type and the
    /// year they closed.
    #[oai(
        path = "/destruction-totals",
        method = "get",
        operation_id = "destructionTotals"
    )]
    async fn totals(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
    ) -> ApiResult<DestructionTotalsResponse> {
        let items: Vec<DestructionTotal> =
            store::destruction_totals(&state.db, sees_secret(&caller))
                .await?
                .into_iter()
                .map(|(record_type, period, records)| DestructionTotal {
                    record_type,
                    period,
                    records,
                })
                .collect();
        if wants_csv(req) {
            let mut rows = vec![vec![
                "recordType".to_owned(),
                "period".to_owned(),
                "records".to_owned(),
            ]];
            rows.extend(items.iter().map(|t| {
                vec![
                    t.record_type.clone(),
                    t.period.clone(),
                    t.records.to_string(),
                ]
            }));
            return Ok(DestructionTotalsResponse::Ok(
                DestructionTotalsContent::Csv(Csv {
                    body: poem::Body::from(to_csv_bytes(&rows)),
                    filename: "destruction-totals.csv",
                }),
            ));
        }
        Ok(DestructionTotalsResponse::Ok(
            DestructionTotalsContent::Json(Json(DestructionTotals { items })),
        ))
    }
}

pub struct DestructionApi;

#[OpenApi(tag = "Tag::Records")]
impl DestructionApi {
    /// List destruction lists (a coordinator: those with items of their programme).
    #[oai(
        path = "/destruction-lists",
        method = "get",
        operation_id = "listDestructionLists"
    )]
    async fn list_lists(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<DestructionListList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let programmes = sight(&caller);
        let rows = store::list_lists(
            &state.db,
            programmes.as_deref(),
            sees_secret(&caller),
            page.after,
            page.fetch_limit(),
        )
        .await?;
        let rows = page.cut(rows, |r| r.id)?;
        let items = rows.try_map(views::list)?;
        Ok(DestructionListList::page(
            items,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Propose a destruction list: named records, or every due record a
    /// filter takes. Each must be due, to be destroyed, not held and on no
    /// other list; every record that is not is listed in one 400.
    #[oai(
        path = "/destruction-lists",
        method = "post",
        operation_id = "createDestructionList"
    )]
    async fn create_list(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<DestructionListProposal>,
    ) -> ApiResult<DestructionListCreated> {
        let name = crate::text::parse_text(&body.name, 200)
            .map_err(|reason| ApiError::field("name", "invalid", reason))?;
        let selection = match (&body.records, &body.filter) {
            (Some(ids), None) => proposals::Selection::Named(ids),
            (None, Some(f)) => proposals::Selection::Due {
                record_type: f.record_type,
                due_by: f.due_by,
            },
            _ => {
                return Err(ApiError::field(
                    "records",
                    "one_of",
                    "give either records or filter",
                ))
            }
        };
        let list = proposals::propose(*state, &caller, name, selection).await?;
        let tag = etag(list.version);
        let location = crate::http::resource_url(
            &state.config.public_url,
            &format!("/destruction-lists/{}", list.id),
        );
        Ok(DestructionListCreated::Created(
            Json(views::list(list)?),
            location,
            tag,
        ))
    }

    /// Show a destruction list.
    #[oai(
        path = "/destruction-lists/:id",
        method = "get",
        operation_id = "getDestructionList"
    )]
    async fn get_list(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<DestructionListResponse> {
        let list = visible_list(&state.db, &caller, id.0).await?;
        let tag = etag(list.version);
        Ok(DestructionListResponse::Ok(Json(views::list(list)?), tag))
    }

    /// List a destruction list's items (a coordinator: those of their programme).
    #[oai(
        path = "/destruction-lists/:id/items",
        method = "get",
        operation_id = "listDestructionListItems"
    )]
    async fn list_items(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        id: Path<Uuid>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<DestructionListItemList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        visible_list(&state.db, &caller, id.0).await?;
        let programmes = sight(&caller);
        let rows = store::items(
            &state.db,
            id.0,
            programmes.as_deref(),
            page.after,
            page.fetch_limit(),
        )
        .await?;
        let rows = page.cut(rows, |r| r.id)?;
        let items = rows.try_map(views::item)?;
        Ok(DestructionListItemList::page(
            items,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Move a list on (needs `If-Match`): `ready_to_review`, `ready_for_archivist`,
    /// `ready_to_delete` (approval: the waiting period starts) or `new` (abort).
    /// `deleted` is reached by the execution after the waiting period.
    #[oai(
        path = "/destruction-lists/:id/status-changes",
        method = "post",
        operation_id = "changeDestructionListStatus"
    )]
    async fn change_status(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the current version.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<DestructionListStatusChange>,
    ) -> ApiResult<DestructionListResponse> {
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let list = store::list_for_update(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), list.version)?;
        let waiting = state.config.destruction_waiting_period;
        let updated = store::change_status(
            &txn,
            &caller.audit,
            now,
            caller.actor_id,
            &list,
            expected,
            body.status,
            waiting,
        )
        .await?;
        txn.commit().await?;
        let tag = etag(updated.version);
        Ok(DestructionListResponse::Ok(
            Json(views::list(updated)?),
            tag,
        ))
    }

    /// Remove a list in status `new` (never submitted, or aborted): its
    /// records are free to be proposed again. Needs `If-Match`.
    #[oai(
        path = "/destruction-lists/:id",
        method = "delete",
        operation_id = "deleteDestructionList"
    )]
    async fn delete_list(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the current version.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<Removed> {
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        visible_list(&txn, &caller, id.0).await?;
        let list = store::list_for_update(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), list.version)?;
        store::remove_list(&txn, &caller.audit, now, &list, expected).await?;
        txn.commit().await?;
        Ok(Removed::Done)
    }

    /// Take one item out of a list in status `new`: its record may be
    /// proposed again. Needs the list's `If-Match`.
    #[oai(
        path = "/destruction-lists/:id/items/:itemId",
        method = "delete",
        operation_id = "removeDestructionListItem"
    )]
    async fn remove_item(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        #[oai(name = "itemId")] item_id: Path<Uuid>,
        /// The ETag of the list's current version.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<Removed> {
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        visible_list(&txn, &caller, id.0).await?;
        let list = store::list_for_update(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), list.version)?;
        store::remove_item(&txn, &caller.audit, now, &list, expected, item_id.0).await?;
        txn.commit().await?;
        Ok(Removed::Done)
    }

    /// Review the items of one's programme: accept, keep (with a later
    /// date) or remove. When every item has a decision the list moves to
    /// `internally_reviewed`, or to `changes_requested` for its author.
    #[oai(
        path = "/destruction-lists/:id/reviews",
        method = "post",
        operation_id = "reviewDestructionList"
    )]
    async fn review(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        body: JsonBody<DestructionListReview>,
    ) -> ApiResult<DestructionListResponse> {
        let now = state.clock.now();
        let programmes = reviewed_programmes(&caller);
        let txn = begin_write(&state.db).await?;
        visible_list(&txn, &caller, id.0).await?;
        let list = store::list_for_update(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let decisions: Vec<ItemDecision> = body
            .decisions
            .iter()
            .map(|d| ItemDecision {
                item: d.item,
                decision: d.decision,
                keep_until: d.keep_until,
            })
            .collect();
        let updated = store::review(
            &txn,
            &caller.audit,
            now,
            caller.actor_id,
            &programmes,
            &list,
            &decisions,
        )
        .await?;
        txn.commit().await?;
        let tag = etag(updated.version);
        Ok(DestructionListResponse::Ok(
            Json(views::list(updated)?),
            tag,
        ))
    }

    /// The destruction report of an executed list, kept for good.
    #[oai(
        path = "/destruction-lists/:id/report",
        method = "get",
        operation_id = "getDestructionReport"
    )]
    async fn report(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        id: Path<Uuid>,
    ) -> ApiResult<DestructionReportResponse> {
        visible_list(&state.db, &caller, id.0).await?;
        let stored = execution::report(&state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let r: execution::Report =
            crate::text::stored_json(&stored.body, "destruction_reports.body")?;
        if wants_csv(req) {
            return Ok(DestructionReportResponse::Ok(
                DestructionReportContent::Csv(Csv {
                    body: poem::Body::from(to_csv_bytes(&views::report_rows(&r))),
                    filename: "destruction-report.csv",
                }),
            ));
        }
        let report = views::report(r, stored.sha256);
        Ok(DestructionReportResponse::Ok(
            DestructionReportContent::Json(Json(report)),
        ))
    }
}
