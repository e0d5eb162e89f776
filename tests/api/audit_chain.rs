//! The audit chain against someone who has the database but not the master
//! key: rewriting events and recomputing their hashes, renumbering, cutting
//! the tail (and the stored checkpoints with it), forging a checkpoint, and
//! the offline check of an exported segment against checkpoints kept outside.

use crate::common;

use casedesk::{accounts::model::Role, audit::chain::legacy_hash, entities::audit_events};
use common::{process::command, TestApp};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use serde_json::{json, Value};

/// Turns the append-only triggers off, as the owner of the database can.
async fn without_triggers(app: &TestApp) {
    let db = &app.state.db;
    if app.db.is_postgres() {
        for table in ["audit_events", "audit_checkpoints"] {
            db.execute_unprepared(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
                .await
                .unwrap();
        }
    } else {
        for trigger in [
            "audit_events_no_update",
            "audit_events_no_delete",
            "audit_checkpoints_no_update",
            "audit_checkpoints_no_delete",
        ] {
            db.execute_unprepared(&format!("DROP TRIGGER {trigger}"))
                .await
                .unwrap();
        }
    }
}

/// Rewrites every event from `from` on with hashes recomputed the only way
/// possible without the chain key (SHA-256 over the fields, as the chain once
/// was), so that every link is consistent again.
async fn rehash_from(app: &TestApp, from: i64) {
    let db = &app.state.db;
    let rows = audit_events::Entity::find()
        .order_by_asc(audit_events::Column::Seq)
        .all(db)
        .await
        .unwrap();
    let mut prev: Option<String> = None;
    for mut row in rows {
        if row.seq >= from {
            if let Some(p) = &prev {
                row.prev_hash = p.clone();
            }
            row.hash = legacy_hash(&row);
            db.execute_unprepared(&format!(
                "UPDATE audit_events SET prev_hash = '{}', hash = '{}' WHERE seq = {}",
                row.prev_hash, row.hash, row.seq
            ))
            .await
            .unwrap();
        }
        prev = Some(row.hash.clone());
    }
}

async fn verification(app: &TestApp, auditor: &str) -> Value {
    app.get("/audit-events/verification", auditor)
        .await
        .json()
        .await
        .unwrap()
}

async fn some_events(app: &TestApp, admin: &str, n: usize) {
    for i in 0..n {
        let resp = app
            .post(
                "/staff",
                Some(admin),
                json!({"email": format!("e{}-{i}@casedesk.test", uuid::Uuid::now_v7().simple()), "displayName": "E", "roles": ["analyst"]}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
}

#[tokio::test]
async fn rewritten_and_renumbered_events_do_not_verify_even_with_recomputed_hashes() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let auditor = app.account(&[Role::Auditor]).await;
    some_events(&app, &admin.token, 6).await;
    let v = verification(&app, &auditor.token).await;
    assert_eq!(v["ok"], true, "{v}");

    // re-attribute one event to the auditor, and make every link fit again
    let victim = app
        .audit_rows()
        .await
        .into_iter()
        .find(|e| e.action == "staff.created")
        .unwrap();
    without_triggers(&app).await;
    {
        use sea_orm::{sea_query::Expr, ColumnTrait, QueryFilter};
        audit_events::Entity::update_many()
            .col_expr(audit_events::Column::ActorId, Expr::value(Some(auditor.id)))
            .filter(audit_events::Column::Seq.eq(victim.seq))
            .exec(&app.state.db)
            .await
            .unwrap();
    }
    rehash_from(&app, victim.seq).await;
    let v = verification(&app, &auditor.token).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["firstBrokenSeq"], victim.seq);
    assert_eq!(v["fault"], "hash");
}

#[tokio::test]
async fn a_deleted_and_renumbered_event_does_not_verify() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let auditor = app.account(&[Role::Auditor]).await;
    some_events(&app, &admin.token, 4).await;
    let rows = app.audit_rows().await;
    let gone = rows[rows.len() / 2].seq;
    without_triggers(&app).await;
    let db = &app.state.db;
    db.execute_unprepared(&format!("DELETE FROM audit_events WHERE seq = {gone}"))
        .await
        .unwrap();
    for seq in gone + 1..=rows.last().unwrap().seq {
        db.execute_unprepared(&format!(
            "UPDATE audit_events SET seq = {} WHERE seq = {seq}",
            seq - 1
        ))
        .await
        .unwrap();
    }
    rehash_from(&app, gone).await;
    let v = verification(&app, &auditor.token).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["firstBrokenSeq"], gone);
}

