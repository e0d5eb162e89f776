//! The one versioned, audited write, without HTTP: a stale version writes
//! nothing, a change and its audit event commit together or not at all, and
//! a write that changes nothing records nothing. Runs on the test database
//! of the run (SQLite, or PostgreSQL with CASEDESK_TEST_DATABASE_URL).

use crate::common;

use casedesk::{
    audit::{self, Event},
    db::begin_write,
    entities::{audit_events, institutions},
    versioned::{self, Changes, WriteError},
};
use common::TestApp;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionTrait,
};
use uuid::Uuid;

fn context(app: &TestApp) -> audit::Context {
    audit::Context::new(app.state.keys.audit.clone())
}

async fn institution(app: &TestApp, code: Option<&str>) -> institutions::Model {
    let now = app.state.clock.now();
    let txn = begin_write(&app.state.db).await.unwrap();
    let row = institutions::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set("Hogeschool".into()),
        kind: Set("higher_education".into()),
        country: Set("NL".into()),
        city: Set("Utrecht".into()),
        erasmus_code: Set(code.map(str::to_owned)),
        sister_city: Set(false),
        contact_email: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let created = versioned::insert(&txn, &context(app), now, row, |m| {
        Event::new("institution.created", 201).on("institution", m.id)
    })
    .await
    .unwrap();
    txn.commit().await.unwrap();
    created
}

async fn events(app: &TestApp, action: &str, id: Uuid) -> Vec<audit_events::Model> {
    audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq(action))
        .filter(audit_events::Column::ResourceId.eq(id.to_string()))
        .all(&app.state.db)
        .await
        .unwrap()
}

async fn stored(app: &TestApp, id: Uuid) -> institutions::Model {
    institutions::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

fn rename() -> Changes<institutions::Entity> {
    let mut changes = Changes::new();
    changes.set("name", institutions::Column::Name, "Hogeschool Utrecht");
    changes
}

#[tokio::test]
async fn an_insert_returns_its_row_and_records_its_event() {
    let app = TestApp::spawn().await;
    let created = institution(&app, None).await;
    assert_eq!(created, stored(&app, created.id).await);
    assert_eq!(
        events(&app, "institution.created", created.id).await.len(),
        1
    );
}

#[tokio::test]
async fn a_change_returns_the_new_row_and_records_the_changed_fields() {
    let app = TestApp::spawn().await;
    let m = institution(&app, None).await;
    let later = m.updated_at + chrono::TimeDelta::minutes(5);
    let txn = begin_write(&app.state.db).await.unwrap();
    let event = Event::new("institution.updated", 200).on("institution", m.id);
    let updated = versioned::update(&txn, &context(&app), later, m.id, 1, rename(), event)
        .await
        .unwrap()
        .expect("a change");
    txn.commit().await.unwrap();
    assert_eq!(updated.name, "Hogeschool Utrecht");
    assert_eq!(updated.version, 2);
    assert!(updated.updated_at > m.updated_at);
    // what RETURNING gave is what is stored
    assert_eq!(updated, stored(&app, m.id).await);
    let recorded = events(&app, "institution.updated", m.id).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].changed_fields.as_deref(), Some("name"));
}

#[tokio::test]
async fn a_stale_version_writes_nothing_and_records_nothing() {
    let app = TestApp::spawn().await;
    let m = institution(&app, None).await;
    let txn = begin_write(&app.state.db).await.unwrap();
    let event = Event::new("institution.updated", 200).on("institution", m.id);
    let now = app.state.clock.now();
    let result = versioned::update(&txn, &context(&app), now, m.id, 7, rename(), event).await;
    assert!(matches!(result, Err(WriteError::Stale)), "{result:?}");
    let problem: casedesk::http::problem::ApiError = result.unwrap_err().into();
    assert_eq!(problem.status().as_u16(), 412);
    txn.commit().await.unwrap();
    assert_eq!(stored(&app, m.id).await, m);
    assert!(events(&app, "institution.updated", m.id).await.is_empty());
    // a row that does not exist is stale too, not a write of nothing
    let txn = begin_write(&app.state.db).await.unwrap();
    let event = Event::new("institution.updated", 200).on("institution", Uuid::nil());
    let result = versioned::update(
        &txn,
        &context(&app),
        now,
        Uuid::now_v7(),
        1,
        rename(),
        event,
    )
    .await;
    assert!(matches!(result, Err(WriteError::Stale)), "{result:?}");
}

#[tokio::test]
async fn nothing_changed_nothing_written_nothing_recorded() {
    let app = TestApp::spawn().await;
    let m = institution(&app, None).await;
    let txn = begin_write(&app.state.db).await.unwrap();
    let event = Event::new("institution.updated", 200).on("institution", m.id);
    let now = app.state.clock.now() + chrono::TimeDelta::minutes(1);
    let result = versioned::update(
        &txn,
        &context(&app),
        now,
        m.id,
        1,
        Changes::<institutions::Entity>::new(),
        event,
    )
    .await
    .unwrap();
    assert!(result.is_none());
    txn.commit().await.unwrap();
    assert_eq!(stored(&app, m.id).await, m);
    assert!(events(&app, "institution.updated", m.id).await.is_empty());
}

#[tokio::test]
async fn the_change_and_its_event_commit_together_or_not_at_all() {
    let app = TestApp::spawn().await;
    let m = institution(&app, None).await;
    let before = audit_events::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap();

    // rolled back: neither the change nor its event
    let txn = begin_write(&app.state.db).await.unwrap();
    let event = Event::new("institution.updated", 200).on("institution", m.id);
    let now = app.state.clock.now();
    versioned::update(&txn, &context(&app), now, m.id, 1, rename(), event)
        .await
        .unwrap()
        .unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(stored(&app, m.id).await, m);
    let after = audit_events::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(after, before);

    // the event cannot be written (its table is gone for a moment): the
    // write is an error, and the change is not kept either
    app.state
        .db
        .execute_unprepared("ALTER TABLE audit_events RENAME TO audit_events_away")
        .await
        .unwrap();
    let txn = app.state.db.begin().await.unwrap();
    let event = Event::new("institution.updated", 200).on("institution", m.id);
    let result = versioned::update(&txn, &context(&app), now, m.id, 1, rename(), event).await;
    assert!(matches!(result, Err(WriteError::Db(_))), "{result:?}");
    drop(txn);
    app.state
        .db
        .execute_unprepared("ALTER TABLE audit_events_away RENAME TO audit_events")
        .await
        .unwrap();
    assert_eq!(stored(&app, m.id).await, m);
    assert!(events(&app, "institution.updated", m.id).await.is_empty());
}

#[tokio::test]
async fn a_taken_unique_value_is_a_409_from_the_constraint() {
    let app = TestApp::spawn().await;
    institution(&app, Some("NL UTRECHT01")).await;
    let other = institution(&app, None).await;
    let txn = begin_write(&app.state.db).await.unwrap();
    let mut changes = Changes::<institutions::Entity>::new();
    changes.set(
        "erasmusCode",
        institutions::Column::ErasmusCode,
        Some("NL UTRECHT01".to_owned()),
    );
    let event = Event::new("institution.updated", 200).on("institution", other.id);
    let now = app.state.clock.now();
    let err = versioned::update(&txn, &context(&app), now, other.id, 1, changes, event)
        .await
        .unwrap_err();
    let problem =
        casedesk::http::problem::write_taken("Another institution has this Erasmus code.")(err);
    assert_eq!(problem.status().as_u16(), 409);
    drop(txn);
    assert_eq!(stored(&app, other.id).await, other);
}
