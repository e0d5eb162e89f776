//! Institutions and agreements (with their quotas) as the handlers call
//! them: every problem of a body at once, then one transaction that checks
//! what it names, writes and audits. The views of both are here too.

use sea_orm::{ActiveValue::Set, ConnectionTrait};
use uuid::Uuid;

use super::{
    model::{
        parse_erasmus_code, AgreementStatus, Direction, EducationLevel, InstitutionKind, Programme,
    },
    store,
    views::{
        Agreement, AgreementUpdate, Institution, InstitutionUpdate, NewAgreement, NewInstitution,
        Quota,
    },
};
use crate::{
    accounts::{access::Caller, model::Email},
    db::begin_write,
    entities::{agreement_quotas, agreements, institutions},
    http::{
        if_match_version,
        problem::{taken, write_taken, ApiError, InvalidParam},
    },
    text::{parse_country, parse_text},
    versioned::Changes,
    AppState,
};

pub(crate) fn institution_view(m: institutions::Model) -> Result<Institution, ApiError> {
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

pub(crate) async fn agreement_view(
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

/// An Erasmus code as stored (upper case, one space), none when empty; a
/// problem for `erasmusCode` otherwise.
fn erasmus_code(text: &str, problems: &mut Vec<InvalidParam>) -> Option<String> {
    let text = Some(text.trim()).filter(|c| !c.is_empty())?;
    parse_erasmus_code(text)
        .map_err(|r| problems.push(InvalidParam::new("erasmusCode", "invalid", r)))
        .ok()
}

/// A contact address as stored, none when empty; a problem for
/// `contactEmail` otherwise.
fn contact_email(text: &str, problems: &mut Vec<InvalidParam>) -> Option<String> {
    let text = Some(text.trim()).filter(|e| !e.is_empty())?;
    Email::parse(text)
        .map(|e| e.as_str().to_owned())
        .map_err(|r| problems.push(InvalidParam::new("contactEmail", "invalid", r)))
        .ok()
}

/// A country code as stored; a problem for `country` otherwise.
fn country(text: &str, problems: &mut Vec<InvalidParam>) -> String {
    parse_country(text)
        .map_err(|r| problems.push(InvalidParam::new("country", "invalid", r)))
        .unwrap_or_default()
}

/// The row of a new institution, or every problem of its body at once.
pub(crate) fn new_institution(
    body: &NewInstitution,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<institutions::ActiveModel, Vec<InvalidParam>> {
    let mut problems = Vec::new();
    let row = institutions::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(checked_text("name", &body.name, 200, &mut problems)),
        kind: Set(body.kind.as_str().to_owned()),
        country: Set(country(&body.country, &mut problems)),
        city: Set(checked_text("city", &body.city, 100, &mut problems)),
        erasmus_code: Set(body
            .erasmus_code
            .as_deref()
            .and_then(|c| erasmus_code(c, &mut problems))),
        sister_city: Set(body.sister_city),
        contact_email: Set(body
            .contact_email
            .as_deref()
            .and_then(|e| contact_email(e, &mut problems))),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    if problems.is_empty() {
        Ok(row)
    } else {
        Err(problems)
    }
}

/// Registers an institution as `caller`; its Erasmus code is unique (409).
pub(crate) async fn register_institution(
    state: &AppState,
    caller: &Caller,
    body: &NewInstitution,
) -> Result<institutions::Model, ApiError> {
    let now = state.clock.now();
    let row = new_institution(body, now).map_err(ApiError::invalid)?;
    let txn = begin_write(&state.db).await?;
    let created = store::insert_institution(&txn, &caller.audit, now, row)
        .await
        .map_err(taken(CODE_TAKEN))?;
    txn.commit().await?;
    Ok(created)
}

/// The columns `body` changes, or every problem of it at once.
pub(crate) fn institution_changes(
    body: &InstitutionUpdate,
) -> Result<Changes<institutions::Entity>, Vec<InvalidParam>> {
    use institutions::Column as C;
    let mut problems = Vec::new();
    let mut changes = Changes::<institutions::Entity>::new();
    if let Some(n) = &body.name {
        changes.set("name", C::Name, checked_text("name", n, 200, &mut problems));
    }
    if let Some(k) = body.kind {
        changes.set("kind", C::Kind, k.as_str());
    }
    if let Some(c) = &body.country {
        changes.set("country", C::Country, country(c, &mut problems));
    }
    if let Some(c) = &body.city {
        changes.set("city", C::City, checked_text("city", c, 100, &mut problems));
    }
    if let Some(c) = body.erasmus_code.as_opt_deref() {
        changes.set(
            "erasmusCode",
            C::ErasmusCode,
            erasmus_code(c.unwrap_or(""), &mut problems),
        );
    }
    if let Some(s) = body.sister_city {
        changes.set("sisterCity", C::SisterCity, s);
    }
    if let Some(e) = body.contact_email.as_opt_deref() {
        let email = contact_email(e.unwrap_or(""), &mut problems);
        changes.set("contactEmail", C::ContactEmail, email);
    }
    if problems.is_empty() {
        Ok(changes)
    } else {
        Err(problems)
    }
}

/// Changes institution `id` at the version `if_match` names, as `caller`.
pub(crate) async fn update_institution(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    if_match: Option<&str>,
    body: &InstitutionUpdate,
) -> Result<institutions::Model, ApiError> {
    let changes = institution_changes(body).map_err(ApiError::invalid)?;
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let m = store::find_institution(&txn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let expected = if_match_version(if_match, m.version)?;
    let updated = store::update_institution(&txn, &caller.audit, now, m.id, expected, changes)
        .await
        .map_err(write_taken(CODE_TAKEN))?
        .unwrap_or(m);
    txn.commit().await?;
    Ok(updated)
}

const BEFORE_FROM: &str = "An agreement cannot end before it starts.";

/// Makes an agreement with its quotas, as `caller`; its partner exists.
pub(crate) async fn make_agreement(
    state: &AppState,
    caller: &Caller,
    body: &NewAgreement,
) -> Result<Agreement, ApiError> {
    let mut problems = Vec::new();
    if body.valid_until < body.valid_from {
        problems.push(InvalidParam::new(
            "validUntil",
            "before_valid_from",
            BEFORE_FROM,
        ));
    }
    checked_quotas(&body.quotas, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let partner = store::find_institution(&txn, body.partner_institution_id).await?;
    if partner.is_none() {
        let detail = "There is no such institution.";
        return Err(ApiError::field("partnerInstitutionId", "unknown", detail));
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
    let quotas = new_quotas(&body.quotas);
    let created = store::insert_agreement(&txn, &caller.audit, now, row, &quotas).await?;
    let view = agreement_view(&txn, created).await?;
    txn.commit().await?;
    Ok(view)
}

/// The columns `body` changes in `current`, or every problem at once.
pub(crate) fn agreement_changes(
    body: &AgreementUpdate,
    current: &agreements::Model,
) -> Result<Changes<agreements::Entity>, Vec<InvalidParam>> {
    use agreements::Column as C;
    let mut problems = Vec::new();
    if let Some(q) = &body.quotas {
        checked_quotas(q, &mut problems);
    }
    let from = body.valid_from.unwrap_or(current.valid_from);
    let until = body.valid_until.unwrap_or(current.valid_until);
    if until < from {
        problems.push(InvalidParam::new(
            "validUntil",
            "before_valid_from",
            BEFORE_FROM,
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut changes = Changes::<agreements::Entity>::new();
    if let Some(p) = body.programme {
        changes.set("programme", C::Programme, p.as_str());
    }
    if body.valid_from.is_some() {
        changes.set("validFrom", C::ValidFrom, from);
    }
    if body.valid_until.is_some() {
        changes.set("validUntil", C::ValidUntil, until);
    }
    if let Some(s) = body.status {
        changes.set("status", C::Status, s.as_str());
    }
    Ok(changes)
}

/// Changes agreement `id` at the version `if_match` names, as `caller`;
/// `quotas`, when given, replaces them all.
pub(crate) async fn update_agreement(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    if_match: Option<&str>,
    body: &AgreementUpdate,
) -> Result<Agreement, ApiError> {
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let m = store::find_agreement(&txn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let expected = if_match_version(if_match, m.version)?;
    let changes = agreement_changes(body, &m).map_err(ApiError::invalid)?;
    let quotas = body.quotas.as_deref().map(new_quotas);
    let audit = &caller.audit;
    let quotas = quotas.as_deref();
    let updated = store::update_agreement(&txn, audit, now, m.id, expected, changes, quotas)
        .await?
        .unwrap_or(m);
    let view = agreement_view(&txn, updated).await?;
    txn.commit().await?;
    Ok(view)
}
