//! The records lifecycle through the API, with the controllable clock:
//! records closed years ago are proposed, reviewed, held, waited for and
//! destroyed; the report is read; statistics keep their counts; the raw
//! database holds nothing of the destroyed people; an execution cut short
//! is resumed without destroying anything twice.

use crate::common;

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
    /// A second records officer: the archivist who approves what `records` wrote.
    archivist: Account,
    shelter: Account,
    exchange: Account,
}

impl World {
    async fn new() -> World {
        let app = TestApp::spawn().await;
        World {
            records: app.account(&[Role::RecordsOfficer]).await,
            archivist: app.account(&[Role::RecordsOfficer]).await,
            shelter: app.account(&[Role::ShelterCoordinator]).await,
            exchange: app.account(&[Role::ExchangeCoordinator]).await,
            app,
        }
    }

    /// Moves the clock on and signs everyone in again (sessions end).
    async fn years_later(&mut self, by: TimeDelta) {
        self.app.clock.advance(by);
        for a in [
            &mut self.records,
            &mut self.archivist,
            &mut self.shelter,
            &mut self.exchange,
        ] {
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

    /// Moves a list on as its author would, or (to `ready_to_delete`) as
    /// the archivist approves it.
    async fn list_status(&self, list: &str, to: &str) -> reqwest::Response {
        let who = if to == "ready_to_delete" {
            &self.archivist
        } else {
            &self.records
        };
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
                Some(&who.token),
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

/// The scenario's records, all closed today: three defenders with a
/// withdrawn stay each, a learner with a withdrawn placement, and a learner
/// whose placement is still open.
struct Closed {
    d1: String,
    s1: String,
    d2: String,
    d3: String,
    p1: String,
    pl1: String,
    p2: String,
    pl2: String,
    today: chrono::NaiveDate,
    /// The placement statistics before anything was destroyed.
    before: (Value, Value),
}

/// `Closed`, two years on, with `d2` on legal hold and a list of `d1`, `d3`
/// and `p1` that each programme reviewed (`d3` kept until `keep`), whose
/// change the author took and the archivist approved.
struct Approved {
    c: Closed,
    list_id: String,
    keep: String,
    /// When the waiting period ends.
    waits_until: String,
}

impl World {
    async fn closed(&self) -> Closed {
        let (d1, s1) = self.closed_defender("Heron", LEGAL_NAME).await;
        let (d2, _) = self.closed_defender("Plover", "Held Defender Name").await;
        let (d3, _) = self.closed_defender("Avocet", "Kept Defender Name").await;
        let (p1, pl1) = self.participant(LEARNER_EMAIL, "withdrawn").await;
        let (p2, pl2) = self
            .participant("open.learner@student.example.nl", "applied")
            .await;
        Closed {
            d1,
            s1,
            d2,
            d3,
            p1,
            pl1,
            p2,
            pl2,
            today: self.app.clock.now().date_naive(),
            before: self.statistics().await,
        }
    }

    /// Proposes a list of these records' index entries.
    async fn propose(&self, name: &str, records: &[&str]) -> reqwest::Response {
        let mut entries = Vec::new();
        for r in records {
            entries.push(self.entry(r).await["id"].clone());
        }
        self.app
            .post(
                "/destruction-lists",
                Some(&self.records.token),
                json!({"name": name, "records": entries}),
            )
            .await
    }

    async fn review(&self, list: &str, by: &Account, decisions: Value) -> reqwest::Response {
        self.app
            .post(
                &format!("/destruction-lists/{list}/reviews"),
                Some(&by.token),
                json!({ "decisions": decisions }),
            )
            .await
    }

    /// Two years on from `closed`: see [`Approved`].
    async fn approved(&mut self) -> Approved {
        let c = self.closed().await;
        self.years_later(TimeDelta::days(2 * 366)).await;
        ok(
            self.hold(&self.entry(&c.d2).await, true).await,
            StatusCode::OK,
        )
        .await;
        let list = ok(
            self.propose("2026 closures", &[&c.d1, &c.d3, &c.p1]).await,
            StatusCode::CREATED,
        )
        .await;
        let list_id = list["id"].as_str().unwrap().to_owned();
        ok(
            self.list_status(&list_id, "ready_to_review").await,
            StatusCode::OK,
        )
        .await;
        let shelter_items = self.items(&list_id, &self.shelter.token).await;
        let keep = (self.app.clock.now().date_naive() + TimeDelta::days(400)).to_string();
        let decisions = json!([
            {"item": item_of(&shelter_items, &c.d1)["id"], "decision": "accept"},
            {"item": item_of(&shelter_items, &c.d3)["id"], "decision": "keep", "keepUntil": keep},
        ]);
        ok(
            self.review(&list_id, &self.shelter, decisions).await,
            StatusCode::OK,
        )
        .await;
        let exchange_items = self.items(&list_id, &self.exchange.token).await;
        let decisions =
            json!([{"item": item_of(&exchange_items, &c.p1)["id"], "decision": "accept"}]);
        ok(
            self.review(&list_id, &self.exchange, decisions).await,
            StatusCode::OK,
        )
        .await;
        for to in ["ready_to_review", "ready_for_archivist"] {
            ok(self.list_status(&list_id, to).await, StatusCode::OK).await;
        }
        let approved = ok(
            self.list_status(&list_id, "ready_to_delete").await,
            StatusCode::OK,
        )
        .await;
        Approved {
            c,
            list_id,
            keep,
            waits_until: approved["executeAfter"].as_str().unwrap().to_owned(),
        }
    }
}

#[tokio::test]
async fn closed_records_are_in_the_index_with_their_archiving_values_and_nothing_personal() {
    let w = World::new().await;
    let c = w.closed().await;
    let index = w.archive().await;
    let year = (c.today + chrono::Months::new(12)).to_string();
    for id in [&c.d1, &c.s1, &c.d2, &c.d3, &c.p1, &c.pl1] {
        let e = index
            .iter()
            .find(|r| r["recordId"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(e["archiefnominatie"], "vernietigen", "{e}");
        assert_eq!(e["archiefstatus"], "nog_te_archiveren");
        assert_eq!(e["closedOn"], c.today.to_string());
        assert_eq!(e["archiefactiedatum"], year, "{e}");
        // metadata only: no name, codename or address anywhere in an entry
        let text = e.to_string();
        for secret in [LEGAL_NAME, "Heron", "Herengracht", "Fenna", LEARNER_EMAIL] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    // open records are not there
    assert!(index
        .iter()
        .all(|r| r["recordId"] != c.p2.as_str() && r["recordId"] != c.pl2.as_str()));
    assert_eq!(
        index
            .iter()
            .find(|r| r["recordId"] == c.s1.as_str())
            .unwrap()["outcome"],
        "withdrawn"
    );
}

#[tokio::test]
async fn a_record_is_not_proposed_before_its_archiving_date() {
    let w = World::new().await;
    let c = w.closed().await;
    let p = problem(w.propose("too early", &[&c.d1]).await, 400).await;
    assert_eq!(p["invalidParams"][0]["code"], "not_due", "{p}");
}

#[tokio::test]
async fn a_proposal_names_every_problem_at_once_makes_nothing_and_takes_a_record_once() {
    let mut w = World::new().await;
    let c = w.closed().await;
    w.years_later(TimeDelta::days(2 * 366)).await;
    let held = ok(w.hold(&w.entry(&c.d2).await, true).await, StatusCode::OK).await;
    assert_eq!(held["legalHold"], true);

    // a held record, a stay (it goes with its defender) and an unknown id
    let mut records = Vec::new();
    for id in [&c.d1, &c.d2, &c.s1] {
        records.push(w.entry(id).await["id"].clone());
    }
    records.push(json!(uuid::Uuid::now_v7()));
    let resp = w
        .app
        .post(
            "/destruction-lists",
            Some(&w.records.token),
            json!({"name": "2026 closures", "records": records}),
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

    // a record on a list goes on no other
    let list = ok(
        w.propose("2026 closures", &[&c.d1, &c.d3, &c.p1]).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(list["status"], "new");
    let p = problem(w.propose("again", &[&c.p1]).await, 400).await;
    assert_eq!(p["invalidParams"][0]["code"], "on_list", "{p}");
}

#[tokio::test]
async fn each_programme_reviews_its_own_items_and_a_keep_leaves_the_list_with_its_later_date() {
    let mut w = World::new().await;
    let c = w.closed().await;
    w.years_later(TimeDelta::days(2 * 366)).await;
    let list = ok(
        w.propose("2026 closures", &[&c.d1, &c.d3, &c.p1]).await,
        StatusCode::CREATED,
    )
    .await;
    let list_id = list["id"].as_str().unwrap().to_owned();

    // each coordinator sees the items of their own programme only
    let shelter_items = w.items(&list_id, &w.shelter.token).await;
    let exchange_items = w.items(&list_id, &w.exchange.token).await;
    assert_eq!(shelter_items.len(), 2);
    assert_eq!(
        exchange_items.len(),
        1,
        "the placement goes with its participant"
    );
    assert!(shelter_items.iter().all(|i| i["programme"] == "shelter"));
    // a review before the list is submitted is refused
    let d1_item = item_of(&shelter_items, &c.d1)["id"].clone();
    let d3_item = item_of(&shelter_items, &c.d3)["id"].clone();
    let accept_d1 = json!([{"item": d1_item, "decision": "accept"}]);
    problem(w.review(&list_id, &w.shelter, accept_d1.clone()).await, 409).await;
    ok(
        w.list_status(&list_id, "ready_to_review").await,
        StatusCode::OK,
    )
    .await;

    // a review by someone outside the programme: the item does not exist for them
    let p = problem(w.review(&list_id, &w.exchange, accept_d1).await, 400).await;
    assert_eq!(p["invalidParams"][0]["code"], "not_found", "{p}");

    let keep = (w.app.clock.now().date_naive() + TimeDelta::days(400)).to_string();
    let decisions = json!([
        {"item": d1_item, "decision": "accept"},
        {"item": d3_item, "decision": "keep", "keepUntil": keep},
    ]);
    let reviewed = ok(
        w.review(&list_id, &w.shelter, decisions).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reviewed["status"], "ready_to_review");
    let decisions: Vec<Value> = exchange_items
        .iter()
        .map(|i| json!({"item": i["id"], "decision": "accept"}))
        .collect();
    let reviewed = ok(
        w.review(&list_id, &w.exchange, json!(decisions)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reviewed["status"], "changes_requested");

    // the author takes the change: the kept defender leaves the list with its later date
    let taken = ok(
        w.list_status(&list_id, "ready_to_review").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(taken["status"], "internally_reviewed");
    let kept = w.entry(&c.d3).await;
    assert_eq!(kept["archiefactiedatum"], keep);
    assert_eq!(kept["destructionListId"], Value::Null);
}

#[tokio::test]
async fn execution_waits_for_the_waiting_period_and_resumes_a_cut_short_run_without_destroying_twice(
) {
    let mut w = World::new().await;
    let a = w.approved().await;
    let list_id = &a.list_id;
    // executing before the waiting period: a 409 that says when, and nothing destroyed
    let p = problem(w.list_status(list_id, "deleted").await, 409).await;
    assert!(
        p["type"].as_str().unwrap().ends_with("waiting-period"),
        "{p}"
    );
    assert!(
        p["detail"].as_str().unwrap().contains(&a.waits_until[..10]),
        "{p}"
    );
    let done = casedesk::records::execution::execute_due(&w.app.state, None)
        .await
        .unwrap();
    assert_eq!(done.records, 0);
    ok(
        w.app
            .get(&format!("/defenders/{}", a.c.d1), &w.shelter.token)
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
    problem(w.list_status(list_id, "new").await, 409).await;
    // resumed (the lease has ended): the rest, and nothing twice
    w.app
        .clock
        .advance(casedesk::records::execution::LEASE + TimeDelta::seconds(1));
    let done = casedesk::records::execution::execute_due(&w.app.state, None)
        .await
        .unwrap();
    assert_eq!((done.lists, done.records), (1, 1));
    let again = casedesk::records::execution::execute_due(&w.app.state, None)
        .await
        .unwrap();
    assert_eq!(again.records, 0);
    let events = w.app.audit_rows().await;
    let count = |action: &str| events.iter().filter(|e| e.action == action).count();
    assert_eq!(count("record.destroyed"), 2);
    assert_eq!(count("defender.erased"), 1);
    assert_eq!(count("participant.destroyed"), 1);
    assert_eq!(count("placement.destroyed"), 1);
    assert_eq!(
        ok(
            w.app
                .get(&format!("/destruction-lists/{list_id}"), &w.records.token)
                .await,
            StatusCode::OK,
        )
        .await["status"],
        "deleted"
    );
}

#[tokio::test]
async fn the_report_lists_every_destroyed_record_rolled_up_with_its_hash_in_the_chain() {
    let mut w = World::new().await;
    let a = w.approved().await;
    let (c, list_id) = (&a.c, &a.list_id);
    w.execute().await;
    let list = ok(
        w.app
            .get(&format!("/destruction-lists/{list_id}"), &w.records.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["status"], "deleted");
    let report = w.report(list_id).await;
    let items = report["items"].as_array().unwrap();
    // the stay and the placement that went with their defender and
    // participant are items too
    assert_eq!(items.len(), 4, "{report}");
    let s1_row = items
        .iter()
        .find(|i| i["recordId"] == c.s1.as_str())
        .unwrap();
    assert_eq!(s1_row["partOf"], c.d1.as_str(), "{report}");
    assert!(s1_row["reference"].as_str().unwrap().starts_with("SC-"));
    assert_eq!(
        items
            .iter()
            .find(|i| i["recordId"] == c.d1.as_str())
            .unwrap()["reference"],
        s1_row["reference"]
    );
    // the list's own items read as destroyed, not as taken off
    let destroyed: Vec<Value> = w
        .items(list_id, &w.records.token)
        .await
        .into_iter()
        .filter(|i| i["processing"] == "succeeded")
        .collect();
    assert_eq!(destroyed.len(), 4);
    for item in destroyed {
        assert_eq!(item["status"], "suggested", "{item}");
    }
    assert_eq!(w.entry(&c.d1).await["destructionListId"], list_id.as_str());
    let pl1_row = items
        .iter()
        .find(|i| i["recordId"] == c.pl1.as_str())
        .unwrap();
    assert_eq!(pl1_row["partOf"], c.p1.as_str(), "{report}");
    let d1_row = items
        .iter()
        .find(|i| i["recordId"] == c.d1.as_str())
        .unwrap();
    assert_eq!(d1_row["selectielijstklasse"], "casedesk:shelter.defender");
    assert_eq!(d1_row["closedOn"], c.today.to_string());
    assert_eq!(d1_row["reviewedBy"], w.shelter.id.to_string());
    assert_eq!(report["approvedBy"], w.archivist.id.to_string());
    assert_eq!(report["author"], w.records.id.to_string());
    let year = c.today.format("%Y").to_string();
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
            ("placement".into(), year.clone(), 1),
            ("stay".into(), year.clone(), 1)
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
    let events = w.app.audit_rows().await;
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
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.starts_with("listId,recordType,recordId,reference,outcome,selectielijstklasse"));
    let totals = ok(
        w.app.get("/destruction-totals", &w.records.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(totals["items"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn destroyed_records_are_gone_for_every_reader_and_from_the_files_while_held_and_kept_ones_stay(
) {
    let mut w = World::new().await;
    let a = w.approved().await;
    let c = &a.c;
    w.execute().await;
    for (path, token) in [
        (format!("/defenders/{}", c.d1), &w.shelter.token),
        (format!("/participants/{}", c.p1), &w.exchange.token),
        (format!("/placements/{}", c.pl1), &w.exchange.token),
    ] {
        problem(w.app.get(&path, token).await, 404).await;
    }
    for d in [&c.d2, &c.d3] {
        ok(
            w.app
                .get(&format!("/defenders/{d}"), &w.shelter.token)
                .await,
            StatusCode::OK,
        )
        .await;
    }
    // the index says destroyed (the stay with its defender)
    for id in [&c.d1, &c.s1, &c.p1, &c.pl1] {
        assert_eq!(w.entry(id).await["archiefstatus"], "vernietigd", "{id}");
    }
    assert_eq!(w.entry(&c.d2).await["archiefstatus"], "nog_te_archiveren");
    assert_eq!(w.entry(&c.d3).await["archiefactiedatum"], a.keep);
    // statistics keep their counts
    assert_eq!(w.statistics().await, c.before);
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
    assert_eq!(rules.len(), 12, "one rule per record type and outcome");
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
    assert_eq!(
        items.len(),
        3,
        "three participants (their placements go with them, not as items of their own)"
    );
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
        (1, 3),
        "{a:?} {b:?}"
    );
    assert!(
        a.records == 0 || b.records == 0,
        "one replica holds the list: {a:?} {b:?}"
    );
    let events = w.app.audit_rows().await;
    let count = |action: &str| events.iter().filter(|e| e.action == action).count();
    assert_eq!(count("record.destroyed"), 3);
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
    // every placement destroyed with its participant is an item of the
    // report, naming the participant it went with
    let reported = report["items"].as_array().unwrap();
    assert_eq!(reported.len(), 6, "{report}");
    let participants: Vec<&Value> = reported
        .iter()
        .filter(|i| i["recordType"] == "participant")
        .collect();
    assert_eq!(participants.len(), 3);
    for p in reported.iter().filter(|i| i["recordType"] == "placement") {
        assert!(
            participants.iter().any(|x| x["recordId"] == p["partOf"]),
            "{p}"
        );
        assert!(p["reference"].as_str().unwrap().starts_with("EX-"), "{p}");
    }
    for p in &participants {
        assert!(p["reference"].as_str().unwrap().starts_with("EX-"), "{p}");
    }
    let totals = ok(
        w.app.get("/destruction-totals", &w.records.token).await,
        StatusCode::OK,
    )
    .await;
    let placements: u64 = totals["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["recordType"] == "placement")
        .map(|t| t["records"].as_u64().unwrap())
        .sum();
    assert_eq!(placements, 3, "{totals}");
}

// ---- issue 31: destruction never takes what it must keep ----

impl World {
    /// Proposes `records` (index entry ids), has each programme's
    /// coordinator accept every item, and the archivist approve it.
    async fn approved_list(&self, records: &[Value]) -> String {
        let list = ok(
            self.app
                .post(
                    "/destruction-lists",
                    Some(&self.records.token),
                    json!({"name": "approved", "records": records}),
                )
                .await,
            StatusCode::CREATED,
        )
        .await;
        let id = list["id"].as_str().unwrap().to_owned();
        ok(
            self.list_status(&id, "ready_to_review").await,
            StatusCode::OK,
        )
        .await;
        for reviewer in [&self.shelter, &self.exchange] {
            let resp = self
                .app
                .get(&format!("/destruction-lists/{id}/items"), &reviewer.token)
                .await;
            if resp.status() == StatusCode::NOT_FOUND {
                continue; // nothing of their programme on it
            }
            let items = ok(resp, StatusCode::OK).await["items"]
                .as_array()
                .unwrap()
                .clone();
            let decisions: Vec<Value> = items
                .iter()
                .map(|i| json!({"item": i["id"], "decision": "accept"}))
                .collect();
            ok(
                self.app
                    .post(
                        &format!("/destruction-lists/{id}/reviews"),
                        Some(&reviewer.token),
                        json!({"decisions": decisions}),
                    )
                    .await,
                StatusCode::OK,
            )
            .await;
        }
        ok(
            self.list_status(&id, "ready_for_archivist").await,
            StatusCode::OK,
        )
        .await;
        ok(
            self.list_status(&id, "ready_to_delete").await,
            StatusCode::OK,
        )
        .await;
        id
    }

    /// Waits out the waiting period and executes what is due.
    async fn execute(&mut self) -> casedesk::records::execution::Executed {
        self.years_later(TimeDelta::days(8)).await;
        casedesk::records::execution::execute_due(&self.app.state, None)
            .await
            .unwrap()
    }

    async fn report(&self, list: &str) -> Value {
        ok(
            self.app
                .get(
                    &format!("/destruction-lists/{list}/report"),
                    &self.records.token,
                )
                .await,
            StatusCode::OK,
        )
        .await
    }

    async fn find_entry(&self, record_id: &str) -> Option<Value> {
        self.archive()
            .await
            .into_iter()
            .find(|r| r["recordId"] == record_id)
    }

    async fn stay_status(&self, stay: &str, to: &str) {
        ok(
            self.app
                .post(
                    &format!("/stays/{stay}/status-changes"),
                    Some(&self.shelter.token),
                    json!({"to": to, "reason": "the defender asked for help again"}),
                )
                .await,
            StatusCode::CREATED,
        )
        .await;
    }

    async fn new_stay(&self, defender: &str, confidentiality: &str) -> String {
        let s = ok(
            self.app
                .post(
                    "/stays",
                    Some(&self.shelter.token),
                    json!({"defenderId": defender, "intakeRound": "2030-spring", "plannedArrival": "2030-03-01",
                           "plannedDeparture": "2030-06-01", "visaStatus": "to_apply", "insuranceArranged": true,
                           "confidentiality": confidentiality}),
                )
                .await,
            StatusCode::CREATED,
        )
        .await;
        s["id"].as_str().unwrap().to_owned()
    }

    async fn hold(&self, entry: &Value, hold: bool) -> reqwest::Response {
        self.app
            .request(
                Method::PATCH,
                &format!("/archive-records/{}", entry["id"].as_str().unwrap()),
                Some(&self.records.token),
            )
            .header("If-Match", format!("\"{}\"", entry["version"]))
            .header("X-Audit-Reason", "litigation hold")
            .json(&json!({"legalHold": hold}))
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_record_reopened_after_approval_is_not_destroyed() {
    let mut w = World::new().await;
    let (d, s) = w
        .closed_defender("Sandpiper", "Reopened Defender Name")
        .await;
    let (p, pl) = w
        .participant("reopened.learner@student.example.nl", "withdrawn")
        .await;
    w.years_later(TimeDelta::days(2 * 366)).await;
    let entries = [
        w.entry(&d).await["id"].clone(),
        w.entry(&p).await["id"].clone(),
    ];
    let list = w.approved_list(&entries).await;
    // during the waiting period the stay is reopened, a new stay with a
    // safety note begins, and the participant applies for a new placement
    w.stay_status(&s, "aftercare").await;
    let s2 = w.new_stay(&d, "restricted").await;
    ok(
        w.app
            .post(
                &format!("/stays/{s2}/notes"),
                Some(&w.shelter.token),
                json!({"category": "safety", "body": "moved to the safe flat"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    // open again: out of the index and off the list at once
    assert!(w.find_entry(&d).await.is_none());
    assert!(w.find_entry(&s).await.is_none());
    let t = Some(w.exchange.token.as_str());
    let old = ok(
        w.app
            .get(&format!("/placements/{pl}"), &w.exchange.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let body = json!({"participantId": p, "direction": "outgoing",
        "sendingInstitutionId": old["sendingInstitutionId"], "receivingInstitutionId": old["receivingInstitutionId"],
        "kind": "traineeship", "plannedStart": "2031-02-01", "plannedEnd": "2031-04-30"});
    let pl2 = ok(
        w.app.post("/placements", t, body).await,
        StatusCode::CREATED,
    )
    .await;
    assert!(w.find_entry(&p).await.is_none());

    let done = w.execute().await;
    assert_eq!((done.lists, done.records), (1, 0));
    for path in [
        format!("/defenders/{d}"),
        format!("/stays/{s}"),
        format!("/stays/{s2}"),
    ] {
        ok(w.app.get(&path, &w.shelter.token).await, StatusCode::OK).await;
    }
    let notes = ok(
        w.app
            .get(&format!("/stays/{s2}/notes"), &w.shelter.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(notes["items"][0]["body"], "moved to the safe flat");
    for path in [
        format!("/participants/{p}"),
        format!("/placements/{pl}"),
        format!("/placements/{}", pl2["id"].as_str().unwrap()),
    ] {
        ok(w.app.get(&path, &w.exchange.token).await, StatusCode::OK).await;
    }
    let report = w.report(&list).await;
    assert_eq!(report["items"].as_array().unwrap().len(), 0, "{report}");
    let items = w.items(&list, &w.records.token).await;
    assert!(items.iter().all(|i| i["status"] == "removed"), "{items:?}");
}

#[tokio::test]
async fn a_hold_or_keep_on_a_stay_or_placement_saves_its_defender_or_participant() {
    let mut w = World::new().await;
    let (d, s) = w.closed_defender("Turnstone", "Held Stay Defender").await;
    let (d2, s2) = w.closed_defender("Dunlin", "Later Held Defender").await;
    let (p, pl) = w
        .participant("kept.learner@student.example.nl", "withdrawn")
        .await;
    w.years_later(TimeDelta::days(2 * 366)).await;

    // a hold on a stay: its defender cannot be proposed, nor erased
    ok(w.hold(&w.entry(&s).await, true).await, StatusCode::OK).await;
    let resp = w
        .app
        .post(
            "/destruction-lists",
            Some(&w.records.token),
            json!({"name": "held part", "records": [w.entry(&d).await["id"]]}),
        )
        .await;
    assert_eq!(
        problem(resp, 400).await["invalidParams"][0]["code"],
        "part_legal_hold"
    );
    let current = ok(
        w.app
            .get(&format!("/defenders/{d}"), &w.shelter.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let resp = w
        .app
        .request(
            Method::DELETE,
            &format!("/defenders/{d}"),
            Some(&w.shelter.token),
        )
        .header("If-Match", format!("\"{}\"", current["version"]))
        .header("X-Audit-Reason", "the defender asked to be forgotten")
        .send()
        .await
        .unwrap();
    let p409 = problem(resp, 409).await;
    assert!(
        p409["type"].as_str().unwrap().ends_with("legal-hold"),
        "{p409}"
    );
    assert!(
        p409["detail"].as_str().unwrap().contains("17(3)(e)"),
        "{p409}"
    );

    // a keep until 2040 on a placement outlives its participant's date
    let pl_list = ok(
        w.app
            .post(
                "/destruction-lists",
                Some(&w.records.token),
                json!({"name": "placement", "records": [w.entry(&pl).await["id"]]}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let pl_list = pl_list["id"].as_str().unwrap().to_owned();
    ok(
        w.list_status(&pl_list, "ready_to_review").await,
        StatusCode::OK,
    )
    .await;
    let item = w.items(&pl_list, &w.exchange.token).await[0]["id"].clone();
    ok(
        w.app
            .post(
                &format!("/destruction-lists/{pl_list}/reviews"),
                Some(&w.exchange.token),
                json!({"decisions": [{"item": item, "decision": "keep", "keepUntil": "2040-01-01"}]}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    ok(
        w.list_status(&pl_list, "ready_to_review").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(w.entry(&pl).await["keepUntil"], "2040-01-01");
    let participant = w.entry(&p).await;
    assert!(
        participant["archiefactiedatum"].as_str().unwrap() >= "2040-01-01",
        "{participant}"
    );
    let resp = w
        .app
        .post(
            "/destruction-lists",
            Some(&w.records.token),
            json!({"name": "kept part", "records": [participant["id"]]}),
        )
        .await;
    assert_eq!(
        problem(resp, 400).await["invalidParams"][0]["code"],
        "part_kept"
    );

    // a hold placed on a stay after its defender's list was approved
    let list = w.approved_list(&[w.entry(&d2).await["id"].clone()]).await;
    ok(w.hold(&w.entry(&s2).await, true).await, StatusCode::OK).await;
    let done = w.execute().await;
    assert_eq!(done.records, 0);
    ok(
        w.app
            .get(&format!("/defenders/{d2}"), &w.shelter.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let held = w.entry(&s2).await;
    assert_eq!(held["legalHold"], true);
    assert_eq!(held["archiefstatus"], "nog_te_archiveren", "{held}");
    assert_eq!(w.report(&list).await["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn secret_stays_and_their_defenders_are_absent_for_whoever_may_not_see_them() {
    let mut w = World::new().await;
    let (d, s) = w
        .closed_defender("Shearwater", "Secret Defender Name")
        .await;
    // the coordinator makes the stay secret
    let stay = ok(
        w.app.get(&format!("/stays/{s}"), &w.shelter.token).await,
        StatusCode::OK,
    )
    .await;
    let resp = w
        .app
        .request(
            Method::PATCH,
            &format!("/stays/{s}"),
            Some(&w.shelter.token),
        )
        .header("If-Match", format!("\"{}\"", stay["version"]))
        .header("X-Audit-Reason", "the defender is followed")
        .json(&json!({"confidentiality": "secret"}))
        .send()
        .await
        .unwrap();
    ok(resp, StatusCode::OK).await;
    w.years_later(TimeDelta::days(2 * 366)).await;
    // the records officer: not in the index, not by id, not by filter
    let index = w.archive().await;
    let text = serde_json::to_string(&index).unwrap();
    for hidden in [d.as_str(), s.as_str(), stay["reference"].as_str().unwrap()] {
        assert!(!text.contains(hidden), "{hidden} in the index");
    }
    let both = w
        .app
        .account(&[Role::RecordsOfficer, Role::ShelterCoordinator])
        .await;
    let seen = ok(
        w.app.get("/archive-records?limit=200", &both.token).await,
        StatusCode::OK,
    )
    .await;
    let entry = seen["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["recordId"] == d.as_str())
        .expect("a coordinator who is records officer too sees it")
        .clone();
    problem(
        w.app
            .get(
                &format!("/archive-records/{}", entry["id"].as_str().unwrap()),
                &w.records.token,
            )
            .await,
        404,
    )
    .await;
    let today = w.app.clock.now().date_naive();
    let resp = w
        .app
        .post(
            "/destruction-lists",
            Some(&w.records.token),
            json!({"name": "by filter", "filter": {"dueBy": today}}),
        )
        .await;
    assert_eq!(
        problem(resp, 400).await["invalidParams"][0]["code"],
        "empty"
    );
    let resp = w
        .app
        .post(
            "/destruction-lists",
            Some(&w.records.token),
            json!({"name": "named", "records": [entry["id"]]}),
        )
        .await;
    assert_eq!(
        problem(resp, 400).await["invalidParams"][0]["code"],
        "not_found"
    );
    // a list the coordinator writes is not there for the plain records officer
    let list = ok(
        w.app
            .post(
                "/destruction-lists",
                Some(&both.token),
                json!({"name": "secret", "records": [entry["id"]]}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let list_id = list["id"].as_str().unwrap();
    problem(
        w.app
            .get(&format!("/destruction-lists/{list_id}"), &w.records.token)
            .await,
        404,
    )
    .await;
    let lists = ok(
        w.app.get("/destruction-lists", &w.records.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(!lists.to_string().contains(list_id));
}

#[tokio::test]
async fn author_reviewer_and_archivist_are_three_people_whatever_roles_they_hold() {
    let mut w = World::new().await;
    let (d, _) = w.closed_defender("Godwit", "Separated Defender").await;
    w.years_later(TimeDelta::days(2 * 366)).await;
    let many = w
        .app
        .account(&[Role::RecordsOfficer, Role::ShelterCoordinator])
        .await;
    let list = ok(
        w.app
            .post(
                "/destruction-lists",
                Some(&many.token),
                json!({"name": "alone", "records": [w.entry(&d).await["id"]]}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let id = list["id"].as_str().unwrap().to_owned();
    let status = |who: &Account, to: &'static str| {
        let id = id.clone();
        let token = who.token.clone();
        let app = &w.app;
        async move {
            let current = ok(
                app.get(&format!("/destruction-lists/{id}"), &token).await,
                StatusCode::OK,
            )
            .await;
            app.request(
                Method::POST,
                &format!("/destruction-lists/{id}/status-changes"),
                Some(&token),
            )
            .header("If-Match", format!("\"{}\"", current["version"]))
            .json(&json!({"status": to}))
            .send()
            .await
            .unwrap()
        }
    };
    ok(status(&many, "ready_to_review").await, StatusCode::OK).await;
    let item = w.items(&id, &many.token).await[0]["id"].clone();
    let review = |who: &Account| {
        let (path, token) = (
            format!("/destruction-lists/{id}/reviews"),
            who.token.clone(),
        );
        let body = json!({"decisions": [{"item": item, "decision": "accept"}]});
        let app = &w.app;
        async move { app.post(&path, Some(&token), body).await }
    };
    // the author does not review their own list
    let p = problem(review(&many).await, 409).await;
    assert!(
        p["type"]
            .as_str()
            .unwrap()
            .ends_with("separation-of-duties"),
        "{p}"
    );
    // another coordinator, who is a records officer too, reviews it
    let reviewer = w
        .app
        .account(&[Role::ShelterCoordinator, Role::RecordsOfficer])
        .await;
    ok(review(&reviewer).await, StatusCode::OK).await;
    ok(status(&many, "ready_for_archivist").await, StatusCode::OK).await;
    // neither the author nor the reviewer approves it
    for who in [&many, &reviewer] {
        let p = problem(status(who, "ready_to_delete").await, 409).await;
        assert!(
            p["type"]
                .as_str()
                .unwrap()
                .ends_with("separation-of-duties"),
            "{p}"
        );
    }
    let archivist = w
        .app
        .account(&[Role::RecordsOfficer, Role::ShelterCoordinator])
        .await;
    ok(status(&archivist, "ready_to_delete").await, StatusCode::OK).await;
    assert_eq!(w.execute().await.records, 1);
}

#[tokio::test]
async fn a_defender_erased_on_request_before_execution_is_not_reported_as_destroyed_by_the_list() {
    let mut w = World::new().await;
    let (d, s) = w.closed_defender("Whimbrel", "Erased Early Defender").await;
    w.years_later(TimeDelta::days(2 * 366)).await;
    let list = w.approved_list(&[w.entry(&d).await["id"].clone()]).await;
    let current = ok(
        w.app
            .get(&format!("/defenders/{d}"), &w.shelter.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let resp = w
        .app
        .request(
            Method::DELETE,
            &format!("/defenders/{d}"),
            Some(&w.shelter.token),
        )
        .header("If-Match", format!("\"{}\"", current["version"]))
        .header("X-Audit-Reason", "the defender asked to be forgotten")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for id in [&d, &s] {
        let e = w.entry(id).await;
        assert_eq!(e["archiefstatus"], "vernietigd", "{e}");
        assert_eq!(e["destructionListId"], Value::Null, "{e}");
    }
    let done = w.execute().await;
    assert_eq!(done.records, 0);
    assert_eq!(w.report(&list).await["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn every_record_with_personal_data_reaches_a_retention_date() {
    let mut w = World::new().await;
    let t = Some(w.shelter.token.as_str());
    let lone = ok(
        w.app
            .post(
                "/defenders",
                t,
                json!({"codename": "Knot", "countryOfWork": "UG", "fieldOfWork": "journalism",
                       "languages": ["English"], "riskLevel": "high", "identity": {"legalName": "No Stay Yet"}}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let lone = lone["id"].as_str().unwrap().to_owned();
    let (p, pl) = w
        .participant("placed.alone@student.example.nl", "withdrawn")
        .await;
    let e = w.entry(&lone).await;
    assert_eq!(e["outcome"], "none");
    assert!(e["archiefactiedatum"].is_string(), "{e}");
    // the placement destroyed on its own: the participant stays, and is due
    w.years_later(TimeDelta::days(2 * 366)).await;
    let list = w.approved_list(&[w.entry(&pl).await["id"].clone()]).await;
    assert_eq!(w.execute().await.records, 1);
    assert_eq!(w.report(&list).await["items"].as_array().unwrap().len(), 1);
    let participant = w.entry(&p).await;
    assert_eq!(participant["archiefstatus"], "nog_te_archiveren");
    let due = participant["archiefactiedatum"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        due <= w.app.clock.now().date_naive().to_string(),
        "{participant}"
    );
    // and then they go too
    let list = w.approved_list(&[participant["id"].clone()]).await;
    assert_eq!(w.execute().await.records, 1);
    assert_eq!(w.report(&list).await["items"].as_array().unwrap().len(), 1);
    problem(
        w.app
            .get(&format!("/participants/{p}"), &w.exchange.token)
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn smaller_guards_zero_terms_reasons_kept_for_good_and_append_only_reports() {
    let mut w = World::new().await;
    let (d, _) = w.closed_defender("Redshank", "Kept For Good").await;
    w.years_later(TimeDelta::days(2 * 366)).await;
    let entry = w.entry(&d).await;
    // a hold without a reason is refused
    let resp = w
        .app
        .request(
            Method::PATCH,
            &format!("/archive-records/{}", entry["id"].as_str().unwrap()),
            Some(&w.records.token),
        )
        .header("If-Match", format!("\"{}\"", entry["version"]))
        .json(&json!({"legalHold": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(resp, 400).await["invalidParams"][0]["name"],
        "X-Audit-Reason"
    );
    let list = w.approved_list(&[entry["id"].clone()]).await;
    // the defender's rule becomes "keep for good" while the list waits
    let rules = ok(
        w.app
            .get("/retention-rules?limit=200", &w.records.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let rule = rules["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["recordType"] == "defender" && r["outcome"] == "all")
        .unwrap()
        .clone();
    let patch = |body: Value| {
        w.app
            .request(
                Method::PATCH,
                &format!("/retention-rules/{}", rule["id"].as_str().unwrap()),
                Some(&w.records.token),
            )
            .header("If-Match", format!("\"{}\"", rule["version"]))
            .json(&body)
            .send()
    };
    let p = problem(patch(json!({"term": "P0D"})).await.unwrap(), 400).await;
    assert_eq!(p["invalidParams"][0]["name"], "term", "{p}");
    ok(
        patch(json!({"archiefnominatie": "blijvend_bewaren"}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(w.entry(&d).await["destructionListId"], Value::Null);
    assert_eq!(w.execute().await.records, 0);
    ok(
        w.app
            .get(&format!("/defenders/{d}"), &w.shelter.token)
            .await,
        StatusCode::OK,
    )
    .await;
    // a report cannot be changed or removed, even by the service
    use sea_orm::ConnectionTrait;
    let db = &w.app.state.db;
    assert_eq!(w.report(&list).await["items"].as_array().unwrap().len(), 0);
    for sql in [
        "UPDATE destruction_reports SET sha256 = 'x'",
        "DELETE FROM destruction_reports",
    ] {
        assert!(db.execute_unprepared(sql).await.is_err(), "{sql}");
    }
}

#[tokio::test]
async fn learners_destroyed_by_a_list_of_their_own_leave_no_trace_in_the_raw_files() {
    let mut w = World::new().await;
    const EMAIL: &str = "only.learner.raw@student.example.nl";
    let (p, _) = w.participant(EMAIL, "withdrawn").await;
    w.years_later(TimeDelta::days(2 * 366)).await;
    let list = w.approved_list(&[w.entry(&p).await["id"].clone()]).await;
    assert_eq!(w.execute().await.records, 1);
    assert_eq!(w.report(&list).await["items"].as_array().unwrap().len(), 2);
    // the purge after a list runs in the background on PostgreSQL
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let raw = raw_database_text(&w.app.db);
    assert!(
        !raw.contains(EMAIL),
        "the learner's e-mail address is still in the files"
    );
    assert!(
        !raw.contains("Fenna"),
        "the learner's name is still in the files"
    );
}

#[tokio::test]
async fn a_destruction_reports_anchor_outlives_audit_pruning() {
    use casedesk::audit::{checkpoints, prune};
    let mut w = World::new().await;
    let (p, _) = w
        .participant("anchored.learner@student.example.nl", "withdrawn")
        .await;
    w.years_later(TimeDelta::days(2 * 366)).await;
    let list = w.approved_list(&[w.entry(&p).await["id"].clone()]).await;
    assert_eq!(w.execute().await.records, 1);
    let sha = w.report(&list).await["sha256"].as_str().unwrap().to_owned();
    let state = &w.app.state;
    checkpoints::make(&state.db, &state.keys.audit, w.app.clock.now())
        .await
        .unwrap();
    // ten years on, the events of that time are pruned
    w.years_later(state.config.audit_keep + TimeDelta::days(1))
        .await;
    let state = &w.app.state;
    checkpoints::make(&state.db, &state.keys.audit, w.app.clock.now())
        .await
        .unwrap();
    let (point, _) = prune::prune(
        &state.db,
        &state.keys.audit,
        w.app.clock.now(),
        state.config.audit_keep,
    )
    .await
    .unwrap()
    .expect("something old enough to prune");
    let rows = w.app.audit_rows().await;
    assert!(rows
        .iter()
        .all(|e| e.action != "destruction_report.created"));
    let anchor = rows
        .iter()
        .find(|e| e.action == "destruction_report.anchored")
        .expect("the report's hash is still in the chain");
    assert_eq!(anchor.resource_id.as_deref(), Some(sha.as_str()));
    assert!(anchor.seq > point.seq);
    // a second prune carries it on again
    w.years_later(state.config.audit_keep + TimeDelta::days(1))
        .await;
    let state = &w.app.state;
    checkpoints::make(&state.db, &state.keys.audit, w.app.clock.now())
        .await
        .unwrap();
    prune::prune(
        &state.db,
        &state.keys.audit,
        w.app.clock.now(),
        state.config.audit_keep,
    )
    .await
    .unwrap()
    .expect("pruned again");
    let rows = w.app.audit_rows().await;
    assert_eq!(
        rows.iter()
            .filter(|e| e.action == "destruction_report.anchored"
                && e.resource_id.as_deref() == Some(sha.as_str()))
            .count(),
        1
    );
}

impl World {
    async fn list_version(&self, list: &str) -> Value {
        ok(
            self.app
                .get(&format!("/destruction-lists/{list}"), &self.records.token)
                .await,
            StatusCode::OK,
        )
        .await["version"]
            .clone()
    }

    async fn delete(&self, path: &str, version: Value) -> reqwest::Response {
        self.app
            .request(Method::DELETE, path, Some(&self.records.token))
            .header("If-Match", format!("\"{version}\""))
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn an_aborted_list_is_edited_or_removed_and_frees_its_records() {
    let mut w = World::new().await;
    let (d1, _) = w.closed_defender("Curlew", "Aborted One").await;
    let (d2, _) = w.closed_defender("Stint", "Aborted Two").await;
    w.years_later(TimeDelta::days(2 * 366)).await;
    let entries = [
        w.entry(&d1).await["id"].clone(),
        w.entry(&d2).await["id"].clone(),
    ];
    let list = w.approved_list(&entries).await;
    // approved: not edited until aborted
    let v = w.list_version(&list).await;
    let p = problem(
        w.delete(&format!("/destruction-lists/{list}"), v).await,
        409,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("abort"), "{p}");
    ok(w.list_status(&list, "new").await, StatusCode::OK).await;
    // one item out: its record may be proposed again at once
    let items = w.items(&list, &w.records.token).await;
    let first = item_of(&items, &d1)["id"].as_str().unwrap().to_owned();
    let stale = w.list_version(&list).await.as_i64().unwrap() - 1;
    let item_path = format!("/destruction-lists/{list}/items/{first}");
    problem(w.delete(&item_path, json!(stale)).await, 412).await;
    let v = w.list_version(&list).await;
    let resp = w.delete(&item_path, v).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(w.entry(&d1).await["destructionListId"], Value::Null);
    let again = ok(
        w.app
            .post(
                "/destruction-lists",
                Some(&w.records.token),
                json!({"name": "again", "records": [entries[0]]}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(again["status"], "new");
    // the aborted list goes, and so does its hold on the other record
    let v = w.list_version(&list).await;
    let resp = w.delete(&format!("/destruction-lists/{list}"), v).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    problem(
        w.app
            .get(&format!("/destruction-lists/{list}"), &w.records.token)
            .await,
        404,
    )
    .await;
    assert_eq!(w.entry(&d2).await["destructionListId"], Value::Null);
    assert_eq!(w.execute().await.records, 0);
    let events = w.app.audit_rows().await;
    assert!(events
        .iter()
        .any(|e| e.action == "destruction_list.item_removed"));
    assert!(events
        .iter()
        .any(|e| e.action == "destruction_list.removed"));
}

// ---- the invariant suite: random sequences of records work, by several
// staff with different roles, under the test clock, checked after every step

mod invariants {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    /// One step of a sequence. Indices pick among what exists when the step
    /// runs (modulo its count), so every sequence is valid to run.
    #[derive(Debug, Clone)]
    pub enum Op {
        /// A defender with one stay, withdrawn and closed (secret or not).
        Defender {
            secret: bool,
        },
        /// A participant with one withdrawn placement.
        Participant,
        ReopenStay(usize),
        CloseStay(usize),
        NewStay(usize),
        NewPlacement(usize),
        /// A hold placed (or lifted) on an index entry by an archivist who sees all.
        Hold(usize, bool),
        /// A list proposed by one of the records officers, of some due entries.
        /// (After two years and more, when `age`.)
        Propose {
            author: usize,
            picks: Vec<usize>,
            age: bool,
        },
        /// Moves a list up to `steps` steps on, by staff picked from `actor`
        /// on (a review accepts all, or keeps one).
        Progress {
            list: usize,
            actor: usize,
            keep: bool,
            steps: usize,
        },
        Abort(usize),
        Advance(u32),
        /// Executes what is due, after the waiting period when `wait`.
        Execute {
            wait: bool,
        },
        Erase(usize),
        /// The service stopped and started again on the same database.
        Restart,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => any::<bool>().prop_map(|secret| Op::Defender { secret }),
            3 => Just(Op::Participant),
            1 => any::<usize>().prop_map(Op::ReopenStay),
            1 => any::<usize>().prop_map(Op::CloseStay),
            1 => any::<usize>().prop_map(Op::NewStay),
            1 => any::<usize>().prop_map(Op::NewPlacement),
            2 => (any::<usize>(), any::<bool>()).prop_map(|(n, h)| Op::Hold(n, h)),
            4 => (0..3usize, prop::collection::vec(any::<usize>(), 1..4), prop::bool::weighted(0.6))
                .prop_map(|(author, picks, age)| Op::Propose { author, picks, age }),
            6 => (any::<usize>(), 0..5usize, prop::bool::weighted(0.2), 1..9usize)
                .prop_map(|(list, actor, keep, steps)| Op::Progress { list, actor, keep, steps }),
            1 => any::<usize>().prop_map(Op::Abort),
            2 => prop_oneof![Just(1u32), Just(9), Just(400), Just(800), Just(800)].prop_map(Op::Advance),
            3 => prop::bool::weighted(0.8).prop_map(|wait| Op::Execute { wait }),
            1 => any::<usize>().prop_map(Op::Erase),
            1 => Just(Op::Restart),
        ]
    }

    struct Stay {
        id: String,
        reference: String,
        secret: bool,
        /// `closed` or the status it is in
        status: String,
    }

    struct Defender {
        id: String,
        stays: Vec<Stay>,
        erased: bool,
    }

    struct Participant {
        id: String,
        placements: Vec<(String, bool)>,
        /// The data key their duty-of-care record is sealed under.
        data_key: uuid::Uuid,
    }

    /// The app, its staff, and what the test knows must be kept.
    struct Sut {
        w: World,
        /// records officers: only that; with shelter coordinator; with
        /// exchange coordinator; then the two plain coordinators
        staff: Vec<Account>,
        defenders: Vec<Defender>,
        participants: Vec<Participant>,
        /// record ids under a hold placed and not lifted
        held: HashSet<String>,
        /// record ids a reviewer kept, until
        kept: HashMap<String, chrono::NaiveDate>,
        lists: Vec<String>,
    }

    async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.as_u16() < 500, "a server error: {status} {text}");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    impl Sut {
        async fn new() -> Sut {
            let w = World::new().await;
            let staff = vec![
                w.app.account(&[Role::RecordsOfficer]).await,
                w.app
                    .account(&[Role::RecordsOfficer, Role::ShelterCoordinator])
                    .await,
                w.app
                    .account(&[Role::RecordsOfficer, Role::ExchangeCoordinator])
                    .await,
                w.app.account(&[Role::ShelterCoordinator]).await,
                w.app.account(&[Role::ExchangeCoordinator]).await,
            ];
            Sut {
                w,
                staff,
                defenders: Vec::new(),
                participants: Vec::new(),
                held: HashSet::new(),
                kept: HashMap::new(),
                lists: Vec::new(),
            }
        }

        fn req(&self, method: Method, path: &str, who: usize) -> reqwest::RequestBuilder {
            self.w
                .app
                .request(method, path, Some(&self.staff[who].token))
        }

        async fn get(&self, path: &str, who: usize) -> (StatusCode, Value) {
            send(self.req(Method::GET, path, who)).await
        }

        /// Every page of a list, as `who`.
        async fn all(&self, path: &str, who: usize) -> Vec<Value> {
            let mut out = Vec::new();
            let sep = if path.contains('?') { '&' } else { '?' };
            let mut next = format!("{path}{sep}limit=200");
            loop {
                let (status, page) = self.get(&next, who).await;
                if status != StatusCode::OK {
                    return out;
                }
                out.extend(page["items"].as_array().unwrap().iter().cloned());
                match page["next"].as_str() {
                    Some(c) => next = format!("{path}{sep}limit=200&cursor={c}"),
                    None => return out,
                }
            }
        }

        fn today(&self) -> chrono::NaiveDate {
            self.w.app.clock.now().date_naive()
        }

        async fn stay_to(&mut self, d: usize, s: usize, to: &str) {
            let id = self.defenders[d].stays[s].id.clone();
            let (status, _) = send(
                self.req(Method::POST, &format!("/stays/{id}/status-changes"), 3)
                    .json(&json!({"to": to, "reason": "asked again"})),
            )
            .await;
            if status == StatusCode::CREATED {
                self.defenders[d].stays[s].status = to.to_owned();
            }
        }

        async fn progress(&mut self, list: usize, actor: usize, keep: bool) {
            if self.lists.is_empty() {
                return;
            }
            let id = self.lists[list % self.lists.len()].clone();
            let (status, l) = self.get(&format!("/destruction-lists/{id}"), 1).await;
            if status != StatusCode::OK {
                return;
            }
            let author = self
                .staff
                .iter()
                .position(|s| s.id.to_string() == l["authorId"].as_str().unwrap())
                .unwrap_or(0);
            let move_to = |sut: &Sut, who: usize, to: &'static str| {
                sut.req(
                    Method::POST,
                    &format!("/destruction-lists/{id}/status-changes"),
                    who,
                )
                .header("If-Match", format!("\"{}\"", l["version"]))
                .json(&json!({"status": to}))
            };
            match l["status"].as_str().unwrap() {
                "new" | "changes_requested" => {
                    send(move_to(self, author, "ready_to_review")).await;
                }
                "internally_reviewed" => {
                    send(move_to(self, author, "ready_for_archivist")).await;
                }
                "ready_for_archivist" => {
                    send(move_to(self, actor % 3, "ready_to_delete")).await;
                }
                "ready_to_review" => {
                    // staff 1..5 review (records officers with a
                    // coordinator role, and the plain coordinators)
                    let who = 1 + actor % 4;
                    let items = self
                        .all(&format!("/destruction-lists/{id}/items"), who)
                        .await;
                    let mine: Vec<&Value> = items
                        .iter()
                        .filter(|i| i["status"] == "suggested" && i["decision"].is_null())
                        .collect();
                    if mine.is_empty() {
                        return;
                    }
                    let until = self.today() + TimeDelta::days(3000);
                    let decisions: Vec<Value> = mine
                        .iter()
                        .enumerate()
                        .map(|(n, i)| {
                            if keep && n == 0 {
                                json!({"item": i["id"], "decision": "keep", "keepUntil": until})
                            } else {
                                json!({"item": i["id"], "decision": "accept"})
                            }
                        })
                        .collect();
                    let (status, _) = send(
                        self.req(
                            Method::POST,
                            &format!("/destruction-lists/{id}/reviews"),
                            who,
                        )
                        .json(&json!({"decisions": decisions})),
                    )
                    .await;
                    if status == StatusCode::OK && keep {
                        self.kept
                            .insert(mine[0]["recordId"].as_str().unwrap().to_owned(), until);
                    }
                }
                _ => {}
            }
        }

        /// Moves the clock on and signs everyone in again.
        async fn advance(&mut self, days: u32) {
            self.w.app.clock.advance(TimeDelta::days(i64::from(days)));
            for n in 0..self.staff.len() {
                self.staff[n].token = self.w.app.sign_in(&self.staff[n]).await;
            }
            let w = &mut self.w;
            for a in [
                &mut w.records,
                &mut w.archivist,
                &mut w.shelter,
                &mut w.exchange,
            ] {
                a.token = w.app.sign_in(a).await;
            }
        }

        async fn apply(&mut self, op: &Op) {
            match op {
                Op::Defender { secret } => {
                    let n = self.defenders.len();
                    let (d, s) = self
                        .w
                        .closed_defender(&format!("Inv{n}x"), &format!("Invariant Person {n}"))
                        .await;
                    let (_, stay) = self.get(&format!("/stays/{s}"), 3).await;
                    if *secret {
                        let (status, _) = send(
                            self.req(Method::PATCH, &format!("/stays/{s}"), 3)
                                .header("If-Match", format!("\"{}\"", stay["version"]))
                                .header("X-Audit-Reason", "followed")
                                .json(&json!({"confidentiality": "secret"})),
                        )
                        .await;
                        assert_eq!(status, StatusCode::OK);
                    }
                    self.defenders.push(Defender {
                        id: d,
                        stays: vec![Stay {
                            id: s,
                            reference: stay["reference"].as_str().unwrap().to_owned(),
                            secret: *secret,
                            status: "closed".to_owned(),
                        }],
                        erased: false,
                    });
                }
                Op::Participant => {
                    let n = self.participants.len();
                    let (p, pl) = self
                        .w
                        .participant(
                            &format!(
                                "inv{n}.{}@student.example.nl",
                                uuid::Uuid::now_v7().simple()
                            ),
                            "withdrawn",
                        )
                        .await;
                    // a duty-of-care record, sealed under their own key
                    let guardian = json!({"legalRepresentative": {"name": format!("Guardian {p}"),
                                          "relationship": "father", "phone": "+31 20 555 0100"}});
                    let (status, _) = send(
                        self.req(Method::PUT, &format!("/participants/{p}/care"), 4)
                            .header("If-Match", "\"1\"")
                            .json(&guardian),
                    )
                    .await;
                    assert_eq!(status, StatusCode::OK);
                    let row = <casedesk::entities::participants::Entity as sea_orm::EntityTrait>::find_by_id(
                        p.parse::<uuid::Uuid>().unwrap(),
                    )
                    .one(&self.w.app.state.db)
                    .await
                    .unwrap()
                    .unwrap();
                    self.participants.push(Participant {
                        id: p,
                        placements: vec![(pl, false)],
                        data_key: row.data_key_id.unwrap(),
                    });
                }
                Op::ReopenStay(n) | Op::CloseStay(n) => {
                    let stays: Vec<(usize, usize)> = self
                        .defenders
                        .iter()
                        .enumerate()
                        .filter(|(_, d)| !d.erased)
                        .flat_map(|(i, d)| (0..d.stays.len()).map(move |s| (i, s)))
                        .collect();
                    if stays.is_empty() {
                        return;
                    }
                    let (d, s) = stays[n % stays.len()];
                    let to = if matches!(op, Op::ReopenStay(_)) {
                        "aftercare"
                    } else {
                        "closed"
                    };
                    self.stay_to(d, s, to).await;
                }
                Op::NewStay(n) => {
                    let live: Vec<usize> = (0..self.defenders.len())
                        .filter(|d| !self.defenders[*d].erased)
                        .collect();
                    if live.is_empty() {
                        return;
                    }
                    let d = live[n % live.len()];
                    let id = self.defenders[d].id.clone();
                    let (status, s) = send(self.req(Method::POST, "/stays", 3).json(&json!({
                        "defenderId": id, "intakeRound": "2030-spring", "plannedArrival": "2030-03-01",
                        "plannedDeparture": "2030-06-01", "visaStatus": "to_apply", "insuranceArranged": true,
                        "confidentiality": "restricted"}))).await;
                    if status == StatusCode::CREATED {
                        self.defenders[d].stays.push(Stay {
                            id: s["id"].as_str().unwrap().to_owned(),
                            reference: s["reference"].as_str().unwrap().to_owned(),
                            secret: false,
                            status: "referred".to_owned(),
                        });
                    }
                }
                Op::NewPlacement(n) => {
                    if self.participants.is_empty() {
                        return;
                    }
                    let p = n % self.participants.len();
                    let (first, _) = self.participants[p].placements[0].clone();
                    let (status, old) = self.get(&format!("/placements/{first}"), 4).await;
                    if status != StatusCode::OK {
                        return;
                    }
                    let id = self.participants[p].id.clone();
                    let (status, pl) = send(self.req(Method::POST, "/placements", 4).json(&json!({
                        "participantId": id, "direction": "outgoing",
                        "sendingInstitutionId": old["sendingInstitutionId"],
                        "receivingInstitutionId": old["receivingInstitutionId"],
                        "kind": "traineeship", "plannedStart": "2031-02-01", "plannedEnd": "2031-04-30"}))).await;
                    if status == StatusCode::CREATED {
                        self.participants[p]
                            .placements
                            .push((pl["id"].as_str().unwrap().to_owned(), true));
                    }
                }
                Op::Hold(n, hold) => {
                    let entries: Vec<Value> = self
                        .all("/archive-records?archiefstatus=nog_te_archiveren", 1)
                        .await;
                    if entries.is_empty() {
                        return;
                    }
                    let e = &entries[n % entries.len()];
                    let (status, _) = send(
                        self.req(
                            Method::PATCH,
                            &format!("/archive-records/{}", e["id"].as_str().unwrap()),
                            1,
                        )
                        .header("If-Match", format!("\"{}\"", e["version"]))
                        .header("X-Audit-Reason", "litigation")
                        .json(&json!({"legalHold": hold})),
                    )
                    .await;
                    if status == StatusCode::OK {
                        let id = e["recordId"].as_str().unwrap().to_owned();
                        if *hold {
                            self.held.insert(id);
                        } else {
                            self.held.remove(&id);
                        }
                    }
                }
                Op::Propose { author, picks, age } => {
                    if *age {
                        self.advance(800).await;
                    }
                    // by a filter (it leaves out whatever may not go), or
                    // of one entry by name
                    let today = self.today();
                    let body = match picks[0] % 5 {
                        0 => json!({"name": "invariants", "filter": {"dueBy": today}}),
                        1 => {
                            json!({"name": "invariants", "filter": {"dueBy": today, "recordType": "defender"}})
                        }
                        2 => {
                            json!({"name": "invariants", "filter": {"dueBy": today, "recordType": "participant"}})
                        }
                        3 => {
                            json!({"name": "invariants", "filter": {"dueBy": today, "recordType": "placement"}})
                        }
                        _ => {
                            let entries: Vec<Value> = self
                                .all(&format!("/archive-records?archiefstatus=nog_te_archiveren&dueBy={today}"), *author)
                                .await;
                            if entries.is_empty() {
                                return;
                            }
                            let e = &entries[picks[picks.len() - 1] % entries.len()];
                            json!({"name": "invariants", "records": [e["id"]]})
                        }
                    };
                    let (status, list) = send(
                        self.req(Method::POST, "/destruction-lists", *author)
                            .json(&body),
                    )
                    .await;
                    if status == StatusCode::CREATED {
                        self.lists.push(list["id"].as_str().unwrap().to_owned());
                    }
                }
                Op::Progress {
                    list,
                    actor,
                    keep,
                    steps,
                } => {
                    for step in 0..*steps {
                        self.progress(*list, actor + step, *keep && step == 0).await;
                    }
                }
                Op::Abort(n) => {
                    if self.lists.is_empty() {
                        return;
                    }
                    let id = self.lists[n % self.lists.len()].clone();
                    let (status, l) = self.get(&format!("/destruction-lists/{id}"), 1).await;
                    if status == StatusCode::OK {
                        send(
                            self.req(
                                Method::POST,
                                &format!("/destruction-lists/{id}/status-changes"),
                                1,
                            )
                            .header("If-Match", format!("\"{}\"", l["version"]))
                            .json(&json!({"status": "new"})),
                        )
                        .await;
                    }
                }
                Op::Advance(days) => self.advance(*days).await,
                Op::Restart => self.w.app.restart().await,
                Op::Execute { wait } => {
                    if *wait {
                        self.advance(8).await;
                    }
                    casedesk::records::execution::execute_due(&self.w.app.state, None)
                        .await
                        .unwrap();
                }
                Op::Erase(n) => {
                    let live: Vec<usize> = (0..self.defenders.len())
                        .filter(|d| !self.defenders[*d].erased)
                        .collect();
                    if live.is_empty() {
                        return;
                    }
                    let d = live[n % live.len()];
                    let id = self.defenders[d].id.clone();
                    let (status, current) = self.get(&format!("/defenders/{id}"), 3).await;
                    if status != StatusCode::OK {
                        return;
                    }
                    let (status, _) = send(
                        self.req(Method::DELETE, &format!("/defenders/{id}"), 3)
                            .header("If-Match", format!("\"{}\"", current["version"]))
                            .header("X-Audit-Reason", "asked to be forgotten"),
                    )
                    .await;
                    if status == StatusCode::NO_CONTENT {
                        self.defenders[d].erased = true;
                    }
                }
            }
        }

        fn must_keep(&self, id: &str) -> bool {
            self.held.contains(id) || self.kept.get(id).is_some_and(|k| *k > self.today())
        }

        /// The rules, checked against the service as it now is.
        async fn check(&self, full: bool) {
            // nothing open, held or kept (or with such a part) is destroyed
            for d in self.defenders.iter().filter(|d| !d.erased) {
                let keep = self.must_keep(&d.id)
                    || d.stays
                        .iter()
                        .any(|s| s.status != "closed" || self.must_keep(&s.id));
                if keep {
                    let (status, _) = self.get(&format!("/defenders/{}", d.id), 3).await;
                    assert_eq!(status, StatusCode::OK, "defender {} was destroyed", d.id);
                }
            }
            for p in &self.participants {
                let keep = self.must_keep(&p.id)
                    || p.placements
                        .iter()
                        .any(|(id, open)| *open || self.must_keep(id));
                if keep {
                    let (status, _) = self.get(&format!("/participants/{}", p.id), 4).await;
                    assert_eq!(status, StatusCode::OK, "participant {} was destroyed", p.id);
                }
            }
            // author, reviewers and archivist are different people
            let lists = self.all("/destruction-lists", 1).await;
            for l in &lists {
                let items = self
                    .all(
                        &format!("/destruction-lists/{}/items", l["id"].as_str().unwrap()),
                        1,
                    )
                    .await;
                let reviewers: HashSet<&str> = items
                    .iter()
                    .filter_map(|i| i["reviewedBy"].as_str())
                    .collect();
                assert!(!reviewers.contains(l["authorId"].as_str().unwrap()), "{l}");
                if let Some(a) = l["approvedBy"].as_str() {
                    assert_ne!(a, l["authorId"].as_str().unwrap(), "{l}");
                    assert!(!reviewers.contains(a), "{l}");
                }
            }
            // a secret stay appears nowhere the plain records officer looks
            let secrets: Vec<&str> = self
                .defenders
                .iter()
                .filter(|d| d.stays.iter().any(|s| s.secret))
                .flat_map(|d| {
                    std::iter::once(d.id.as_str()).chain(
                        d.stays
                            .iter()
                            .flat_map(|s| [s.id.as_str(), s.reference.as_str()]),
                    )
                })
                .collect();
            if !secrets.is_empty() {
                let mut seen =
                    serde_json::to_string(&self.all("/archive-records", 0).await).unwrap();
                for l in self.all("/destruction-lists", 0).await {
                    let id = l["id"].as_str().unwrap();
                    seen.push_str(
                        &serde_json::to_string(
                            &self.all(&format!("/destruction-lists/{id}/items"), 0).await,
                        )
                        .unwrap(),
                    );
                    seen.push_str(
                        &self
                            .get(&format!("/destruction-lists/{id}/report"), 0)
                            .await
                            .1
                            .to_string(),
                    );
                }
                for s in &secrets {
                    assert!(!seen.contains(s), "{s} is visible to the records officer");
                }
            }
            if !full {
                return;
            }
            // everything destroyed is in exactly one report, with its parts
            let mut reported: HashMap<String, (usize, Option<String>)> = HashMap::new();
            for l in lists.iter().filter(|l| l["status"] == "deleted") {
                let (_, r) = self
                    .get(
                        &format!("/destruction-lists/{}/report", l["id"].as_str().unwrap()),
                        1,
                    )
                    .await;
                for i in r["items"].as_array().unwrap() {
                    let e = reported
                        .entry(i["recordId"].as_str().unwrap().to_owned())
                        .or_insert((0, None));
                    e.0 += 1;
                    e.1 = i["partOf"].as_str().map(str::to_owned);
                }
            }
            for (id, (n, _)) in &reported {
                assert_eq!(*n, 1, "{id} is in {n} reports");
            }
            if std::env::var_os("INVARIANTS_VERBOSE").is_some() {
                eprintln!(
                    "lists {} ({} executed), destroyed and reported {}, held {}, kept {}",
                    lists.len(),
                    lists.iter().filter(|l| l["status"] == "deleted").count(),
                    reported.len(),
                    self.held.len(),
                    self.kept.len()
                );
            }
            for d in self.defenders.iter().filter(|d| !d.erased) {
                let (status, _) = self.get(&format!("/defenders/{}", d.id), 3).await;
                let destroyed = status == StatusCode::NOT_FOUND;
                assert_eq!(destroyed, reported.contains_key(&d.id), "defender {}", d.id);
                for s in &d.stays {
                    if destroyed {
                        assert_eq!(
                            reported.get(&s.id).and_then(|r| r.1.clone()),
                            Some(d.id.clone()),
                            "stay {}",
                            s.id
                        );
                    }
                }
            }
            for p in &self.participants {
                let (status, _) = self.get(&format!("/participants/{}", p.id), 4).await;
                let destroyed = status == StatusCode::NOT_FOUND;
                assert_eq!(
                    destroyed,
                    reported.contains_key(&p.id),
                    "participant {}",
                    p.id
                );
                // a destroyed participant's data key is gone with them; a
                // kept one's duty-of-care record still opens
                let key =
                    <casedesk::entities::data_keys::Entity as sea_orm::EntityTrait>::find_by_id(
                        p.data_key,
                    )
                    .one(&self.w.app.state.db)
                    .await
                    .unwrap();
                assert_eq!(key.is_none(), destroyed, "participant {}'s data key", p.id);
                if !destroyed {
                    let (status, care) = self.get(&format!("/participants/{}/care", p.id), 4).await;
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(
                        care["legalRepresentative"]["name"],
                        format!("Guardian {}", p.id)
                    );
                }
                for (pl, _) in &p.placements {
                    let (status, _) = self.get(&format!("/placements/{pl}"), 4).await;
                    if status == StatusCode::NOT_FOUND {
                        assert!(
                            reported.contains_key(pl),
                            "placement {pl} destroyed unreported"
                        );
                    }
                }
            }
        }
    }

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(64)
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: cases(),
            max_shrink_iters: 64,
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
            )),
            ..ProptestConfig::default()
        })]

        /// Random sequences of records work keep the records rules. A
        /// failing sequence is printed (shrunk) and kept in
        /// `tests/api/records.regressions`, which later runs replay first.
        #[test]
        fn records_rules_hold_after_every_step(ops in prop::collection::vec(op(), 4..32)) {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut sut = Sut::new().await;
                for op in &ops {
                    sut.apply(op).await;
                    let full = matches!(op, Op::Execute { .. } | Op::Erase(_) | Op::Restart);
                    sut.check(full).await;
                }
                sut.check(true).await;
            });
        }
    }
}
