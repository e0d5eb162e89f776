//! Defenders: the people, by codename; identity protected.

use chrono::NaiveDate;
use poem::{http::StatusCode, web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

use super::{
    defender_changes, defender_intake,
    model::{Codename, FieldOfWork, RiskLevel},
    sight::{self, is_coordinator},
    store,
    vault::{self, Field},
    views::{
        Consent, ConsentList, ConsentRevocation, Defender, DefenderIdentity, DefenderList,
        DefenderSearch, DefenderSearchResult, DefenderUpdate, NewConsent, NewDefender,
    },
};
use crate::{
    accounts::access::Caller,
    audit::{self, Event},
    db::begin_write,
    entities::{consents, defenders},
    http::etag,
    http::{
        body::{patch_text, JsonBody},
        if_match_version,
        pagination::PageRequest,
        problem::{ApiError, ApiResult, InvalidParam},
        Tag,
    },
    text::{normalized_name, parse_country, parse_text},
    text::{stored_json, Corrupt},
    AppState,
};

#[derive(ApiResponse)]
pub enum DefenderResponse {
    /// The defender.
    #[oai(status = 200)]
    Ok(Json<Defender>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum DefenderCreated {
    /// Created.
    #[oai(status = 201)]
    Created(
        Json<Defender>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum Erased {
    /// Erased: the data key and every encrypted value are destroyed.
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
pub enum SearchResponse {
    /// Matching defenders (summaries).
    #[oai(status = 200)]
    Ok(Json<DefenderSearchResult>),
}

#[derive(ApiResponse)]
pub enum ConsentCreated {
    /// Recorded.
    #[oai(status = 201)]
    Created(Json<Consent>),
}

#[derive(ApiResponse)]
pub enum ConsentResponse {
    /// The consent.
    #[oai(status = 200)]
    Ok(Json<Consent>),
}

fn languages_of(m: &defenders::Model) -> Result<Vec<String>, Corrupt> {
    stored_json(&m.languages, "defenders.languages")
}

pub(crate) fn defender_view(
    m: &defenders::Model,
    identity: Option<DefenderIdentity>,
) -> Result<Defender, ApiError> {
    Ok(Defender {
        id: m.id,
        codename: m.codename.clone(),
        country_of_work: m.country_of_work.clone(),
        field_of_work: FieldOfWork::stored(&m.field_of_work, "defenders.field_of_work")?,
        languages: languages_of(m)?,
        gender: m.gender.clone(),
        risk_level: RiskLevel::stored(&m.risk_level, "defenders.risk_level")?,
        identity,
        created_at: m.created_at.into(),
        updated_at: m.updated_at.into(),
        version: m.version,
    })
}

/// A new defender's body, parsed: every problem at once.
fn parse_new(body: &NewDefender) -> Result<defender_intake::NewDefender, ApiError> {
    let mut problems = Vec::new();
    let codename = Codename::parse(&body.codename)
        .map_err(|r| problems.push(InvalidParam::new("codename", "invalid", r)))
        .ok();
    let country = parse_country(&body.country_of_work)
        .map_err(|r| problems.push(InvalidParam::new("countryOfWork", "invalid", r)))
        .ok();
    let languages = check_languages(&body.languages, &mut problems);
    let gender = body.gender.as_deref().and_then(|g| {
        parse_text(g, 40)
            .map_err(|r| problems.push(InvalidParam::new("gender", "invalid", r)))
            .ok()
    });
    let identity = body
        .identity
        .as_ref()
        .map(|i| check_identity(i, &mut problems));
    match (codename, country) {
        (Some(codename), Some(country_of_work)) if problems.is_empty() => {
            Ok(defender_intake::NewDefender {
                codename,
                country_of_work,
                field_of_work: body.field_of_work,
                languages,
                gender,
                risk_level: body.risk_level,
                identity,
            })
        }
        _ => Err(ApiError::invalid(problems)),
    }
}

/// A defender PATCH's body, parsed: every problem at once.
fn parse_update(body: &DefenderUpdate) -> Result<defender_changes::Update, ApiError> {
    let mut problems = Vec::new();
    let codename = body.codename.as_deref().and_then(|c| {
        Codename::parse(c)
            .map_err(|r| problems.push(InvalidParam::new("codename", "invalid", r)))
            .ok()
    });
    let country_of_work = body.country_of_work.as_deref().and_then(|c| {
        parse_country(c)
            .map_err(|r| problems.push(InvalidParam::new("countryOfWork", "invalid", r)))
            .ok()
    });
    let languages = body
        .languages
        .as_ref()
        .map(|l| check_languages(l, &mut problems));
    let gender = patch_text(&body.gender).map(|g| {
        parse_text(g, 40)
            .map_err(|r| problems.push(InvalidParam::new("gender", "invalid", r)))
            .ok()
            .filter(|g| !g.is_empty())
    });
    let identity = body
        .identity
        .as_ref()
        .map(|i| check_identity(i, &mut problems));
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    Ok(defender_changes::Update {
        codename,
        country_of_work,
        field_of_work: body.field_of_work,
        languages,
        gender,
        risk_level: body.risk_level,
        identity,
    })
}

fn check_languages(
    languages: &[super::views::LanguageName],
    problems: &mut Vec<InvalidParam>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, l) in languages.iter().enumerate() {
        match parse_text(&l.0, 40) {
            Ok(l) if !l.is_empty() => out.push(l),
            _ => problems.push(InvalidParam::new(
                format!("languages[{i}]"),
                "invalid",
                "1 to 40 characters",
            )),
        }
    }
    out
}

fn check_identity(
    identity: &DefenderIdentity,
    problems: &mut Vec<InvalidParam>,
) -> DefenderIdentity {
    let mut clean = identity.clone();
    let mut text = |name: &str, value: &Option<String>, max: usize| -> Option<String> {
        value.as_deref().and_then(|v| match parse_text(v, max) {
            Ok(v) => Some(v).filter(|v| !v.is_empty()),
            Err(reason) => {
                problems.push(InvalidParam::new(
                    format!("identity.{name}"),
                    "invalid",
                    reason,
                ));
                None
            }
        })
    };
    clean.passport_number = text("passportNumber", &identity.passport_number, 40);
    clean.phone = text("phone", &identity.phone, 40);
    clean.email = text("email", &identity.email, 254);
    clean.messenger = text("messenger", &identity.messenger, 200);
    clean.emergency_contact = text("emergencyContact", &identity.emergency_contact, 500);
    match parse_text(&identity.legal_name, 200) {
        Ok(n) if !n.is_empty() => clean.legal_name = n,
        _ => problems.push(InvalidParam::new(
            "identity.legalName",
            "invalid",
            "1 to 200 characters, no control characters",
        )),
    }
    clean
}

async fn open_identity(
    state: &AppState,
    m: &defenders::Model,
) -> Result<Option<DefenderIdentity>, ApiError> {
    let Some(sealed) = &m.identity_enc else {
        return Ok(None);
    };
    let key = vault::data_key(&state.db, &state.keys, m.data_key_id).await?;
    let json = zeroize::Zeroizing::new(vault::open(&key, Field::DefenderIdentity, m.id, sealed)?);
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|_| ApiError::internal())
}

fn consent_view(c: consents::Model, today: NaiveDate) -> Result<Consent, ApiError> {
    let live = c.granted_on <= today
        && c.expires_on.is_none_or(|e| e >= today)
        && c.revoked_on.is_none_or(|r| r > today);
    Ok(Consent {
        id: c.id,
        defender_id: c.defender_id,
        item: super::model::ConsentItem::stored(&c.item, "consents.item")?,
        granted_on: c.granted_on,
        expires_on: c.expires_on,
        revoked_on: c.revoked_on,
        live,
    })
}

pub struct DefendersApi;

#[OpenApi(tag = "Tag::Defenders")]
impl DefendersApi {
    /// List defenders (summaries, never identity), in creation order.
    ///
    /// A defender with a `secret` stay is listed only to coordinators and the
    /// staff assigned to that stay.
    #[oai(path = "/defenders", method = "get", operation_id = "listDefenders")]
    #[allow(clippy::too_many_arguments)]
    async fn list_defenders(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        #[oai(name = "riskLevel")] risk_level: Query<Option<RiskLevel>>,
        #[oai(name = "fieldOfWork")] field_of_work: Query<Option<FieldOfWork>>,
        #[oai(name = "countryOfWork", validator(max_length = 2))] country_of_work: Query<
            Option<String>,
        >,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<DefenderList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let filter = store::DefenderFilter {
            visible: sight::visible_defenders(&caller),
            risk_level: risk_level.0,
            field_of_work: field_of_work.0,
            country_of_work: country_of_work.0.map(|c| c.to_ascii_uppercase()),
        };
        let rows = store::list_defenders(&state.db, filter, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        let items = rows.try_map(|m| defender_view(&m, None))?;
        Ok(DefenderList::page(
            items,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Register a defender.
    ///
    /// The identity is encrypted with a new data key of this defender.
    #[oai(path = "/defenders", method = "post", operation_id = "createDefender")]
    async fn create_defender(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<NewDefender>,
    ) -> ApiResult<DefenderCreated> {
        let new = parse_new(&body)?;
        let created = defender_intake::register(*state, &caller, &new).await?;
        let id = created.id;
        Ok(DefenderCreated::Created(
            Json(defender_view(&created, new.identity)?),
            crate::http::resource_url(&state.config.public_url, &format!("/defenders/{id}")),
            etag(created.version),
        ))
    }

    /// Show a defender; `identity` only to those who need to know (audited).
    #[oai(path = "/defenders/:id", method = "get", operation_id = "getDefender")]
    async fn get_defender(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<DefenderResponse> {
        let state = *state;
        let m = store::defender(&state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        sight::defender_in_sight(state, &caller, &m).await?;
        let identity = if sight::sees_identity(&state.db, &caller, m.id).await? {
            let identity = open_identity(state, &m).await?;
            if identity.is_some() {
                // the read is on record before the data leaves
                audit::record_alone(
                    &state.audit,
                    state.clock.now(),
                    &sight::defender_audit(state, &caller, &m).await?,
                    Event::new("read", 200)
                        .on("defender", m.id)
                        .fields(vec!["identity"]),
                )
                .await?;
            }
            identity
        } else {
            None
        };
        Ok(DefenderResponse::Ok(
            Json(defender_view(&m, identity)?),
            etag(m.version),
        ))
    }

    /// Change a defender (needs `If-Match`); `identity` replaces the whole identity.
    #[oai(
        path = "/defenders/:id",
        method = "patch",
        operation_id = "updateDefender"
    )]
    async fn update_defender(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the version being changed.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<DefenderUpdate>,
    ) -> ApiResult<DefenderResponse> {
        let state = *state;
        let update = parse_update(&body)?;
        let if_match = if_match.0.as_deref();
        let updated = defender_changes::update(state, &caller, id.0, if_match, &update).await?;
        let shown = if is_coordinator(&caller) {
            match update.identity {
                Some(i) => Some(i),
                None => open_identity(state, &updated).await?,
            }
        } else {
            None
        };
        Ok(DefenderResponse::Ok(
            Json(defender_view(&updated, shown)?),
            etag(updated.version),
        ))
    }

    /// Erase a defender (crypto-shredding).
    ///
    /// Needs `If-Match` and `X-Audit-Reason`. Destroys the defender's data key
    /// and every encrypted value (identity, stay addresses, notes, risk texts,
    /// check-in notes); keeps what statistics need (field of work, country,
    /// years of stay) and replaces the codename with a random token. Afterwards
    /// the defender, its stays and their records answer 404.
    #[oai(
        path = "/defenders/:id",
        method = "delete",
        operation_id = "eraseDefender"
    )]
    async fn erase_defender(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the current version.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> ApiResult<Erased> {
        let state = *state;
        // the guard refuses an erasure without an X-Audit-Reason
        // (access::REASON_REQUIRED); this is the last line of that defence
        if !caller.audit.has_reason() {
            return Err(ApiError::field(
                "X-Audit-Reason",
                "required",
                "Erasure needs a reason in X-Audit-Reason.",
            ));
        }
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let m = store::defender(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), m.version)?;
        // a legal hold on the defender or a stay of theirs keeps everything
        // (AVG art. 17(3)(e)): lifted first, by the records officer
        if crate::records::port::held(&txn, crate::records::port::RecordType::Defender, m.id)
            .await?
        {
            return Err(ApiError::typed(
                crate::http::problem::ProblemType::LegalHold,
                "A legal hold stands on this defender or one of their stays: they cannot be erased until it is lifted (AVG art. 17(3)(e)).",
            ));
        }
        // the erasure's own reason is sealed under the reason key, not the
        // key being destroyed: why a defender was erased stays on record
        store::erase_and_notify(&txn, &caller.audit, now, &m, expected).await?;
        txn.commit().await?;
        // committed; old row versions on disk are purged (on PostgreSQL in the
        // background); docs/retention.md says what is gone when
        crate::db::purge_after_erasure(&state.db, store::ERASED_TABLES).await;
        Ok(Erased::Done)
    }

    /// Find defenders by legal name, exactly (after Unicode normalisation and
    /// case folding), through a keyed blind index: the name is never stored
    /// or compared in plaintext, and never goes in a URL.
    #[oai(
        path = "/defenders/searches",
        method = "post",
        operation_id = "searchDefenders"
    )]
    async fn search_defenders(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<DefenderSearch>,
    ) -> ApiResult<SearchResponse> {
        let state = *state;
        let index = state
            .keys
            .index
            .blind_index(&normalized_name(&body.legal_name));
        let rows = store::defenders_by_name_index(&state.db, index, 50).await?;
        audit::record_alone(
            &state.audit,
            state.clock.now(),
            &caller.audit,
            Event::new("defender.searched", 200),
        )
        .await?;
        Ok(SearchResponse::Ok(Json(DefenderSearchResult {
            items: rows
                .iter()
                .map(|m| defender_view(m, None))
                .collect::<Result<_, _>>()?,
        })))
    }

    /// A defender's publicity consents, newest first: for coordinators and
    /// the staff assigned to one of the defender's stays.
    #[oai(
        path = "/defenders/:id/consents",
        method = "get",
        operation_id = "listConsents"
    )]
    async fn list_consents(
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
    ) -> ApiResult<ConsentList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let defender = store::defender(&state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        // what may be published about someone is their case: need to know
        sight::defender_in_full(&state, &caller, &defender).await?;
        let rows = store::consents(&state.db, id.0, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        let today = state.clock.now().date_naive();
        Ok(ConsentList::page(
            rows.try_map(|c| consent_view(c, today))?,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Record a publicity consent.
    #[oai(
        path = "/defenders/:id/consents",
        method = "post",
        operation_id = "createConsent"
    )]
    async fn create_consent(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        body: JsonBody<NewConsent>,
    ) -> ApiResult<ConsentCreated> {
        let state = *state;
        if body.expires_on.is_some_and(|e| e < body.granted_on) {
            return Err(ApiError::field(
                "expiresOn",
                "before_granted",
                "A consent cannot expire before it is granted.",
            ));
        }
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let defender = store::defender(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let ctx = sight::defender_audit(state, &caller, &defender).await?;
        let row = consents::ActiveModel {
            id: Set(Uuid::now_v7()),
            defender_id: Set(id.0),
            item: Set(body.item.as_str().to_owned()),
            granted_on: Set(body.granted_on),
            expires_on: Set(body.expires_on),
            revoked_on: Set(None),
            created_at: Set(now),
        };
        let model = store::insert_consent(&txn, &ctx, now, row).await?;
        txn.commit().await?;
        Ok(ConsentCreated::Created(Json(consent_view(
            model,
            now.date_naive(),
        )?)))
    }

    /// Revoke a publicity consent.
    #[oai(
        path = "/defenders/:id/consents/:consentId/revocation",
        method = "post",
        operation_id = "revokeConsent"
    )]
    async fn revoke_consent(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        #[oai(name = "consentId")] consent_id: Path<Uuid>,
        body: JsonBody<ConsentRevocation>,
    ) -> ApiResult<ConsentResponse> {
        let state = *state;
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let defender = store::defender(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let ctx = sight::defender_audit(state, &caller, &defender).await?;
        let consent = store::find_consent(&txn, id.0, consent_id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if consent.revoked_on.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "This consent is already revoked.",
            ));
        }
        if body.revoked_on < consent.granted_on {
            return Err(ApiError::field(
                "revokedOn",
                "before_granted",
                "A consent cannot be revoked before it was granted.",
            ));
        }
        let updated = store::revoke_consent(&txn, &ctx, now, consent.id, body.revoked_on)
            .await?
            .ok_or_else(|| {
                ApiError::new(StatusCode::CONFLICT, "This consent is already revoked.")
            })?;
        txn.commit().await?;
        Ok(ConsentResponse::Ok(Json(consent_view(
            updated,
            now.date_naive(),
        )?)))
    }
}
