//! Institutions and agreements (with quotas).

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
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
    audit::{self, Event},
    db::begin_write,
    entities::{agreement_quotas, agreements, institutions},
    http::etag,
    http::{
        body::JsonBody,
        if_match_version,
        pagination::{paginate, PageRequest},
        problem::{ApiError, ApiResult, InvalidParam},
        stale_version, Tag,
    },
    text::{parse_country, parse_text},
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
    let quotas = agreement_quotas::Entity::find()
        .filter(agreement_quotas::Column::AgreementId.eq(m.id))
        .order_by_asc(agreement_quotas::Column::Direction)
        .order_by_asc(agreement_quotas::Column::EducationLevel)
        .all(db)
        .await?;
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

async fn write_quotas(
    db: &impl ConnectionTrait,
    agreement_id: Uuid,
    quotas: &[Quota],
) -> Result<(), ApiError> {
    agreement_quotas::Entity::delete_many()
        .filter(agreement_quotas::Column::AgreementId.eq(agreement_id))
        .exec(db)
        .await?;
    for q in quotas {
        agreement_quotas::Entity::insert(agreement_quotas::ActiveModel {
            agreement_id: Set(agreement_id),
            direction: Set(q.direction.as_str().to_owned()),
            education_level: Set(q.education_level.as_str().to_owned()),
            places: Set(q.places),
            total_months: Set(q.total_months),
        })
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
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
        let mut q = institutions::Entity::find();
        if let Some(k) = kind.0 {
            q = q.filter(institutions::Column::Kind.eq(k.as_str()));
        }
        if let Some(c) = &country.0 {
            q = q.filter(institutions::Column::Country.eq(c.to_ascii_uppercase()));
        }
        if let Some(s) = sister_city.0 {
            q = q.filter(institutions::Column::SisterCity.eq(s));
        }
        if let Some(after) = page.after {
            q = q.filter(institutions::Column::Id.gt(after));
        }
        let rows = q
            .order_by_asc(institutions::Column::Id)
            .limit(page.fetch_limit())
            .all(&state.db)
            .await?;
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
        let id = Uuid::now_v7();
        let txn = begin_write(&state.db).await?;
        if let Some(code) = &code {
            if store::erasmus_code_taken(&txn, code, None).await? {
                return Err(ApiError::conflict(
                    "Another institution has this Erasmus code.",
                ));
            }
        }
        institutions::Entity::insert(institutions::ActiveModel {
            id: Set(id),
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
        })
        .exec_without_returning(&txn)
        .await?;
        audit::record(
            &txn,
            now,
            &caller.audit,
            Event::new("institution.created", 201).on("institution", id),
        )
        .await?;
        let created = institutions::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::internal)?;
        crate::integration::outbox::emit(
            &txn,
            now,
            super::events::institution(crate::integration::outbox::Actie::Create, &created),
        )
        .await?;
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
        let m = institutions::Entity::find_by_id(id.0)
            .one(&state.db)
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
        let mut changes: Vec<(institutions::Column, sea_orm::Value)> = Vec::new();
        let mut fields = Vec::new();
        if let Some(n) = &body.name {
            changes.push((
                institutions::Column::Name,
                checked_text("name", n, 200, &mut problems).into(),
            ));
            fields.push("name");
        }
        if let Some(k) = body.kind {
            changes.push((institutions::Column::Kind, k.as_str().into()));
            fields.push("kind");
        }
        if let Some(c) = &body.country {
            let c = parse_country(c)
                .map_err(|r| problems.push(InvalidParam::new("country", "invalid", r)))
                .unwrap_or_default();
            changes.push((institutions::Column::Country, c.into()));
            fields.push("country");
        }
        if let Some(c) = &body.city {
            changes.push((
                institutions::Column::City,
                checked_text("city", c, 100, &mut problems).into(),
            ));
            fields.push("city");
        }
        let mut new_code = None;
        if let Some(c) = &body.erasmus_code {
            let code = Some(c.trim()).filter(|c| !c.is_empty()).and_then(|c| {
                parse_erasmus_code(c)
                    .map_err(|r| problems.push(InvalidParam::new("erasmusCode", "invalid", r)))
                    .ok()
            });
            new_code = code.clone();
            changes.push((institutions::Column::ErasmusCode, code.into()));
            fields.push("erasmusCode");
        }
        if let Some(s) = body.sister_city {
            changes.push((institutions::Column::SisterCity, s.into()));
            fields.push("sisterCity");
        }
        if let Some(e) = &body.contact_email {
            let email = Some(e.trim()).filter(|e| !e.is_empty()).and_then(|e| {
                Email::parse(e)
                    .map(|e| e.as_str().to_owned())
                    .map_err(|r| problems.push(InvalidParam::new("contactEmail", "invalid", r)))
                    .ok()
            });
            changes.push((institutions::Column::ContactEmail, email.into()));
            fields.push("contactEmail");
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let m = institutions::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), m.version)?;
        if let Some(code) = &new_code {
            if store::erasmus_code_taken(&txn, code, Some(m.id)).await? {
                return Err(ApiError::conflict(
                    "Another institution has this Erasmus code.",
                ));
            }
        }
        if !fields.is_empty() {
            if !crate::db::update_versioned::<institutions::Entity>(
                &txn,
                institutions::Column::Id,
                institutions::Column::Version,
                institutions::Column::UpdatedAt,
                m.id,
                expected,
                changes,
                now,
            )
            .await?
            {
                return Err(stale_version());
            }
            audit::record(
                &txn,
                now,
                &caller.audit,
                Event::new("institution.updated", 200)
                    .on("institution", m.id)
                    .fields(fields),
            )
            .await?;
        }
        let updated = institutions::Entity::find_by_id(m.id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::internal)?;
        if updated.version != m.version {
            crate::integration::outbox::emit(
                &txn,
                now,
                super::events::institution(crate::integration::outbox::Actie::Update, &updated),
            )
            .await?;
        }
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
        let mut q = agreements::Entity::find();
        if let Some(s) = status.0 {
            q = q.filter(agreements::Column::Status.eq(s.as_str()));
        }
        if let Some(p) = programme.0 {
            q = q.filter(agreements::Column::Programme.eq(p.as_str()));
        }
        if let Some(p) = partner.0 {
            q = q.filter(agreements::Column::PartnerInstitutionId.eq(p));
        }
        if let Some(after) = page.after {
            q = q.filter(agreements::Column::Id.gt(after));
        }
        let rows = q
            .order_by_asc(agreements::Column::Id)
            .limit(page.fetch_limit())
            .all(&state.db)
            .await?;
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
        let id = Uuid::now_v7();
        let txn = begin_write(&state.db).await?;
        if institutions::Entity::find_by_id(body.partner_institution_id)
            .one(&txn)
            .await?
            .is_none()
        {
            return Err(ApiError::field(
                "partnerInstitutionId",
                "unknown",
                "There is no such institution.",
            ));
        }
        agreements::Entity::insert(agreements::ActiveModel {
            id: Set(id),
            partner_institution_id: Set(body.partner_institution_id),
            programme: Set(body.programme.as_str().to_owned()),
            valid_from: Set(body.valid_from),
            valid_until: Set(body.valid_until),
            status: Set(body.status.as_str().to_owned()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        write_quotas(&txn, id, &body.quotas).await?;
        audit::record(
            &txn,
            now,
            &caller.audit,
            Event::new("agreement.created", 201).on("agreement", id),
        )
        .await?;
        let created = agreements::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::internal)?;
        crate::integration::outbox::emit(
            &txn,
            now,
            super::events::agreement(crate::integration::outbox::Actie::Create, &created),
        )
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
        let m = agreements::Entity::find_by_id(id.0)
            .one(&state.db)
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
        let m = agreements::Entity::find_by_id(id.0)
            .one(&txn)
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
        let mut changes: Vec<(agreements::Column, sea_orm::Value)> = Vec::new();
        let mut fields = Vec::new();
        if let Some(p) = body.programme {
            changes.push((agreements::Column::Programme, p.as_str().into()));
            fields.push("programme");
        }
        if body.valid_from.is_some() {
            changes.push((agreements::Column::ValidFrom, from.into()));
            fields.push("validFrom");
        }
        if body.valid_until.is_some() {
            changes.push((agreements::Column::ValidUntil, until.into()));
            fields.push("validUntil");
        }
        if let Some(s) = body.status {
            changes.push((agreements::Column::Status, s.as_str().into()));
            fields.push("status");
        }
        if body.quotas.is_some() {
            fields.push("quotas");
        }
        if !fields.is_empty() {
            if !crate::db::update_versioned::<agreements::Entity>(
                &txn,
                agreements::Column::Id,
                agreements::Column::Version,
                agreements::Column::UpdatedAt,
                m.id,
                expected,
                changes,
                now,
            )
            .await?
            {
                return Err(stale_version());
            }
            if let Some(q) = &body.quotas {
                write_quotas(&txn, m.id, q).await?;
            }
            audit::record(
                &txn,
                now,
                &caller.audit,
                Event::new("agreement.updated", 200)
                    .on("agreement", m.id)
                    .fields(fields),
            )
            .await?;
        }
        let updated = agreements::Entity::find_by_id(m.id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::internal)?;
        if updated.version != m.version {
            crate::integration::outbox::emit(
                &txn,
                now,
                super::events::agreement(crate::integration::outbox::Actie::Update, &updated),
            )
            .await?;
        }
        let view = agreement_view(&txn, updated).await?;
        txn.commit().await?;
        let tag = etag(view.version);
        Ok(AgreementResponse::Ok(Json(view), tag))
    }
}
