//! Institutions and agreements (with quotas).

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use uuid::Uuid;

use super::{
    catalogue::{self, agreement_view, institution_view},
    model::{AgreementStatus, InstitutionKind, Programme},
    store,
    views::{
        Agreement, AgreementList, AgreementUpdate, Institution, InstitutionList, InstitutionUpdate,
        NewAgreement, NewInstitution,
    },
};
use crate::{
    accounts::access::Caller,
    http::{
        body::JsonBody,
        etag,
        pagination::{Page, PageRequest},
        problem::{ApiError, ApiResult},
        Tag,
    },
    AppState,
};

crate::created_response!(InstitutionCreated, Institution, "institution");

#[derive(ApiResponse)]
pub enum InstitutionResponse {
    /// The institution.
    #[oai(status = 200)]
    Ok(Json<Institution>, #[oai(header = "ETag")] String),
}

crate::created_response!(AgreementCreated, Agreement, "agreement");

#[derive(ApiResponse)]
pub enum AgreementResponse {
    /// The agreement.
    #[oai(status = 200)]
    Ok(Json<Agreement>, #[oai(header = "ETag")] String),
}

pub struct CatalogueApi;

#[OpenApi(tag = "Tag::Exchange")]
impl CatalogueApi {
    /// List institutions, in creation order.
    #[oai(
        path = "/institutions",
        method = "get",
        operation_id = "listInstitutions"
    )]
    async fn list_institutions(
        &self,
        state: Data<&AppState>,
        req: &Request,
        kind: Query<Option<InstitutionKind>>,
        #[oai(validator(max_length = 2))] country: Query<Option<String>>,
        #[oai(name = "sisterCity")] sister_city: Query<Option<bool>>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<InstitutionList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let filter = store::InstitutionFilter {
            kind: kind.0,
            country: country.0.map(|c| c.to_ascii_uppercase()),
            sister_city: sister_city.0,
        };
        let rows =
            store::list_institutions(&state.db, &filter, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        Ok(InstitutionList::page(
            rows.try_map(institution_view)?,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Register an institution.
    #[oai(
        path = "/institutions",
        method = "post",
        operation_id = "createInstitution"
    )]
    async fn create_institution(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<NewInstitution>,
    ) -> ApiResult<InstitutionCreated> {
        let created = catalogue::register_institution(*state, &caller, &body).await?;
        let path = format!("/institutions/{}", created.id);
        let version = created.version;
        let view = institution_view(created)?;
        Ok(InstitutionCreated::at(
            view,
            &state.config.public_url,
            &path,
            version,
        ))
    }

    /// Show an institution.
    #[oai(
        path = "/institutions/:id",
        method = "get",
        operation_id = "getInstitution"
    )]
    async fn get_institution(
        &self,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<InstitutionResponse> {
        let m = store::find_institution(&state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let tag = etag(m.version);
        Ok(InstitutionResponse::Ok(Json(institution_view(m)?), tag))
    }

    /// Change an institution (needs `If-Match`).
    #[oai(
        path = "/institutions/:id",
        method = "patch",
        operation_id = "updateInstitution"
    )]
    async fn update_institution(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the version being changed.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<InstitutionUpdate>,
    ) -> ApiResult<InstitutionResponse> {
        let updated =
            catalogue::update_institution(*state, &caller, id.0, if_match.0.as_deref(), &body)
                .await?;
        let tag = etag(updated.version);
        Ok(InstitutionResponse::Ok(
            Json(institution_view(updated)?),
            tag,
        ))
    }

    /// List agreements, in creation order.
    #[oai(path = "/agreements", method = "get", operation_id = "listAgreements")]
    async fn list_agreements(
        &self,
        state: Data<&AppState>,
        req: &Request,
        status: Query<Option<AgreementStatus>>,
        programme: Query<Option<Programme>>,
        #[oai(name = "partnerInstitutionId")] partner: Query<Option<Uuid>>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<AgreementList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let filter = store::AgreementFilter {
            status: status.0,
            programme: programme.0,
            partner: partner.0,
        };
        let rows =
            store::list_agreements(&state.db, &filter, page.after, page.fetch_limit()).await?;
        let Page { rows, next } = page.cut(rows, |r| r.id)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push(agreement_view(&state.db, r).await?);
        }
        Ok(AgreementList::page(
            Page { rows: items, next },
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Make an agreement with a partner institution, with its quotas.
    #[oai(
        path = "/agreements",
        method = "post",
        operation_id = "createAgreement"
    )]
    async fn create_agreement(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<NewAgreement>,
    ) -> ApiResult<AgreementCreated> {
        let view = catalogue::make_agreement(*state, &caller, &body).await?;
        let path = format!("/agreements/{}", view.id);
        let version = view.version;
        Ok(AgreementCreated::at(
            view,
            &state.config.public_url,
            &path,
            version,
        ))
    }

    /// Show an agreement with its quotas.
    #[oai(
        path = "/agreements/:id",
        method = "get",
        operation_id = "getAgreement"
    )]
    async fn get_agreement(
        &self,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<AgreementResponse> {
        let m = store::find_agreement(&state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let view = agreement_view(&state.db, m).await?;
        let tag = etag(view.version);
        Ok(AgreementResponse::Ok(Json(view), tag))
    }

    /// Change an agreement (needs `If-Match`); `quotas` replaces all quotas.
    #[oai(
        path = "/agreements/:id",
        method = "patch",
        operation_id = "updateAgreement"
    )]
    async fn update_agreement(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the version being changed.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<AgreementUpdate>,
    ) -> ApiResult<AgreementResponse> {
        let view = catalogue::update_agreement(*state, &caller, id.0, if_match.0.as_deref(), &body)
            .await?;
        let tag = etag(view.version);
        Ok(AgreementResponse::Ok(Json(view), tag))
    }
}
