//! The council's statistics: placements by dimension, the MBO and inclusion
//! shares, and defenders hosted with small counts suppressed.

use crate::common;

use casedesk::{accounts::model::Role, clock::Clock};
use common::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn ok(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::test]
async fn placement_counts_and_shares() {
    let app = TestApp::spawn().await;
    let coordinator = app.account(&[Role::ExchangeCoordinator]).await;
    let analyst = app.account(&[Role::Analyst]).await;
    let t = coordinator.token.as_str();
    let home = ok(app.post("/institutions", Some(t), json!({"name": "ROC", "kind": "mbo_college", "country": "NL", "city": "Amsterdam", "sisterCity": false})).await).await;
    let pt = ok(app.post("/institutions", Some(t), json!({"name": "Escola", "kind": "mbo_college", "country": "PT", "city": "Porto", "sisterCity": true})).await).await;
    let de = ok(app.post("/institutions", Some(t), json!({"name": "Hochschule", "kind": "hbo", "country": "DE", "city": "Köln", "sisterCity": false})).await).await;
    // three learners: MBO with fewer opportunities, MBO, HBO
    let mut learners = Vec::new();
    for (name, level, fewer) in [
        ("A", "mbo_2", true),
        ("B", "mbo_4", false),
        ("C", "hbo", false),
    ] {
        let p = ok(app
            .post("/participants", Some(t), json!({"givenName": name, "familyName": "X", "dateOfBirth": "2006-01-01", "email": format!("{name}@x.nl"), "educationLevel": level, "homeInstitutionId": home["id"], "fieldOfStudy": "Care", "nationality": "NL", "fewerOpportunities": fewer}))
            .await)
        .await;
        learners.push(p["id"].as_str().unwrap().to_owned());
    }
    let mut made = Vec::new();
    for (i, (learner, dest, start)) in [
        (0, &pt, "2027-03-01"),
        (1, &pt, "2027-04-01"),
        (2, &de, "2027-05-01"),
        (1, &de, "2026-05-01"),
    ]
    .into_iter()
    .enumerate()
    {
        let p = ok(app
            .post("/placements", Some(t), json!({"participantId": learners[learner], "direction": "outgoing", "sendingInstitutionId": home["id"], "receivingInstitutionId": dest["id"], "kind": "traineeship", "plannedStart": start, "plannedEnd": "2027-12-01"}))
            .await)
        .await;
        let id = p["id"].as_str().unwrap().to_owned();
        if i < 3 {
            for s in ["nominated", "accepted"] {
                assert_eq!(
                    app.post(
                        &format!("/placements/{id}/status-changes"),
                        Some(t),
                        json!({"to": s})
                    )
                    .await
                    .status(),
                    StatusCode::CREATED
                );
            }
        }
        made.push(id);
    }
    let all = ok(app.get("/statistics/placements", &analyst.token).await).await;
    let items = all["items"].as_array().unwrap();
    assert_eq!(
        items
            .iter()
            .map(|i| i["placements"].as_i64().unwrap())
            .sum::<i64>(),
        4
    );
    let pt_2027 = ok(app
        .get(
            "/statistics/placements?year=2027&country=PT&status=accepted",
            &analyst.token,
        )
        .await)
    .await;
    let cells = pt_2027["items"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{pt_2027}");
    assert!(cells
        .iter()
        .all(|c| c["country"] == "PT" && c["year"] == 2027 && c["placements"] == 1));
    let hbo = ok(app
        .get("/statistics/placements?educationLevel=hbo", &analyst.token)
        .await)
    .await;
    assert_eq!(hbo["items"][0]["country"], "DE");

    // 2027: three placements made, two MBO, one with fewer opportunities
    let shares = ok(app
        .get("/statistics/placement-shares?year=2027", &analyst.token)
        .await)
    .await;
    assert_eq!(
        shares["items"],
        json!([{"year": 2027, "placements": 3, "mbo": 2, "mboSharePercent": "66.7", "fewerOpportunities": 1, "fewerOpportunitiesSharePercent": "33.3"}])
    );
    // the 2026 placement was never accepted: not a placement made
    let shares = ok(app
        .get("/statistics/placement-shares?year=2026", &analyst.token)
        .await)
    .await;
    assert_eq!(shares["items"], json!([]));
    // reads of statistics are on record
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|e| e.action == "statistics.read" && e.actor_id == Some(analyst.id)));
}