#[tokio::test]
async fn a_cut_tail_is_found_by_the_checkpoints_stored_or_kept_outside() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let auditor = app.account(&[Role::Auditor]).await;
    some_events(&app, &admin.token, 3).await;
    // the auditor takes a checkpoint and keeps it
    let resp = app
        .post("/audit-checkpoints", Some(&auditor.token), json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let kept: Value = resp.json().await.unwrap();
    let head = kept["seq"].as_i64().unwrap();
    assert_eq!(head, app.audit_rows().await.last().unwrap().seq);
    let listed: Value = app
        .get("/audit-checkpoints", &auditor.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0], kept);
    some_events(&app, &admin.token, 3).await;
    let v = verification(&app, &auditor.token).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["latestCheckpoint"], kept);

    // someone cuts the tail back to before the checkpoint
    without_triggers(&app).await;
    let db = &app.state.db;
    db.execute_unprepared(&format!(
        "DELETE FROM audit_events WHERE seq >= {}",
        head - 1
    ))
    .await
    .unwrap();
    let v = verification(&app, &auditor.token).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["fault"], "tail_cut");
    assert_eq!(v["firstBrokenSeq"], head);

    // and removes the stored checkpoints too: the copy kept outside still finds it
    db.execute_unprepared("DELETE FROM audit_checkpoints")
        .await
        .unwrap();
    let resp = app
        .post(
            "/audit-checkpoints/verifications",
            Some(&auditor.token),
            kept.clone(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["fault"], "tail_cut");

    // a checkpoint with another hash is not signed by this deployment
    let mut forged = kept.clone();
    forged["hash"] = json!("0".repeat(64));
    let v: Value = app
        .post(
            "/audit-checkpoints/verifications",
            Some(&auditor.token),
            forged,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["fault"], "checkpoint_signature", "{v}");
}

#[tokio::test]
async fn events_before_the_chain_was_keyed_verify_and_stay_anchored() {
    use casedesk::config::Config;
    // a database of an earlier version: three events with unkeyed hashes
    let (url, db) = common::fresh_database().await;
    let conn = casedesk::db::connect(&url, 1).await.unwrap();
    casedesk::db::migrate(&conn).await.unwrap();
    let mut prev = casedesk::audit::GENESIS_HASH.to_owned();
    for seq in 1..=3_i64 {
        let mut row = audit_events::Model {
            seq,
            id: uuid::Uuid::now_v7(),
            occurred_at: chrono::Utc::now(),
            actor_type: None,
            actor_id: None,
            action: "old.event".into(),
            resource_type: None,
            resource_id: None,
            outcome: 200,
            request_id: None,
            client_ip: None,
            reason: Some("a plaintext reason of the old version".into()),
            changed_fields: None,
            occurrences: None,
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        row.hash = legacy_hash(&row);
        prev = row.hash.clone();
        audit_events::Entity::insert(audit_events::ActiveModel::from(row))
            .exec_without_returning(&conn)
            .await
            .unwrap();
    }
    conn.close().await.ok();
    // this version starts on it: the chain is keyed from event 4 on
    let mut config = Config::for_database(&url).unwrap();
    config.database_max_connections = 5;
    let app = TestApp::start(config, db).await;
    assert_eq!(app.state.keys.audit.chain().keyed_from, 4);
    let auditor = app.account(&[Role::Auditor]).await;
    let v = verification(&app, &auditor.token).await;
    assert_eq!(v["ok"], true, "{v}");

    // rewriting the old part with its own (unkeyed) hashes breaks the link
    // of the first keyed event, which the attacker cannot recompute
    without_triggers(&app).await;
    app.state
        .db
        .execute_unprepared("UPDATE audit_events SET outcome = 500 WHERE seq = 2")
        .await
        .unwrap();
    rehash_from(&app, 2).await;
    let v = verification(&app, &auditor.token).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["firstBrokenSeq"], 4);
}

/// The master key a binary run used (the embedded default beside the SQLite
/// file, or the one the harness sets for PostgreSQL).
fn key_settings(url: &str) -> Vec<(String, String)> {
    match casedesk::db::sqlite_path(url) {
        Some(path) => vec![(
            "CASEDESK_MASTER_KEY_FILE".to_owned(),
            path.parent()
                .unwrap()
                .join("master.key")
                .display()
                .to_string(),
        )],
        None => Vec::new(),
    }
}

