//! The records lifecycle through the API, with the controllable clock:
//! records closed years ago are proposed, reviewed, held, waited for and
//! destroyed; the report is read; statistics keep their counts; the raw
//! database holds nothing of the destroyed people; an execution cut short
//! is resumed without destroying anything twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use casedesk::{accounts::model::Role, clock::Clock};
use chrono::TimeDelta;
use common::{problem, raw_database_text, Account, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const LEGAL_NAME: &str = "Nalongo Birungi-Okello";
const LEARNER_EMAIL: &str = "fenna.retention@student.example.nl";

async fn ok(resp: reqwest::Response, status: StatusCode) -> Value {
    let actual = resp.status();
    let url = resp.url().clone();
    let text = resp.text().await.unwrap();
    assert_eq!(actual, status, "{url}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

struct World {
    app: TestApp,
    records: Account,
    shelter: Account,
    exchange: Account,
}

impl World {
    async fn new() -> World {
        let app = TestApp::spawn().await;
        World {
            records: app.account(&[Role::RecordsOfficer]).await,
            shelter: app.account(&[Role::ShelterCoordinator]).await,
            exchange: app.account(&[Role::ExchangeCoordinator]).await,
            app,
        }
    }

    /// Moves the clock on and signs everyone in again (sessions end).
    async fn years_later(&mut self, by: TimeDelta) {
        self.app.clock.advance(by);
        for a in [&mut self.records, &mut self.shelter, &mut self.exchange] {
            a.token = self.app.sign_in(a).await;
        }
    }

    /// A defender with one stay, withdrawn and closed today.
    async fn closed_defender(&self, codename: &str, legal_name: &str) -> (String, String) {
        let t = Some(self.shelter.token.as_str());
        let d = ok(
            self.app
                .post(
                    "/defenders",
                    t,
                    json!({"codename": codename, "countryOfWork": "UG", "fieldOfWork": "journalism",
                           "languages": ["English"], "riskLevel": "high", "identity": {"legalName": legal_name}}),
                )
                .await,
            StatusCode::CREATED,
        )
        .await;
        let s = ok(
            self.app
                .post(
                    "/stays",
                    t,
                    json!({"defenderId": d["id"], "intakeRound": "2026-autumn", "plannedArrival": "2026-09-01",
                           "plannedDeparture": "2026-12-01", "visaStatus": "to_apply", "insuranceArranged": true,
                           "confidentiality": "restricted", "accommodationAddress": "Herengracht 1"}),
                )
                .await,
            StatusCode::CREATED,
        )
        .await;
        let stay = s["id"].as_str().unwrap().to_owned();
        for to in ["withdrawn", "closed"] {
            ok(
                self.app
                    .post(
                        &format!("/stays/{stay}/status-changes"),
                        t,
                        json!({"to": to, "reason": "did not travel"}),
                    )
                    .await,
                StatusCode::CREATED,
            )
            .await;
        }
        (d["id"].as_str().unwrap().to_owned(), stay)
    }

    /// A participant with one placement in `status` (withdrawn: closed).
    async fn participant(&self, email: &str, status: &str) -> (String, String) {
        let t = Some(self.exchange.token.as_str());
        let inst = |name: &str, country: &str| json!({"name": name, "kind": "mbo_college", "country": country, "city": "X", "sisterCity": false});
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let home = ok(
            self.app
                .post("/institutions", t, inst(&format!("Home {tag}"), "NL"))
                .await,
            StatusCode::CREATED,
        )
        .await;
        let partner = ok(
            self.app
                .post("/institutions", t, inst(&format!("Partner {tag}"), "PT"))
                .await,
            StatusCode::CREATED,
        )
        .await;
        let p = ok(
            self.app
                .post(
                    "/participants",
                    t,
                    json!({"givenName": "Fenna", "familyName": "Retention", "dateOfBirth": "2007-05-01", "email": email,
                           "educationLevel": "mbo_4", "homeInstitutionId": home["id"], "fieldOfStudy": "Hospitality",
                           "nationality": "NL", "fewerOpportunities": true}),
                )
                .await,
            StatusCode::CREATED,
        )
        .await;
        let pl = ok(
            self.app
                .post(
                    "/placements",
                    t,
                    json!({"participantId": p["id"], "direction": "outgoing", "sendingInstitutionId": home["id"],
                           "receivingInstitutionId": partner["id"], "kind": "traineeship", "plannedStart": "2027-02-01",
                           "plannedEnd": "2027-04-30"}),
                )
                .await,
            StatusCode::CREATED,
        )
        .await;
        let id = pl["id"].as_str().unwrap().to_owned();
        if status != "applied" {
            ok(
                self.app
                    .post(
                        &format!("/placements/{id}/status-changes"),
                        t,
                        json!({"to": status, "reason": "changed plans"}),
                    )
                    .await,
                StatusCode::CREATED,
            )
            .await;
        }
        (p["id"].as_str().unwrap().to_owned(), id)
    }

    async fn archive(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut path = "/archive-records?limit=200".to_owned();
        loop {
            let page = ok(
                self.app.get(&path, &self.records.token).await,
                StatusCode::OK,
            )
            .await;
            all.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(n) => path = format!("/archive-records?limit=200&cursor={n}"),
                None => return all,
            }
        }
    }

    async fn entry(&self, record_id: &str) -> Value {
        self.archive()
            .await
            .into_iter()
            .find(|r| r["recordId"] == record_id)
            .unwrap_or_else(|| panic!("{record_id} is not in the archive index"))
    }

    async fn list_status(&self, list: &str, to: &str) -> reqwest::Response {
        let current = ok(
            self.app
                .get(&format!("/destruction-lists/{list}"), &self.records.token)
                .await,
            StatusCode::OK,
        )
        .await;
        self.app
            .request(
                Method::POST,
                &format!("/destruction-lists/{list}/status-changes"),
                Some(&self.records.token),
            )
            .header("If-Match", format!("\"{}\"", current["version"]))
            .json(&json!({"status": to}))
            .send()
            .await
            .unwrap()
    }

    async fn items(&self, list: &str, token: &str) -> Vec<Value> {
        let page = ok(
            self.app
                .get(&format!("/destruction-lists/{list}/items"), token)
                .await,
            StatusCode::OK,
        )
        .await;
        page["items"].as_array().unwrap().clone()
    }

    async fn statistics(&self) -> (Value, Value) {
        let t = &self.exchange.token;
        let counts = ok(
            self.app.get("/statistics/placements", t).await,
            StatusCode::OK,
        )
        .await;
        let shares = ok(
            self.app.get("/statistics/placement-shares", t).await,
            StatusCode::OK,
        )
        .await;
        (counts, shares)
    }
}

fn item_of<'a>(items: &'a [Value], record_id: &str) -> &'a Value {
    items.iter().find(|i| i["recordId"] == record_id).unwrap()
}