#[tokio::test]
async fn small_counts_of_defenders_are_suppressed_under_every_filter() {
    let app = TestApp::spawn().await;
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let analyst = app.account(&[Role::Analyst]).await;
    let t = coordinator.token.as_str();
    // six journalists from Uganda, two labour activists from Colombia, one from Kenya
    let cohort = [
        ("journalism", "UG", 6),
        ("labour", "CO", 2),
        ("labour", "KE", 1),
    ];
    let mut n = 0;
    for (field, country, count) in cohort {
        for _ in 0..count {
            n += 1;
            let d = ok(app.post("/defenders", Some(t), json!({"codename": format!("Stat{n}"), "countryOfWork": country, "fieldOfWork": field, "languages": [], "riskLevel": "high"})).await).await;
            let s = ok(app
                .post("/stays", Some(t), json!({"defenderId": d["id"], "intakeRound": "r", "plannedArrival": "2026-09-01", "plannedDeparture": "2026-12-01", "visaStatus": "granted", "insuranceArranged": true, "confidentiality": "restricted"}))
                .await)
            .await;
            let sid = s["id"].as_str().unwrap();
            for to in ["intake", "pre_arrival", "in_residence"] {
                assert_eq!(
                    app.post(
                        &format!("/stays/{sid}/status-changes"),
                        Some(t),
                        json!({"to": to})
                    )
                    .await
                    .status(),
                    StatusCode::CREATED
                );
            }
        }
    }
    let year = app.clock.now().date_naive().format("%Y").to_string();
    let full = ok(app
        .get("/statistics/defenders-hosted", &analyst.token)
        .await)
    .await;
    let this_year: i64 = year.parse().unwrap();
    let cell_of = |table: &Value, y: i64, field: &str, region: &str| -> Value {
        table["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["year"] == y && c["fieldOfWork"] == field && c["region"] == region)
            .map(|c| c["defenders"].clone())
            .unwrap_or(Value::Null)
    };
    let cell = |table: &Value, field: &str, region: &str| cell_of(table, this_year, field, region);
    // every cell is there, empty ones too: ten years, 9 fields, 7 regions,
    // so an absent cell never tells 0 from 1-4
    assert_eq!(full["items"].as_array().unwrap().len(), 10 * 9 * 7);
    assert_eq!(cell(&full, "womens_rights", "europe"), json!("<5"));
    assert_eq!(
        cell_of(&full, this_year - 3, "journalism", "africa"),
        json!("<5")
    );
    assert_eq!(cell(&full, "journalism", "africa"), json!(6));
    assert_eq!(
        cell(&full, "labour", "latin_america_caribbean"),
        json!("<5")
    );
    assert_eq!(cell(&full, "labour", "africa"), json!("<5"));

    // no filter combination shows a number below 5, or anything other than the full table's cell
    let fields = ["", "journalism", "labour", "womens_rights"];
    let regions = ["", "africa", "latin_america_caribbean", "europe"];
    let years = ["", year.as_str(), "1999"];
    for f in fields {
        for r in regions {
            for y in years {
                let mut q = Vec::new();
                if !f.is_empty() {
                    q.push(format!("fieldOfWork={f}"));
                }
                if !r.is_empty() {
                    q.push(format!("region={r}"));
                }
                if !y.is_empty() {
                    q.push(format!("year={y}"));
                }
                let table = ok(app
                    .get(
                        &format!("/statistics/defenders-hosted?{}", q.join("&")),
                        &analyst.token,
                    )
                    .await)
                .await;
                for c in table["items"].as_array().unwrap() {
                    let v = &c["defenders"];
                    assert!(
                        v == "<5" || v.as_i64().is_some_and(|n| n >= 5),
                        "{q:?}: {c}"
                    );
                    let y = c["year"].as_i64().unwrap();
                    let expected = if y == 1999 {
                        json!("<5")
                    } else {
                        cell_of(
                            &full,
                            y,
                            c["fieldOfWork"].as_str().unwrap(),
                            c["region"].as_str().unwrap(),
                        )
                    };
                    assert_eq!(*v, expected, "{q:?}");
                }
                // the filters choose cells of the fixed table, never fewer
                let want = if y.is_empty() { 10 } else { 1 }
                    * if f.is_empty() { 9 } else { 1 }
                    * if r.is_empty() { 7 } else { 1 };
                assert_eq!(table["items"].as_array().unwrap().len(), want, "{q:?}");
                assert!(table.get("total").is_none());
            }
        }
    }
    // an unknown region is a 400 that names the regions
    let resp = app
        .get(
            "/statistics/defenders-hosted?region=atlantis",
            &analyst.token,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // the same table as CSV, suppressed the same way
    let resp = app
        .request(
            reqwest::Method::GET,
            "/statistics/defenders-hosted",
            Some(&analyst.token),
        )
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with("year,fieldOfWork,region,defenders\n"),
        "{text}"
    );
    assert!(
        text.contains(",journalism,africa,6\n")
            && text.contains(",labour,latin_america_caribbean,<5\n"),
        "{text}"
    );
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|e| e.action == "statistics.exported"));
    // erased defenders still count: statistics keep field, region and year
    let list = ok(app
        .get("/defenders?fieldOfWork=journalism&limit=1", t)
        .await)
    .await;
    let id = list["items"][0]["id"].as_str().unwrap();
    let resp = app
        .request(
            reqwest::Method::DELETE,
            &format!("/defenders/{id}"),
            Some(t),
        )
        .header("if-match", "\"1\"")
        .header("x-audit-reason", "erasure request")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let after = ok(app
        .get("/statistics/defenders-hosted", &analyst.token)
        .await)
    .await;
    assert_eq!(cell(&after, "journalism", "africa"), json!(6));
}
