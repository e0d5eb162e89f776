//! Institutions and agreements (with quotas).

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use sea_orm::{ActiveValue::Set, ConnectionTrait};
use uuid::Uuid;

use super::{
    model::{
        parse_erasmus_code, AgreementStatus, Direction, EducationLevel, InstitutionKind, Programme,
    },
    store,
    views::{
        Agreement, AgreementList, AgreementUpdate, Institution, InstitutionList, InstitutionUpdate,
        NewAgreement, NewInstitution, Quota,
    },
};
use crate::{
    accounts::{access::Caller, model::Email},
    db::begin_write,
    entities::{agreement_quotas, agreements, institutions},
    http::etag,
    http::problem::{taken, write_taken},
    http::{
        body::JsonBody,
        if_match_version,
        pagination::{paginate, PageRequest},
        problem::{ApiError, ApiResult, InvalidParam},
        Tag,
    },
    text::{parse_country, parse_text},
    versioned::Changes,
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

fn institution_view(m: institutions::Model) -> Result<Institution, ApiError> {
    Ok(Institution {
        id: m.id,
        name: m.name,
        kind: InstitutionKind::stored(&m.kind, "institutions.kind")?,
        country: m.country,
        city: m.city,
        erasmus_code: m.erasmus_code,
        sister_city: m.sister_city,
        contact_email: m.contact_email,
        created_at: m.created_at.into(),
        updated_at: m.updated_at.into(),
        version: m.version,
    })
}

fn quota_view(q: agreement_quotas::Model) -> Result<Quota, ApiError> {
    Ok(Quota {
        direction: Direction::stored(&q.direction, "agreement_quotas.direction")?,
        education_level: EducationLevel::stored(
            &q.education_level,
            "agreement_quotas.education_level",
        )?,
        places: q.places,
        total_months: q.total_months,
    })
}

async fn agreement_view(
    db: &impl ConnectionTrait,
    m: agreements::Model,
) -> Result<Agreement, ApiError> {
    let quotas = store::quotas(db, m.id).await?;
    Ok(Agreement {
        id: m.id,
        partner_institution_id: m.partner_institution_id,
        programme: Programme::stored(&m.programme, "agreements.programme")?,
        valid_from: m.valid_from,
        valid_until: m.valid_until,
        status: AgreementStatus::stored(&m.status, "agreements.status")?,
        quotas: quotas
            .into_iter()
            .map(quota_view)
            .collect::<Result<_, _>>()?,
        created_at: m.created_at.into(),
        updated_at: m.updated_at.into(),
        version: m.version,
    })
}

fn checked_text(name: &str, value: &str, max: usize, problems: &mut Vec<InvalidParam>) -> String {
    match parse_text(value, max) {
        Ok(v) if !v.is_empty() => v,
        Ok(_) => {
            problems.push(InvalidParam::new(name, "required", "Must not be empty."));
            String::new()
        }
        Err(r) => {
            problems.push(InvalidParam::new(name, "invalid", r));
            String::new()
        }
    }
}

fn checked_quotas(quotas: &[Quota], problems: &mut Vec<InvalidParam>) {
    for (i, q) in quotas.iter().enumerate() {
        if quotas[..i]
            .iter()
            .any(|o| o.direction == q.direction && o.education_level == q.education_level)
        {
            problems.push(InvalidParam::new(
                format!("quotas[{i}]"),
                "duplicate",
                "One quota per direction and education level.",
            ));
        }
    }
}

fn new_quotas(quotas: &[Quota]) -> Vec<store::NewQuota> {
    quotas
        .iter()
        .map(|q| store::NewQuota {
            direction: q.direction,
            education_level: q.education_level,
            places: q.places,
            total_months: q.total_months,
        })
        .collect()
}

const CODE_TAKEN: &str = "Another institution has this Erasmus code.";

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
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        Ok(InstitutionList::page(
            rows.into_iter()
                .map(institution_view)
                .collect::<Result<_, _>>()?,
            next,
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
        let state = *state;
        let mut problems = Vec::new();
        let name = checked_text("name", &body.name, 200, &mut problems);
        let city = checked_text("city", &body.city, 100, &mut problems);
        let country = parse_country(&body.country)
            .map_err(|r| problems.push(InvalidParam::new("country", "invalid", r)))
            .unwrap_or_default();
        let code = body
            .erasmus_code
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .and_then(|c| {
                parse_erasmus_code(c)
                    .map_err(|r| problems.push(InvalidParam::new("erasmusCode", "invalid", r)))
                    .ok()
            });
        let email = body
            .contact_email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .and_then(|e| {
                Email::parse(e)
                    .map(|e| e.as_str().to_owned())
                    .map_err(|r| problems.push(InvalidParam::new("contactEmail", "invalid", r)))
                    .ok()
            });
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let row = institutions::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name),
            kind: Set(body.kind.as_str().to_owned()),
            country: Set(country),
            city: Set(city),
            erasmus_code: Set(code),
            sister_city: Set(body.sister_city),
            contact_email: Set(email),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let created = store::insert_institution(&txn, &caller.audit, now, row)
            .await
            .map_err(taken(CODE_TAKEN))?;
        txn.commit().await?;
        let tag = etag(created.version);
        let location = crate::http::resource_url(
            &state.config.public_url,
            &format!("/institutions/{}", created.id),
        );
        Ok(InstitutionCreated::Created(
            Json(institution_view(created)?),
            location,
            tag,
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
        let state = *state;
        let mut problems = Vec::new();
        let mut changes = Changes::<institutions::Entity>::new();
        if let Some(n) = &body.name {
            let n = checked_text("name", n, 200, &mut problems);
            changes.set("name", institutions::Column::Name, n);
        }
        if let Some(k) = body.kind {
            changes.set("kind", institutions::Column::Kind, k.as_str());
        }
        if let Some(c) = &body.country {
            let c = parse_country(c)
                .map_err(|r| problems.push(InvalidParam::new("country", "invalid", r)))
                .unwrap_or_default();
            changes.set("country", institutions::Column::Country, c);
        }
        if let Some(c) = &body.city {
            let c = checked_text("city", c, 100, &mut problems);
            changes.set("city", institutions::Column::City, c);
        }
        if let Some(c) = &body.erasmus_code {
            let code = Some(c.trim()).filter(|c| !c.is_empty()).and_then(|c| {
                parse_erasmus_code(c)
                    .map_err(|r| problems.push(InvalidParam::new("erasmusCode", "invalid", r)))
                    .ok()
            });
            changes.set("erasmusCode", institutions::Column::ErasmusCode, code);
        }
        if let Some(s) = body.sister_city {
            changes.set("sisterCity", institutions::Column::SisterCity, s);
        }
        if let Some(e) = &body.contact_email {
            let email = Some(e.trim()).filter(|e| !e.is_empty()).and_then(|e| {
                Email::parse(e)
                    .map(|e| e.as_str().to_owned())
                    .map_err(|r| problems.push(InvalidParam::new("contactEmail", "invalid", r)))
                    .ok()
            });
            changes.set("contactEmail", institutions::Column::ContactEmail, email);
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let m = store::find_institution(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), m.version)?;
        let updated = store::update_institution(&txn, &caller.audit, now, m.id, expected, changes)
            .await
            .map_err(write_taken(CODE_TAKEN))?
            .unwrap_or(m);
        txn.commit().await?;
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
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push(agreement_view(&state.db, r).await?);
        }
        Ok(AgreementList::page(
            items,
            next,
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
        let state = *state;
        let mut problems = Vec::new();
        if body.valid_until < body.valid_from {
            problems.push(InvalidParam::new(
                "validUntil",
                "before_valid_from",
                "An agreement cannot end before it starts.",
            ));
        }
        checked_quotas(&body.quotas, &mut problems);
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        if store::find_institution(&txn, body.partner_institution_id)
            .await?
            .is_none()
        {
            return Err(ApiError::field(
                "partnerInstitutionId",
                "unknown",
                "There is no such institution.",
            ));
        }
        let row = agreements::ActiveModel {
            id: Set(Uuid::now_v7()),
            partner_institution_id: Set(body.partner_institution_id),
            programme: Set(body.programme.as_str().to_owned()),
            valid_from: Set(body.valid_from),
            valid_until: Set(body.valid_until),
            status: Set(body.status.as_str().to_owned()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let created =
            store::insert_agreement(&txn, &caller.audit, now, row, &new_quotas(&body.quotas))
                .await?;
        let view = agreement_view(&txn, created).await?;
        txn.commit().await?;
        let tag = etag(view.version);
        let location = crate::http::resource_url(
            &state.config.public_url,
            &format!("/agreements/{}", view.id),
        );
        Ok(AgreementCreated::Created(Json(view), location, tag))
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
        let state = *state;
        let mut problems = Vec::new();
        if let Some(q) = &body.quotas {
            checked_quotas(q, &mut problems);
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let m = store::find_agreement(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), m.version)?;
        let from = body.valid_from.unwrap_or(m.valid_from);
        let until = body.valid_until.unwrap_or(m.valid_until);
        if until < from {
            return Err(ApiError::field(
                "validUntil",
                "before_valid_from",
                "An agreement cannot end before it starts.",
            ));
        }
        let mut changes = Changes::<agreements::Entity>::new();
        if let Some(p) = body.programme {
            changes.set("programme", agreements::Column::Programme, p.as_str());
        }
        if body.valid_from.is_some() {
            changes.set("validFrom", agreements::Column::ValidFrom, from);
        }
        if body.valid_until.is_some() {
            changes.set("validUntil", agreements::Column::ValidUntil, until);
        }
        if let Some(s) = body.status {
            changes.set("status", agreements::Column::Status, s.as_str());
        }
        let quotas = body.quotas.as_deref().map(new_quotas);
        let updated = store::update_agreement(
            &txn,
            &caller.audit,
            now,
            m.id,
            expected,
            changes,
            quotas.as_deref(),
        )
        .await?
        .unwrap_or(m);
        let view = agreement_view(&txn, updated).await?;
        txn.commit().await?;
        let tag = etag(view.version);
        Ok(AgreementResponse::Ok(Json(view), tag))
    }
}