#[tokio::test]
async fn closed_records_are_proposed_reviewed_held_waited_for_destroyed_and_reported() {
    let mut w = World::new().await;
    let (d1, s1) = w.closed_defender("Heron", LEGAL_NAME).await;
    let (d2, _) = w.closed_defender("Plover", "Held Defender Name").await;
    let (d3, _) = w.closed_defender("Avocet", "Kept Defender Name").await;
    let (p1, pl1) = w.participant(LEARNER_EMAIL, "withdrawn").await;
    let (p2, pl2) = w
        .participant("open.learner@student.example.nl", "applied")
        .await;
    let today = w.app.clock.now().date_naive();
    let before = w.statistics().await;

    // every closed record shows its archiving values; open ones are not there
    let index = w.archive().await;
    let year = (today + chrono::Months::new(12)).to_string();
    for id in [&d1, &s1, &d2, &d3, &p1, &pl1] {
        let e = index
            .iter()
            .find(|r| r["recordId"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(e["archiefnominatie"], "vernietigen", "{e}");
        assert_eq!(e["archiefstatus"], "nog_te_archiveren");
        assert_eq!(e["closedOn"], today.to_string());
        assert_eq!(e["archiefactiedatum"], year, "{e}");
        // metadata only: no name, codename or address anywhere in an entry
        let text = e.to_string();
        for secret in [LEGAL_NAME, "Heron", "Herengracht", "Fenna", LEARNER_EMAIL] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert!(index
        .iter()
        .all(|r| r["recordId"] != p2.as_str() && r["recordId"] != pl2.as_str()));
    assert_eq!(
        index.iter().find(|r| r["recordId"] == s1.as_str()).unwrap()["outcome"],
        "withdrawn"
    );

    // not due yet: nothing can be proposed
    let d1_entry = w.entry(&d1).await;
    let resp = w
        .app
        .post(
            "/destruction-lists",
            Some(&w.records.token),
            json!({"name": "too early", "records": [d1_entry["id"]]}),
        )
        .await;
    let p = problem(resp, 400).await;
    assert_eq!(p["invalidParams"][0]["code"], "not_due", "{p}");

    w.years_later(TimeDelta::days(2 * 366)).await;
    // a legal hold on the second defender
    let d2_entry = w.entry(&d2).await;
    let resp = w
        .app
        .request(
            Method::PATCH,
            &format!("/archive-records/{}", d2_entry["id"].as_str().unwrap()),
            Some(&w.records.token),
        )
        .header("If-Match", format!("\"{}\"", d2_entry["version"]))
        .header("X-Audit-Reason", "litigation hold, case 2028-17")
        .json(&json!({"legalHold": true}))
        .send()
        .await
        .unwrap();
    let held = ok(resp, StatusCode::OK).await;
    assert_eq!(held["legalHold"], true);

    // a list naming a held record, a stay and an unknown id: every problem at once, nothing made
    let entry = |id: &str| {
        let id = id.to_owned();
        let index = index.clone();
        move || index.iter().find(|r| r["recordId"] == id.as_str()).unwrap()["id"].clone()
    };
    let (e_d1, e_d2, e_d3, e_s1, e_p1, e_pl1) = (
        entry(&d1)(),
        entry(&d2)(),
        entry(&d3)(),
        entry(&s1)(),
        entry(&p1)(),
        entry(&pl1)(),
    );
    let resp = w
        .app
        .post(
            "/destruction-lists",
            Some(&w.records.token),
            json!({"name": "2026 closures", "records": [e_d1, e_d2, e_s1, uuid::Uuid::now_v7()]}),
        )
        .await;
    let p = problem(resp, 400).await;
    let codes: Vec<(&str, &str)> = p["invalidParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap(), i["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("records[1]", "legal_hold"),
            ("records[2]", "destroyed_with_defender"),
            ("records[3]", "not_found")
        ],
        "{p}"
    );
    let lists = ok(
        w.app.get("/destruction-lists", &w.records.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(lists["items"].as_array().unwrap().len(), 0);

    let list = ok(
        w.app
            .post(
                "/destruction-lists",
                Some(&w.records.token),
                json!({"name": "2026 closures", "records": [e_d1, e_d3, e_p1, e_pl1]}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let list_id = list["id"].as_str().unwrap().to_owned();
    assert_eq!(list["status"], "new");
    // a record on a list goes on no other
    let resp = w
        .app
        .post(
            "/destruction-lists",
            Some(&w.records.token),
            json!({"name": "again", "records": [e_p1]}),
        )
        .await;
    assert_eq!(
        problem(resp, 400).await["invalidParams"][0]["code"],
        "on_list"
    );

    // each coordinator sees the items of their own programme only
    let shelter_items = w.items(&list_id, &w.shelter.token).await;
    let exchange_items = w.items(&list_id, &w.exchange.token).await;
    assert_eq!(shelter_items.len(), 2);
    assert_eq!(exchange_items.len(), 2);
    assert!(shelter_items.iter().all(|i| i["programme"] == "shelter"));
    // a review before the list is submitted is refused
    let d1_item = item_of(&shelter_items, &d1)["id"].clone();
    let d3_item = item_of(&shelter_items, &d3)["id"].clone();
    let resp = w
        .app
        .post(
            &format!("/destruction-lists/{list_id}/reviews"),
            Some(&w.shelter.token),
            json!({"decisions": [{"item": d1_item, "decision": "accept"}]}),
        )
        .await;
    problem(resp, 409).await;
    ok(
        w.list_status(&list_id, "ready_to_review").await,
        StatusCode::OK,
    )
    .await;

    // a review by someone outside the programme: the item does not exist for them
    let resp = w
        .app
        .post(
            &format!("/destruction-lists/{list_id}/reviews"),
            Some(&w.exchange.token),
            json!({"decisions": [{"item": d1_item, "decision": "accept"}]}),
        )
        .await;
    assert_eq!(
        problem(resp, 400).await["invalidParams"][0]["code"],
        "not_found"
    );
    let keep = (w.app.clock.now().date_naive() + TimeDelta::days(400)).to_string();
    let resp = w
        .app
        .post(
            &format!("/destruction-lists/{list_id}/reviews"),
            Some(&w.shelter.token),
            json!({"decisions": [{"item": d1_item, "decision": "accept"}, {"item": d3_item, "decision": "keep", "keepUntil": keep}]}),
        )
        .await;
    assert_eq!(ok(resp, StatusCode::OK).await["status"], "ready_to_review");
    let decisions: Vec<Value> = exchange_items
        .iter()
        .map(|i| json!({"item": i["id"], "decision": "accept"}))
        .collect();
    let resp = w
        .app
        .post(
            &format!("/destruction-lists/{list_id}/reviews"),
            Some(&w.exchange.token),
            json!({"decisions": decisions}),
        )
        .await;
    assert_eq!(
        ok(resp, StatusCode::OK).await["status"],
        "changes_requested"
    );
    // the author takes the change: the kept defender leaves the list with its later date
    let taken = ok(
        w.list_status(&list_id, "ready_to_review").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(taken["status"], "internally_reviewed");
    let kept = w.entry(&d3).await;
    assert_eq!(kept["archiefactiedatum"], keep);
    assert_eq!(kept["destructionListId"], Value::Null);

    ok(
        w.list_status(&list_id, "ready_for_archivist").await,
        StatusCode::OK,
    )
    .await;
    let approved = ok(
        w.list_status(&list_id, "ready_to_delete").await,
        StatusCode::OK,
    )
    .await;
    let waits_until = approved["executeAfter"].as_str().unwrap().to_owned();
    // executing before the waiting period: a 409 that says when, and nothing destroyed
    let p = problem(w.list_status(&list_id, "deleted").await, 409).await;
    assert!(
        p["type"].as_str().unwrap().ends_with("waiting-period"),
        "{p}"
    );
    assert!(
        p["detail"].as_str().unwrap().contains(&waits_until[..10]),
        "{p}"
    );
    let done = casedesk::records::execution::execute_due(&w.app.state, None)
        .await
        .unwrap();
    assert_eq!(done.records, 0);
    ok(
        w.app
            .get(&format!("/defenders/{d1}"), &w.shelter.token)
            .await,
        StatusCode::OK,
    )
    .await;

    // the waiting period passes; the execution is cut short after one record
    w.years_later(TimeDelta::days(8)).await;
    let done = casedesk::records::execution::execute_due(&w.app.state, Some(1))
        .await
        .unwrap();
    assert_eq!(done.records, 1);
    let after_crash = ok(
        w.app
            .get(&format!("/destruction-lists/{list_id}"), &w.records.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after_crash["status"], "ready_to_delete");
    problem(
        w.app
            .get(
                &format!("/destruction-lists/{list_id}/report"),
                &w.records.token,
            )
            .await,
        404,
    )
    .await;
    // once begun, it can no longer be aborted
    problem(w.list_status(&list_id, "new").await, 409).await;
    // resumed (the lease has ended): the rest, and nothing twice
    w.app
        .clock
        .advance(casedesk::records::execution::LEASE + TimeDelta::seconds(1));
    let done = casedesk::records::execution::execute_due(&w.app.state, None)
        .await
        .unwrap();
    assert_eq!((done.lists, done.records), (1, 2));
    let again = casedesk::records::execution::execute_due(&w.app.state, None)
        .await
        .unwrap();
    assert_eq!(again.records, 0);
    let events = w.app.audit_rows().await;
    let count = |action: &str| events.iter().filter(|e| e.action == action).count();
    assert_eq!(count("record.destroyed"), 3);
    assert_eq!(count("defender.erased"), 1);
    assert_eq!(count("participant.destroyed"), 1);
    assert_eq!(count("placement.destroyed"), 1);

    // the report: every item with its class, dates and reviewer; rolled up; its hash in the chain
    let list = ok(
        w.app
            .get(&format!("/destruction-lists/{list_id}"), &w.records.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["status"], "deleted");
    let report = ok(
        w.app
            .get(
                &format!("/destruction-lists/{list_id}/report"),
                &w.records.token,
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{report}");
    let d1_row = items.iter().find(|i| i["recordId"] == d1.as_str()).unwrap();
    assert_eq!(d1_row["selectielijstklasse"], "casedesk:shelter.defender");
    assert_eq!(d1_row["closedOn"], today.to_string());
    assert_eq!(d1_row["reviewedBy"], w.shelter.id.to_string());
    assert_eq!(report["approvedBy"], w.records.id.to_string());
    let year = today.format("%Y").to_string();
    let mut roll: Vec<(String, String, u64)> = report["rollUp"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["recordType"].as_str().unwrap().to_owned(),
                r["period"].as_str().unwrap().to_owned(),
                r["records"].as_u64().unwrap(),
            )
        })
        .collect();
    roll.sort();
    assert_eq!(
        roll,
        vec![
            ("defender".into(), year.clone(), 1),
            ("participant".into(), year.clone(), 1),
            ("placement".into(), year.clone(), 1)
        ]
    );
    let sha = report["sha256"].as_str().unwrap();
    assert_eq!(list["reportSha256"], sha);
    let stored =
        <casedesk::entities::destruction_reports::Entity as sea_orm::EntityTrait>::find_by_id(
            list_id.parse::<uuid::Uuid>().unwrap(),
        )
        .one(&w.app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(casedesk::crypto::sha256_hex(stored.body.as_bytes()), sha);
    let recorded = events
        .iter()
        .find(|e| e.action == "destruction_report.created")
        .unwrap();
    assert_eq!(recorded.resource_id.as_deref(), Some(sha));
    let csv = w
        .app
        .request(
            Method::GET,
            &format!("/destruction-lists/{list_id}/report"),
            Some(&w.records.token),
        )
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.starts_with("listId,recordType,recordId,reference,outcome,selectielijstklasse"));
    let totals = ok(
        w.app.get("/destruction-totals", &w.records.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(totals["items"].as_array().unwrap().len(), 3);

    // gone for every reader; the index says destroyed (the stay with its defender)
    problem(
        w.app
            .get(&format!("/defenders/{d1}"), &w.shelter.token)
            .await,
        404,
    )
    .await;
    problem(
        w.app
            .get(&format!("/participants/{p1}"), &w.exchange.token)
            .await,
        404,
    )
    .await;
    problem(
        w.app
            .get(&format!("/placements/{pl1}"), &w.exchange.token)
            .await,
        404,
    )
    .await;
    ok(
        w.app
            .get(&format!("/defenders/{d2}"), &w.shelter.token)
            .await,
        StatusCode::OK,
    )
    .await;
    ok(
        w.app
            .get(&format!("/defenders/{d3}"), &w.shelter.token)
            .await,
        StatusCode::OK,
    )
    .await;
    for id in [&d1, &s1, &p1, &pl1] {
        assert_eq!(w.entry(id).await["archiefstatus"], "vernietigd", "{id}");
    }
    assert_eq!(w.entry(&d2).await["archiefstatus"], "nog_te_archiveren");
    // statistics keep their counts
    assert_eq!(w.statistics().await, before);
    // and nothing of the destroyed people is in the database files
    let raw = raw_database_text(&w.app.db);
    for secret in [LEGAL_NAME, "Heron", LEARNER_EMAIL] {
        assert!(!raw.contains(secret), "{secret} is still in the database");
    }
    assert!(raw.contains("Plover"), "the held defender was destroyed");
}

#[tokio::test]
async fn rules_are_data_and_bad_input_destroys_nothing() {
    let mut w = World::new().await;
    let (_, pl) = w
        .participant("rules.learner@student.example.nl", "withdrawn")
        .await;
    let rules = ok(
        w.app
            .get("/retention-rules?limit=200", &w.records.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let rules = rules["items"].as_array().unwrap().clone();
    assert_eq!(rules.len(), 10, "one rule per record type and outcome");
    let rule = rules
        .iter()
        .find(|r| r["recordType"] == "placement" && r["outcome"] == "withdrawn")
        .unwrap()
        .clone();
    assert_eq!(rule["term"], "P1Y");
    let patch = |body: Value, version: &Value| {
        w.app
            .request(
                Method::PATCH,
                &format!("/retention-rules/{}", rule["id"].as_str().unwrap()),
                Some(&w.records.token),
            )
            .header("If-Match", format!("\"{version}\""))
            .json(&body)
            .send()
    };
    for bad in ["-P1Y", "P200Y", "PT5H", "5 years", "P"] {
        let resp = patch(json!({"term": bad}), &rule["version"]).await.unwrap();
        assert_eq!(
            problem(resp, 400).await["invalidParams"][0]["name"],
            "term",
            "{bad}"
        );
    }
    let before = w.entry(&pl).await;
    let resp = patch(
        json!({"term": "P3Y", "archiefnominatie": "vernietigen"}),
        &rule["version"],
    )
    .await
    .unwrap();
    let changed = ok(resp, StatusCode::OK).await;
    assert_eq!(changed["term"], "P3Y");
    // the record not on a list gets its date again
    let after = w.entry(&pl).await;
    let closed: chrono::NaiveDate = before["closedOn"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        after["archiefactiedatum"],
        (closed + chrono::Months::new(36)).to_string()
    );
    // a stale version is refused
    let resp = patch(json!({"term": "P4Y"}), &rule["version"])
        .await
        .unwrap();
    problem(resp, 412).await;
    // kept for good: never on a list, even when due
    let resp = patch(
        json!({"archiefnominatie": "blijvend_bewaren"}),
        &changed["version"],
    )
    .await
    .unwrap();
    ok(resp, StatusCode::OK).await;
    w.years_later(TimeDelta::days(4 * 366)).await;
    let e = w.entry(&pl).await;
    let resp = w
        .app
        .post(
            "/destruction-lists",
            Some(&w.records.token),
            json!({"name": "kept", "records": [e["id"]]}),
        )
        .await;
    assert_eq!(
        problem(resp, 400).await["invalidParams"][0]["code"],
        "blijvend_bewaren"
    );
    let resp = w
        .app
        .post(
            "/destruction-lists",
            Some(&w.records.token),
            json!({"name": "by filter", "filter": {"dueBy": w.app.clock.now().date_naive()}}),
        )
        .await;
    assert_eq!(
        problem(resp, 400).await["invalidParams"][0]["code"],
        "empty"
    );
    // other roles do not reach the rules or the index
    let resp = w.app.get("/retention-rules", &w.exchange.token).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = w.app.get("/archive-records", &w.shelter.token).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_approved_list_can_be_aborted_and_a_filter_proposes_what_is_due() {
    let mut w = World::new().await;
    let (_, pl) = w
        .participant("abort.learner@student.example.nl", "withdrawn")
        .await;
    w.years_later(TimeDelta::days(400)).await;
    let list = ok(
        w.app
            .post(
                "/destruction-lists",
                Some(&w.records.token),
                json!({"name": "placements due", "filter": {"recordType": "placement", "dueBy": w.app.clock.now().date_naive()}}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let id = list["id"].as_str().unwrap().to_owned();
    let items = w.items(&id, &w.records.token).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["recordId"], pl.as_str());
    // a records officer's illegal move names the allowed ones
    let p = problem(w.list_status(&id, "ready_to_delete").await, 409).await;
    assert!(
        p["detail"].as_str().unwrap().contains("ready_to_review"),
        "{p}"
    );
    ok(w.list_status(&id, "ready_to_review").await, StatusCode::OK).await;
    let resp = w
        .app
        .post(
            &format!("/destruction-lists/{id}/reviews"),
            Some(&w.exchange.token),
            json!({"decisions": [{"item": items[0]["id"], "decision": "accept"}]}),
        )
        .await;
    assert_eq!(
        ok(resp, StatusCode::OK).await["status"],
        "internally_reviewed"
    );
    ok(
        w.list_status(&id, "ready_for_archivist").await,
        StatusCode::OK,
    )
    .await;
    ok(w.list_status(&id, "ready_to_delete").await, StatusCode::OK).await;
    // aborted before the waiting period ends: back to its author, reviews cleared
    let aborted = ok(w.list_status(&id, "new").await, StatusCode::OK).await;
    assert_eq!(aborted["status"], "new");
    assert_eq!(aborted["executeAfter"], Value::Null);
    w.years_later(TimeDelta::days(30)).await;
    let done = casedesk::records::execution::execute_due(&w.app.state, None)
        .await
        .unwrap();
    assert_eq!(done.records, 0);
    ok(
        w.app
            .get(&format!("/placements/{pl}"), &w.exchange.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(w.items(&id, &w.records.token).await[0]["decision"].is_null());
    // the abort and every step are in the audit trail
    let events = w.app.audit_rows().await;
    let steps = events
        .iter()
        .filter(|e| e.action == "destruction_list.status_changed")
        .count();
    assert_eq!(
        steps, 5,
        "ready_to_review, internally_reviewed, ready_for_archivist, ready_to_delete, new"
    );
}

#[tokio::test]
async fn two_replicas_executing_at_once_destroy_each_record_once() {
    let mut w = World::new().await;
    for n in 0..3 {
        w.participant(&format!("race{n}@student.example.nl"), "withdrawn")
            .await;
    }
    w.years_later(TimeDelta::days(400)).await;
    let list = ok(
        w.app
            .post(
                "/destruction-lists",
                Some(&w.records.token),
                json!({"name": "race", "filter": {"dueBy": w.app.clock.now().date_naive()}}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let id = list["id"].as_str().unwrap().to_owned();
    let items = w.items(&id, &w.records.token).await;
    assert_eq!(items.len(), 6, "three participants and their placements");
    ok(w.list_status(&id, "ready_to_review").await, StatusCode::OK).await;
    let decisions: Vec<Value> = items
        .iter()
        .map(|i| json!({"item": i["id"], "decision": "accept"}))
        .collect();
    let resp = w
        .app
        .post(
            &format!("/destruction-lists/{id}/reviews"),
            Some(&w.exchange.token),
            json!({"decisions": decisions}),
        )
        .await;
    assert_eq!(
        ok(resp, StatusCode::OK).await["status"],
        "internally_reviewed"
    );
    ok(
        w.list_status(&id, "ready_for_archivist").await,
        StatusCode::OK,
    )
    .await;
    ok(w.list_status(&id, "ready_to_delete").await, StatusCode::OK).await;
    // started before the list is due: its executor's first round (at once,
    // on start) finds nothing, and the two rounds below race alone
    let replica = w.app.replica().await;
    w.years_later(TimeDelta::days(8)).await;
    let (a, b) = tokio::join!(
        casedesk::records::execution::execute_due(&w.app.state, None),
        casedesk::records::execution::execute_due(&replica.state, None)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.lists + b.lists, a.records + b.records),
        (1, 6),
        "{a:?} {b:?}"
    );
    assert!(
        a.records == 0 || b.records == 0,
        "one replica holds the list: {a:?} {b:?}"
    );
    let events = w.app.audit_rows().await;
    let count = |action: &str| events.iter().filter(|e| e.action == action).count();
    assert_eq!(count("record.destroyed"), 6);
    assert_eq!(count("participant.destroyed"), 3);
    assert_eq!(count("placement.destroyed"), 3);
    assert_eq!(count("destruction_report.created"), 1);
    let report = ok(
        w.app
            .get(&format!("/destruction-lists/{id}/report"), &w.records.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(report["items"].as_array().unwrap().len(), 6);
}