async fn run(url: &str, args: &[&str], with_key: bool) -> (bool, String) {
    let extra = key_settings(url);
    let extra: Vec<(&str, &str)> = if with_key {
        extra
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    let mut cmd = command(url, &extra);
    if !with_key {
        cmd.env_remove("CASEDESK_MASTER_KEY");
    }
    let out = cmd.args(args).output().await.unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn an_exported_segment_is_verified_offline_against_checkpoints_kept_outside() {
    let (url, _db) = common::fresh_database().await;
    // the service writes some events and a checkpoint, then stops
    let running = common::process::start(&url, &[("CASEDESK_AUDIT_CHECKPOINT_SECONDS", "5")]).await;
    let client = reqwest::Client::new();
    for _ in 0..5 {
        client
            .get(format!("{}/api/v1/staff/me", running.base))
            .send()
            .await
            .unwrap();
    }
    let (status, _running) = common::process::terminate(running).await;
    assert!(status.success());
    let dir =
        std::env::temp_dir().join(format!("casedesk-audit-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let segment = dir.join("segment.json");
    let kept = dir.join("checkpoints.json");

    let out = command(
        &url,
        &key_settings(&url)
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect::<Vec<_>>(),
    )
    .args(["audit", "public-key"])
    .output()
    .await
    .unwrap();
    assert!(out.status.success());
    let public_key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (ok, out) = run(
        &url,
        &["audit", "export", "--output", segment.to_str().unwrap()],
        true,
    )
    .await;
    assert!(ok, "{out}");
    let exported: Value =
        serde_json::from_str(&std::fs::read_to_string(&segment).unwrap()).unwrap();
    // the checkpoint made at shutdown is what the auditor kept
    let checkpoints = exported["checkpoints"].clone();
    assert!(!checkpoints.as_array().unwrap().is_empty());
    std::fs::write(&kept, checkpoints.to_string()).unwrap();
    let verify = |segment: &std::path::Path| {
        vec![
            "audit".to_owned(),
            "verify".to_owned(),
            "--segment".to_owned(),
            segment.display().to_string(),
            "--checkpoints".to_owned(),
            kept.display().to_string(),
            "--public-key".to_owned(),
            public_key.clone(),
        ]
    };
    let args = verify(&segment);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = run("sqlite::memory:", &args, false).await;
    assert!(ok, "{out}");
    assert!(out.contains("links and checkpoints only"), "{out}");
    // with the master key, but still without any database
    let (ok, text) = cmd_with_same_key(&url, &args).await;
    assert!(ok, "{text}");
    assert!(text.contains("recomputed with the chain key"), "{text}");

    // an event re-attributed in the export: found with the key
    let mut altered = exported.clone();
    altered["events"][2]["actorId"] = json!(uuid::Uuid::now_v7().to_string());
    let altered_path = dir.join("altered.json");
    std::fs::write(&altered_path, altered.to_string()).unwrap();
    let args = verify(&altered_path);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cmd_with_same_key(&url, &args).await;
    assert!(!out.0, "{}", out.1);
    assert!(out.1.contains("hash"), "{}", out.1);

    // the tail cut off in the export: found even without the key
    let mut cut = exported.clone();
    let events = cut["events"].as_array_mut().unwrap();
    events.truncate(events.len() - 2);
    let cut_path = dir.join("cut.json");
    std::fs::write(&cut_path, cut.to_string()).unwrap();
    let args = verify(&cut_path);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = run("sqlite::memory:", &args, false).await;
    assert!(!ok, "{out}");
    assert!(out.contains("tail_cut"), "{out}");

    // a checkpoint file signed by someone else is refused
    let (ok, out) = {
        let mut args: Vec<String> = verify(&segment);
        let last = args.len() - 1;
        args[last] = casedesk::crypto::SigningKey::generate().public_key();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run("sqlite::memory:", &args, false).await
    };
    assert!(!ok, "{out}");
    assert!(out.contains("checkpoint_signature"), "{out}");
    std::fs::remove_dir_all(dir).ok();
}

/// Runs the offline check with the master key of `url`'s database.
async fn cmd_with_same_key(url: &str, args: &[&str]) -> (bool, String) {
    let harness = command(
        url,
        &key_settings(url)
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect::<Vec<_>>(),
    );
    let mut cmd = command("postgres://nowhere.invalid/none", &[]);
    cmd.env_remove("CASEDESK_MASTER_KEY");
    for (k, v) in harness.as_std().get_envs() {
        let k = k.to_string_lossy();
        if k.starts_with("CASEDESK_MASTER_KEY") {
            if let Some(v) = v {
                cmd.env(k.as_ref(), v);
            }
        }
    }
    let out = cmd.args(args).output().await.unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Ten years on, the oldest events are pruned behind a signed checkpoint:
/// the rest verifies from the prune point, online and offline; a further cut
/// from the front, a cut tail and a forged prune point are each found.
#[tokio::test]
async fn the_oldest_events_are_pruned_behind_a_signed_checkpoint_and_cuts_are_still_found() {
    use casedesk::audit::{checkpoints, export, prune};
    use casedesk::clock::Clock;
    let app = TestApp::spawn().await;
    let state = &app.state;
    let admin = app.account(&[Role::Admin]).await;
    some_events(&app, &admin.token, 4).await;
    let (old, _) = checkpoints::make(&state.db, &state.keys.audit, app.clock.now())
        .await
        .unwrap()
        .unwrap();
    let keep = state.config.audit_keep;
    // not old enough: nothing goes
    assert!(
        prune::prune(&state.db, &state.keys.audit, app.clock.now(), keep)
            .await
            .unwrap()
            .is_none()
    );
    app.clock.advance(keep + chrono::TimeDelta::days(1));
    let admin_token = app.sign_in(&admin).await;
    let auditor = app.account(&[Role::Auditor]).await;
    some_events(&app, &admin_token, 3).await;
    checkpoints::make(&state.db, &state.keys.audit, app.clock.now())
        .await
        .unwrap();
    let (point, gone) = prune::prune(&state.db, &state.keys.audit, app.clock.now(), keep)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(point.seq, old.seq, "pruned up to the old checkpoint");
    assert_eq!(gone as i64, old.seq);
    let rows = app.audit_rows().await;
    assert_eq!(rows[0].seq, old.seq + 1);
    assert_eq!(rows[0].prev_hash, old.hash);
    // the rest verifies, online and offline (against the checkpoints kept outside)
    let v = verification(&app, &auditor.token).await;
    assert_eq!(v["ok"], true, "{v}");
    let pinned = state.keys.audit.public_key();
    let kept_outside = checkpoints::all(&state.db).await.unwrap();
    let offline = |segment| {
        export::verify_offline(
            segment,
            &kept_outside,
            &pinned,
            Some(state.keys.audit.chain()),
        )
    };
    let seg = export::segment(&state.db, 1, None, None, app.clock.now())
        .await
        .unwrap();
    assert!(seg.from_start && seg.pruned_to.is_some());
    let out = offline(seg.clone());
    assert!(out.broken.is_none(), "{:?}", out.broken);
    // and the command an auditor runs, without a database, says the same
    let dir =
        std::env::temp_dir().join(format!("casedesk-pruned-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let kept_file = dir.join("checkpoints.json");
    std::fs::write(&kept_file, serde_json::to_string(&kept_outside).unwrap()).unwrap();
    let verify_file = |name: &str, segment: &casedesk::audit::export::Segment| {
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_string(segment).unwrap()).unwrap();
        let (kept_file, pinned) = (kept_file.clone(), pinned.clone());
        async move {
            let args = [
                "audit".to_owned(),
                "verify".to_owned(),
                "--segment".to_owned(),
                path.display().to_string(),
                "--checkpoints".to_owned(),
                kept_file.display().to_string(),
                "--public-key".to_owned(),
                pinned,
            ];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run("sqlite::memory:", &args, false).await
        }
    };
    let (ok, said) = verify_file("pruned.json", &seg).await;
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("events {}..", old.seq + 1)),
        "{said}"
    );
    // an older prune point, or none, put in the segment: its start does not fit
    let mut stripped = seg.clone();
    stripped.pruned_to = None;
    assert!(offline(stripped).broken.is_some());
    // a forged prune point further on: its signature fails
    let mut forged = seg.clone();
    if let Some(p) = forged.pruned_to.as_mut() {
        p.seq += 2;
        p.hash = forged.events[1].hash.clone();
    }
    forged.events.drain(..2);
    let out = offline(forged);
    assert_eq!(
        out.broken.map(|b| b.fault),
        Some(casedesk::audit::chain::Fault::PruneSignature)
    );

    // someone with the database cuts two more events from the front
    without_triggers(&app).await;
    let first = rows[0].seq;
    state
        .db
        .execute_unprepared(&format!(
            "DELETE FROM audit_events WHERE seq <= {}",
            first + 1
        ))
        .await
        .unwrap();
    let v = verification(&app, &auditor.token).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["fault"], "sequence", "{v}");
    let out = offline(
        export::segment(&state.db, 1, None, None, app.clock.now())
            .await
            .unwrap(),
    );
    assert_eq!(
        out.broken.map(|b| b.fault),
        Some(casedesk::audit::chain::Fault::Sequence)
    );
    let cut_front = export::segment(&state.db, 1, None, None, app.clock.now())
        .await
        .unwrap();
    let (ok, said) = verify_file("cut-front.json", &cut_front).await;
    assert!(!ok, "{said}");
    assert!(said.contains("sequence"), "{said}");
    // and the tail cut from the pruned segment back past the newest
    // checkpoint kept outside: found by the command too
    let newest = kept_outside.iter().map(|c| c.seq).max().unwrap();
    let mut cut_tail = seg.clone();
    cut_tail.events.retain(|e| e.seq < newest);
    let (ok, said) = verify_file("cut-tail.json", &cut_tail).await;
    assert!(!ok, "{said}");
    assert!(said.contains("tail_cut"), "{said}");
    std::fs::remove_dir_all(dir).ok();
}
