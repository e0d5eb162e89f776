//! A defender's erasure.

use chrono::{DateTime, Utc};
use sea_orm::{sea_query::Expr, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    entities::{
        activities, check_ins, consents, defenders, risk_assessments, stay_notes,
        stay_status_changes, stays,
    },
    integration::outbox::Actie,
    shelter::model::StayStatus,
    versioned::{self, Changes, WriteError},
};

/// Erases a defender at version `expected`: the identity and every free
/// text about them in their stays are gone, their data key is destroyed,
/// and the erasure is recorded. Returns their stays as they were, whose
/// integrations learn that they are gone.
#[tracing::instrument(skip_all)]
pub(super) async fn erase_defender(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    m: &defenders::Model,
    expected: i32,
) -> Result<Vec<stays::Model>, WriteError> {
    let token = format!(
        "erased-{}",
        &hex::encode(crate::crypto::random_bytes::<6>())
    );
    let none = || sea_orm::Value::from(Option::<String>::None);
    let changes: Changes<defenders::Entity> = [
        (
            "codename",
            defenders::Column::Codename,
            token.clone().into(),
        ),
        ("codename", defenders::Column::CodenameKey, token.into()),
        ("identity", defenders::Column::IdentityEnc, none()),
        ("identity", defenders::Column::LegalNameIndex, none()),
        ("gender", defenders::Column::Gender, none()),
        ("languages", defenders::Column::Languages, "[]".into()),
        (
            "identity",
            defenders::Column::DataKeyId,
            Option::<Uuid>::None.into(),
        ),
        ("erasedAt", defenders::Column::ErasedAt, Some(now).into()),
    ]
    .into_iter()
    .fold(Changes::new(), |mut c, (field, column, value)| {
        c.set(field, column, value);
        c
    });
    versioned::update(
        txn,
        audit,
        now,
        m.id,
        expected,
        changes,
        Event::new("defender.erased", 204).on("defender", m.id),
    )
    .await?;
    let erased_stays: Vec<stays::Model> = stays::Entity::find()
        .filter(stays::Column::DefenderId.eq(m.id))
        .all(txn)
        .await?;
    let stay_ids: Vec<Uuid> = erased_stays.iter().map(|s| s.id).collect();
    // every protected value and every free text about the defender,
    // sealed or (from earlier versions) not
    let none = || Expr::value(Option::<String>::None);
    stays::Entity::update_many()
        .col_expr(stays::Column::AccommodationAddressEnc, none())
        .col_expr(stays::Column::ReferringOrganisationEnc, none())
        .col_expr(stays::Column::LocalPartnerEnc, none())
        .col_expr(stays::Column::ReferringOrganisation, none())
        .col_expr(stays::Column::LocalPartner, none())
        .filter(stays::Column::DefenderId.eq(m.id))
        .exec(txn)
        .await?;
    stay_status_changes::Entity::update_many()
        .col_expr(stay_status_changes::Column::ReasonEnc, none())
        .col_expr(stay_status_changes::Column::Reason, none())
        .filter(stay_status_changes::Column::StayId.is_in(stay_ids.clone()))
        .exec(txn)
        .await?;
    activities::Entity::update_many()
        .col_expr(activities::Column::TitleEnc, none())
        .col_expr(activities::Column::Title, Expr::value(String::new()))
        .filter(activities::Column::StayId.is_in(stay_ids.clone()))
        .exec(txn)
        .await?;
    stay_notes::Entity::update_many()
        .col_expr(
            stay_notes::Column::BodyEnc,
            Expr::value(Option::<String>::None),
        )
        .filter(stay_notes::Column::StayId.is_in(stay_ids.clone()))
        .exec(txn)
        .await?;
    risk_assessments::Entity::update_many()
        .col_expr(
            risk_assessments::Column::ThreatsEnc,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            risk_assessments::Column::MeasuresEnc,
            Expr::value(Option::<String>::None),
        )
        .filter(risk_assessments::Column::StayId.is_in(stay_ids.clone()))
        .exec(txn)
        .await?;
    check_ins::Entity::update_many()
        .col_expr(
            check_ins::Column::NoteEnc,
            Expr::value(Option::<String>::None),
        )
        .filter(check_ins::Column::StayId.is_in(stay_ids))
        .exec(txn)
        .await?;
    consents::Entity::delete_many()
        .filter(consents::Column::DefenderId.eq(m.id))
        .exec(txn)
        .await?;
    if let Some(key_id) = m.data_key_id {
        crate::keyring::destroy_data_key(txn, key_id).await?;
    }
    crate::shelter::vault::destroy_retired_keys(txn, m.id).await?;
    Ok(erased_stays)
}

/// The tables an erasure writes: their old row versions are purged after it.
pub(crate) const ERASED_TABLES: &[&str] = &[
    "defenders",
    "stays",
    "stay_notes",
    "risk_assessments",
    "check_ins",
    "consents",
    "data_keys",
    "stay_status_changes",
    "activities",
    "retired_data_keys",
];

/// Erases a defender (see [`erase_defender`]) and tells integrations that
/// their stays are gone, without a reason why.
pub(crate) async fn erase_and_notify(
    txn: &DatabaseTransaction,
    audit: &audit::Context,
    now: DateTime<Utc>,
    m: &defenders::Model,
    expected: i32,
) -> Result<(), WriteError> {
    let erased_stays = erase_defender(txn, audit, now, m, expected).await?;
    for stay in erased_stays {
        let status =
            StayStatus::stored(&stay.status, "stays.status").map_err(sea_orm::DbErr::from)?;
        super::notify_stay(txn, now, Actie::Destroy, &stay, status).await?;
    }
    // their index entries say they are gone, and leave any destruction list
    crate::shelter::retention::sync(txn, now, m.id).await?;
    Ok(())
}
