//! What a new integrator meets: the promises of the spec kept by the
//! service (links, locations, versions, required headers, problem types),
//! walked over the spec itself so that a new operation is covered when it is
//! added.

use crate::common;

use std::collections::BTreeMap;

use casedesk::accounts::model::Role;
use common::{
    bodies::{NewDefender, NewStay},
    problem, TestApp,
};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

/// Creates two of everything that is listed, and gives the ids that fill
/// the lists' paths.
async fn world(app: &TestApp) -> (BTreeMap<&'static str, String>, Vec<String>) {
    let admin = app.account(&[Role::Admin]).await;
    let shelter = app.account(&[Role::ShelterCoordinator]).await;
    let exchange = app.account(&[Role::ExchangeCoordinator]).await;
    let auditor = app.account(&[Role::Auditor]).await;
    let analyst = app.account(&[Role::Analyst]).await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let created = |resp: reqwest::Response| async move {
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    };
    let e = Some(exchange.token.as_str());
    let s = Some(shelter.token.as_str());
    let mut institutions = Vec::new();
    for (name, country) in [("Home", "NL"), ("Partner", "DE")] {
        let v = created(
            app.post(
                "/institutions",
                e,
                json!({"name": name, "kind": "mbo_college", "country": country, "city": "C", "sisterCity": false}),
            )
            .await,
        )
        .await;
        institutions.push(id(&v));
    }
    for year in ["2026", "2027"] {
        created(app.post("/agreements", e, json!({"partnerInstitutionId": institutions[1], "programme": "erasmus_plus", "validFrom": format!("{year}-01-01"), "validUntil": format!("{year}-12-31"), "status": "active",
            "quotas": [{"direction": "outgoing", "educationLevel": "mbo_4", "places": 4, "totalMonths": 12}]})).await).await;
    }
    let mut participants = Vec::new();
    for n in 0..2 {
        let v = created(app.post("/participants", e, json!({"givenName": "G", "familyName": format!("F{n}"), "dateOfBirth": "2007-01-01", "email": format!("p{n}@student.example.nl"), "educationLevel": "mbo_4", "homeInstitutionId": institutions[0], "fieldOfStudy": "Care", "nationality": "NL", "fewerOpportunities": false})).await).await;
        participants.push(id(&v));
    }
    let mut placement = String::new();
    let mut placements = Vec::new();
    for p in &participants {
        let v = created(app.post("/placements", e, json!({"participantId": p, "direction": "outgoing", "sendingInstitutionId": institutions[0], "receivingInstitutionId": institutions[1], "kind": "traineeship", "plannedStart": "2027-02-01", "plannedEnd": "2027-05-01"})).await).await;
        placement = id(&v);
        placements.push(placement.clone());
    }
    // the first placement is withdrawn: it and its participant are closed records
    created(
        app.post(
            &format!("/placements/{}/status-changes", placements[0]),
            e,
            json!({"to": "withdrawn"}),
        )
        .await,
    )
    .await;
    for to in ["nominated", "accepted"] {
        created(
            app.post(
                &format!("/placements/{placement}/status-changes"),
                e,
                json!({"to": to}),
            )
            .await,
        )
        .await;
    }
    let mut defender = String::new();
    for n in 0..2 {
        let v = created(app.post("/defenders", s, json!({"codename": format!("Walk{n}"), "countryOfWork": "UG", "fieldOfWork": "labour", "languages": [], "riskLevel": "high"})).await).await;
        defender = id(&v);
    }
    for n in 0..2 {
        created(
            app.post(
                &format!("/defenders/{defender}/consents"),
                s,
                json!({"item": if n == 0 { "photo" } else { "story" }, "grantedOn": "2026-01-01", "expiresOn": "2030-01-01"}),
            )
            .await,
        )
        .await;
    }
    let mut stay = String::new();
    for round in ["2026-autumn", "2027-spring"] {
        let v = created(app.post("/stays", s, json!({"defenderId": defender, "intakeRound": round, "plannedArrival": "2026-09-01", "plannedDeparture": "2026-12-01", "visaStatus": "to_apply", "insuranceArranged": false, "confidentiality": "restricted"})).await).await;
        stay = id(&v);
    }
    for n in 0..2 {
        created(
            app.post(
                &format!("/stays/{stay}/notes"),
                s,
                json!({"category": "safety", "body": format!("note {n}")}),
            )
            .await,
        )
        .await;
        created(app.post(&format!("/stays/{stay}/risk-assessments"), s, json!({"level": "high", "threats": "T", "measures": "M", "nextReviewOn": "2026-01-01"})).await).await;
        created(app.post(&format!("/stays/{stay}/activities"), s, json!({"kind": "public_event", "title": format!("Panel {n}"), "date": "2026-10-10", "public": false})).await).await;
    }
    for to in ["intake", "pre_arrival"] {
        created(
            app.post(
                &format!("/stays/{stay}/status-changes"),
                s,
                json!({"to": to}),
            )
            .await,
        )
        .await;
    }
    let caseworkers = [
        app.account(&[Role::ShelterCaseworker]).await,
        app.account(&[Role::ShelterCaseworker]).await,
    ];
    for c in &caseworkers {
        let resp = app
            .request(
                Method::PUT,
                &format!("/stays/{stay}/assignments/{}", c.id),
                Some(&shelter.token),
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }
    let mut subscription = String::new();
    for n in 0..2 {
        let v = created(app.post("/subscriptions", Some(&admin.token), json!({"callbackUrl": format!("https://r{n}.example.org/hook"), "channels": [{"kanaal": "participants"}]})).await).await;
        subscription = v["subscription"]["id"].as_str().unwrap().to_owned();
    }
    for _ in 0..2 {
        app.post("/audit-checkpoints", Some(&auditor.token), json!({}))
            .await;
    }
    let (_, events) = app.api_client(&admin.token, &["events.read"]).await;
    app.api_client(&admin.token, &["exchange.read"]).await;
    // two shelter roles asked for: two pending grants
    for n in 0..2 {
        created(app.post("/staff", Some(&admin.token), json!({"email": format!("grant{n}@casedesk.test"), "displayName": "G", "roles": ["shelter_caseworker"]})).await).await;
    }
    // withdrawn placements are due at once: two destruction lists, the
    // second of three records
    created(
        app.post(
            &format!("/placements/{placement}/status-changes"),
            e,
            json!({"to": "withdrawn"}),
        )
        .await,
    )
    .await;
    let records = app.account(&[Role::RecordsOfficer]).await;
    let rules: Value = app
        .get("/retention-rules?limit=200", &records.token)
        .await
        .json()
        .await
        .unwrap();
    // the shortest term there is (a day), and a clock two days on
    for (record_type, outcome) in [
        ("placement", "withdrawn"),
        ("participant", "all"),
        ("defender", "none"),
    ] {
        let rule = rules["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["outcome"] == outcome && x["recordType"] == record_type)
            .unwrap()
            .clone();
        let resp = app
            .request(
                Method::PATCH,
                &format!("/retention-rules/{}", id(&rule)),
                Some(&records.token),
            )
            .header("If-Match", format!("\"{}\"", rule["version"]))
            .json(&json!({"term": "P1D"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    app.clock.advance(chrono::TimeDelta::days(2));
    let records_token = app.sign_in(&records).await;
    let r = Some(records_token.as_str());
    let index: Value = app
        .get("/archive-records", &records_token)
        .await
        .json()
        .await
        .unwrap();
    let entry = |record_type: &str, nth: usize| -> Value {
        index["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["recordType"] == record_type)
            .nth(nth)
            .unwrap_or_else(|| panic!("{record_type} {nth}: {index}"))["id"]
            .clone()
    };
    // two lists: a placement alone, then a participant (with their
    // placement) and a defender who never had a stay
    let mut destruction_list = String::new();
    let items = index["items"].as_array().unwrap();
    let first_placement = items
        .iter()
        .find(|e| e["recordType"] == "placement")
        .unwrap()
        .clone();
    // a participant's reference is that of their (only) placement
    let other = items
        .iter()
        .find(|e| {
            e["recordType"] == "participant" && e["reference"] != first_placement["reference"]
        })
        .unwrap_or_else(|| panic!("{index}"))["id"]
        .clone();
    let first_placement = first_placement["id"].clone();
    for records in [
        vec![first_placement.clone()],
        vec![other, entry("defender", 0)],
    ] {
        let v = created(
            app.post(
                "/destruction-lists",
                r,
                json!({"name": "walk", "records": records}),
            )
            .await,
        )
        .await;
        destruction_list = id(&v);
    }
    let ids = BTreeMap::from([
        ("placements", placement),
        ("destruction-lists", destruction_list),
        ("defenders", defender),
        ("stays", stay),
        ("subscriptions", subscription),
    ]);
    // the records officer first: a coordinator sees only the lists of their programme
    let tokens = vec![
        records_token.clone(),
        app.sign_in(&shelter).await,
        app.sign_in(&exchange).await,
        app.sign_in(&admin).await,
        app.sign_in(&auditor).await,
        app.sign_in(&analyst).await,
        events,
    ];
    (ids, tokens)
}

/// The lists of the spec: GET operations whose 200 answer has a `Link`.
fn lists(ids: &BTreeMap<&str, String>) -> Vec<(String, String)> {
    let doc = common::committed_spec();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else { continue };
        if op["responses"]["200"]["headers"].get("Link").is_none() {
            continue;
        }
        let parts: Vec<&str> = path.split('/').collect();
        let concrete: Vec<String> = parts
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if s.starts_with('{') {
                    ids.get(parts[i - 1]).cloned().unwrap_or_default()
                } else {
                    (*s).to_owned()
                }
            })
            .collect();
        out.push((
            op["operationId"].as_str().unwrap().to_owned(),
            concrete.join("/"),
        ));
    }
    out
}

/// `rel="next"` joined the public URL with the path poem's `nest` had
/// already stripped of `/api/v1`: every next link was a 404. Every list is
/// walked one item a page, by its links and by its cursors, and the two
/// walks must agree.
#[tokio::test]
async fn every_lists_next_link_leads_through_the_same_pages_as_its_cursor() {
    let app = TestApp::spawn().await;
    let (ids, tokens) = world(&app).await;
    let lists = lists(&ids);
    assert!(lists.len() >= 20, "{lists:?}");
    let mut walked_by_link = 0;
    for (operation, path) in &lists {
        let sep = if path.contains('?') { '&' } else { '?' };
        let first = format!("{}{path}{sep}limit=1", app.api(""));
        let mut token = None;
        for t in &tokens {
            let resp = app.client.get(&first).bearer_auth(t).send().await.unwrap();
            if resp.status() == StatusCode::OK {
                token = Some(t.clone());
                break;
            }
        }
        let token = token.unwrap_or_else(|| panic!("{operation}: nobody may list {path}"));
        let page = |url: String| {
            let client = app.client.clone();
            let token = token.clone();
            async move {
                let resp = client.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(resp.status(), StatusCode::OK, "{operation}: {url}");
                let link = resp
                    .headers()
                    .get(header::LINK)
                    .map(|v| v.to_str().unwrap().to_owned());
                let body: Value = resp.json().await.unwrap();
                (body, link)
            }
        };
        let key = |item: &Value| {
            item.get("id")
                .or_else(|| item.get("seq"))
                .map(Value::to_string)
                .unwrap_or_else(|| item.to_string())
        };
        // by cursor
        let mut by_cursor = Vec::new();
        let (mut body, _) = page(first.clone()).await;
        loop {
            by_cursor.extend(body["items"].as_array().unwrap().iter().map(key));
            let Some(next) = body["next"].as_str() else {
                break;
            };
            body = page(format!("{first}&cursor={next}")).await.0;
        }
        // by link
        let mut by_link = Vec::new();
        let mut url = first.clone();
        let mut pages = 0;
        loop {
            let (body, link) = page(url.clone()).await;
            pages += 1;
            by_link.extend(body["items"].as_array().unwrap().iter().map(key));
            assert_eq!(
                link.is_some(),
                !body["next"].is_null(),
                "{operation}: a Link exactly when there is a next page"
            );
            let Some(link) = link else { break };
            let target = link
                .strip_prefix('<')
                .and_then(|l| l.split_once(">; rel=\"next\""))
                .map(|(u, _)| u.to_owned())
                .unwrap_or_else(|| panic!("{operation}: {link}"));
            assert!(
                target.starts_with(&app.api("/")),
                "{operation}: {target} is not under the API"
            );
            url = target;
        }
        if operation == "listAuditEvents" {
            // every read is audited: the trail grew between the two walks
            assert!(by_link.ends_with(&by_cursor), "{operation}");
        } else {
            assert_eq!(by_link, by_cursor, "{operation}");
        }
        if pages > 1 {
            walked_by_link += 1;
        }
    }
    assert!(
        walked_by_link >= lists.len() - 4,
        "only {walked_by_link} of {} lists had a second page",
        lists.len()
    );
}

/// Problems a caller causes are complete and readable: a bad id in a path
/// and a bad `limit` name the parameter without parser internals, a
/// misspelt query key is refused instead of ignored, and every problem has
/// a registered type, `invalidParams` and an `instance`.
#[tokio::test]
async fn caller_errors_name_the_parameter_in_plain_words() {
    let app = TestApp::spawn().await;
    let exchange = app.account(&[Role::ExchangeCoordinator]).await;
    let t = exchange.token.as_str();
    let b = problem(app.get("/placements/not-a-uuid", t).await, 400).await;
    assert_eq!(b["type"], "urn:casedesk:problem:invalid-input");
    assert_eq!(b["invalidParams"][0]["name"], "id", "{b}");
    for (query, name) in [
        ("limit=0", "limit"),
        ("limit=900", "limit"),
        ("limit=x", "limit"),
    ] {
        let b = problem(app.get(&format!("/placements?{query}"), t).await, 400).await;
        let p = &b["invalidParams"][0];
        assert_eq!(p["name"], name, "{b}");
        let reason = p["reason"].as_str().unwrap();
        for internal in [
            "maximum(",
            "minimum(",
            "exclusive",
            "optional_integer",
            "uint32",
            "failed to parse",
        ] {
            assert!(!reason.contains(internal), "{query}: {reason}");
        }
    }
    // a misspelt filter returned every placement; now it is refused, with the keys the list takes
    let b = problem(app.get("/placements?statsu=applied&limit=5", t).await, 400).await;
    assert_eq!(b["invalidParams"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b["invalidParams"][0]["name"], "statsu");
    assert_eq!(b["invalidParams"][0]["code"], "unknown_parameter");
    assert!(b["invalidParams"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("status"));
    // every problem type is one the spec lists, invalidParams is always there, instance names the request
    let spec = casedesk::spec_document().to_string();
    let resp = app
        .request(
            Method::GET,
            "/placements/01a00000-0000-7000-8000-000000000000",
            Some(t),
        )
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();
    let b = problem(resp, 404).await;
    assert_eq!(b["type"], "urn:casedesk:problem:not-found");
    assert_eq!(b["invalidParams"], json!([]));
    assert_eq!(b["instance"], "urn:casedesk:request:trace-me-1");
    let inst: Value = app
        .post("/institutions", Some(t), json!({"name": "I", "kind": "employer", "country": "PT", "city": "C", "sisterCity": false}))
        .await
        .json()
        .await
        .unwrap();
    let inst_path = format!("/institutions/{}", inst["id"].as_str().unwrap());
    for (method, path, status) in [
        (Method::DELETE, "/placements", 405),
        (Method::GET, "/nothing-here", 404),
        (Method::PATCH, inst_path.as_str(), 428),
    ] {
        let resp = app
            .request(method.clone(), path, Some(t))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let allow = resp.headers().get(header::ALLOW).cloned();
        let b = problem(resp, status).await;
        let kind = b["type"].as_str().unwrap();
        assert!(
            kind.starts_with("urn:casedesk:problem:"),
            "{method} {path}: {kind}"
        );
        assert!(spec.contains(kind), "{kind} is not listed in the spec");
        assert!(b["invalidParams"].is_array(), "{b}");
        if status == 405 {
            assert_eq!(allow.unwrap(), "GET, HEAD, POST");
        }
    }
}

/// A code typed as an authenticator app shows it (`123 456`, a stray
/// space) is the code.
#[tokio::test]
async fn a_totp_code_with_spaces_is_the_code() {
    let app = TestApp::spawn().await;
    let account = app.account(&[Role::ShelterCoordinator]).await;
    app.clock.advance(chrono::TimeDelta::seconds(30));
    let code = app.totp_code(account.totp_secret.as_ref().unwrap());
    let spaced = format!(" {} {}", &code[..3], &code[3..]);
    let resp = app
        .login_response(&account.email, common::PASSWORD, Some(&spaced))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap()
    );
}

/// Browsers send `Origin` on every write, the service's own docs page too:
/// with no CORS origins configured, a same-origin write was refused with
/// "This account may not do this.". Same-origin passes; another origin is
/// refused with a problem that says it is the origin.
#[tokio::test]
async fn same_origin_writes_pass_and_a_foreign_origin_is_named_as_the_reason() {
    let app = TestApp::spawn().await;
    let exchange = app.account(&[Role::ExchangeCoordinator]).await;
    let body =
        json!({"name": "I", "kind": "employer", "country": "PT", "city": "C", "sisterCity": false});
    let own = format!("http://{}", app.addr);
    let resp = app
        .request(Method::POST, "/institutions", Some(&exchange.token))
        .header(header::ORIGIN, &own)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap()
    );
    let resp = app
        .request(Method::POST, "/institutions", Some(&exchange.token))
        .header(header::ORIGIN, "https://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    let b = problem(resp, 403).await;
    assert_eq!(b["type"], "urn:casedesk:problem:cross-origin");
    assert!(!b["detail"].as_str().unwrap().contains("account may not"));
}

/// `If-Match: *` ("whatever is current", RFC 9110) was a 412.
#[tokio::test]
async fn if_match_star_changes_the_current_version() {
    let app = TestApp::spawn().await;
    let exchange = app.account(&[Role::ExchangeCoordinator]).await;
    let inst: Value = app
        .post("/institutions", Some(&exchange.token), json!({"name": "I", "kind": "employer", "country": "PT", "city": "C", "sisterCity": false}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/institutions/{}", inst["id"].as_str().unwrap());
    let resp = app
        .request(Method::PATCH, &path, Some(&exchange.token))
        .header(header::IF_MATCH, "*")
        .json(&json!({"city": "Braga"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::ETAG], "\"2\"");
    let resp = app
        .request(Method::PATCH, &path, Some(&exchange.token))
        .header(header::IF_MATCH, "\"1\"")
        .json(&json!({"city": "Faro"}))
        .send()
        .await
        .unwrap();
    problem(resp, 412).await;
}

/// Every create answers 201 only, with an absolute `Location` that leads
/// to the resource and an `ETag`; reads and updates answer 200 (ten of them
/// documented 201).
#[tokio::test]
async fn the_spec_documents_one_success_status_and_creates_carry_location() {
    let doc = common::committed_spec();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            let ok: Vec<&String> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|c| c.starts_with('2'))
                .collect();
            if method == "get" || method == "patch" {
                assert_eq!(ok, ["200"], "{id}");
            }
            let has_address = doc["paths"]
                .get(format!("{path}/{{id}}"))
                .is_some_and(|i| i.get("get").is_some());
            if method == "post" && has_address {
                let created = &op["responses"]["201"]["headers"];
                assert!(created.get("Location").is_some(), "{id} has no Location");
                assert!(created.get("ETag").is_some(), "{id} has no ETag");
            }
            let if_match = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == "If-Match");
            if let Some(p) = if_match {
                assert_eq!(p["required"], true, "{id}: If-Match is required");
            }
        }
    }
}

/// The README lists every problem type the service can answer with, as the
/// spec does.
#[test]
fn the_readme_and_the_spec_list_every_problem_type() {
    let readme = include_str!("../../README.md");
    let spec = casedesk::spec_document().to_string();
    for t in casedesk::http::problem::ProblemType::ALL {
        let uri = t.uri();
        assert!(readme.contains(&format!("`{uri}`")), "README lacks {uri}");
        assert!(spec.contains(&uri), "the spec lacks {uri}");
    }
}

/// A domain slip an integrator found: a placement under an agreement with
/// a Köln institution was accepted with a Sevilla one receiving.
#[tokio::test]
async fn placements_keep_to_their_agreement() {
    let app = TestApp::spawn().await;
    let exchange = app.account(&[Role::ExchangeCoordinator]).await;
    let e = Some(exchange.token.as_str());
    let mut ids = Vec::new();
    for (name, country) in [("Delft", "NL"), ("Köln", "DE"), ("Sevilla", "ES")] {
        let v: Value = app
            .post("/institutions", e, json!({"name": name, "kind": "mbo_college", "country": country, "city": name, "sisterCity": false}))
            .await
            .json()
            .await
            .unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let agreement: Value = app
        .post("/agreements", e, json!({"partnerInstitutionId": ids[1], "programme": "erasmus_plus", "validFrom": "2026-01-01", "validUntil": "2030-12-31", "status": "active",
            "quotas": [{"direction": "outgoing", "educationLevel": "mbo_4", "places": 4, "totalMonths": 12}]}))
        .await
        .json()
        .await
        .unwrap();
    let learner: Value = app
        .post("/participants", e, json!({"givenName": "G", "familyName": "F", "dateOfBirth": "2007-01-01", "email": "g@student.example.nl", "educationLevel": "mbo_4", "homeInstitutionId": ids[0], "fieldOfStudy": "Care", "nationality": "NL", "fewerOpportunities": false}))
        .await
        .json()
        .await
        .unwrap();
    let start = (chrono::Utc::now() + chrono::TimeDelta::days(120)).date_naive();
    let end = start + chrono::TimeDelta::days(60);
    let placement = |receiving: &str| {
        json!({"participantId": learner["id"], "direction": "outgoing", "sendingInstitutionId": ids[0], "receivingInstitutionId": receiving,
               "agreementId": agreement["id"], "kind": "traineeship", "plannedStart": start.to_string(), "plannedEnd": end.to_string()})
    };
    let b = problem(app.post("/placements", e, placement(&ids[2])).await, 400).await;
    assert_eq!(
        b["invalidParams"][0]["name"], "receivingInstitutionId",
        "{b}"
    );
    let resp = app.post("/placements", e, placement(&ids[1])).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let p: Value = resp.json().await.unwrap();
    let changes = format!("/placements/{}/status-changes", p["id"].as_str().unwrap());
    for to in ["nominated", "accepted", "agreement_signed"] {
        let resp = app.post(&changes, e, json!({"to": to})).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{to}");
    }

    // months before its planned start, a start is said, never set to today
    let today = chrono::Utc::now().date_naive();
    let b = problem(
        app.post(&changes, e, json!({"to": "in_progress"})).await,
        400,
    )
    .await;
    assert_eq!(b["invalidParams"][0]["name"], "actualStart", "{b}");
    assert!(
        b["invalidParams"][0]["reason"]
            .as_str()
            .unwrap()
            .contains(&start.to_string()),
        "{b}"
    );
    let tomorrow = (today + chrono::TimeDelta::days(1)).to_string();
    let b = problem(
        app.post(
            &changes,
            e,
            json!({"to": "in_progress", "actualStart": tomorrow}),
        )
        .await,
        400,
    )
    .await;
    assert!(
        b["invalidParams"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("after today"),
        "{b}"
    );
    let b = problem(
        app.post(
            &changes,
            e,
            json!({"to": "in_progress", "actualEnd": today.to_string()}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(b["invalidParams"][0]["name"], "actualEnd", "{b}");
    let early = (today - chrono::TimeDelta::days(3)).to_string();
    let resp = app
        .post(
            &changes,
            e,
            json!({"to": "in_progress", "actualStart": early}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let b = problem(app.post(&changes, e, json!({"to": "interrupted", "actualEnd": (today - chrono::TimeDelta::days(5)).to_string()})).await, 400).await;
    assert_eq!(
        b["invalidParams"][0]["reason"], "Must not be before the placement's actual start.",
        "{b}"
    );
    let resp = app.post(&changes, e, json!({"to": "interrupted", "actualEnd": (today - chrono::TimeDelta::days(1)).to_string()})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let got: Value = app
        .get(
            &format!("/placements/{}", p["id"].as_str().unwrap()),
            &exchange.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["actualStart"], early, "{got}");
    assert_eq!(
        got["actualEnd"],
        (today - chrono::TimeDelta::days(1)).to_string(),
        "{got}"
    );
}

/// An invalid `reason` on a stay's status change was dropped and the change
/// made without it (placements refused it).
#[tokio::test]
async fn an_invalid_stay_status_reason_is_refused_not_dropped() {
    let app = TestApp::spawn().await;
    let shelter = app.account(&[Role::ShelterCoordinator]).await;
    let s = Some(shelter.token.as_str());
    let t = shelter.token.as_str();
    let d = app
        .create_id("/defenders", t, NewDefender::named("Reason"))
        .await;
    let stay = app.create_id("/stays", t, NewStay::of(&d)).await;
    let changes = format!("/stays/{stay}/status-changes");
    let b = problem(
        app.post(
            &changes,
            s,
            json!({"to": "intake", "reason": "early\u{0007}return"}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(b["invalidParams"][0]["name"], "reason", "{b}");
    let list: Value = app
        .get(&changes, &shelter.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing changed: {list}"
    );
}

/// An unreadable e-mail address was reported only once the rest of the body
/// passed the schema: one request now lists all its problems, the address
/// among them, and the spec says the field is `format: email`.
#[tokio::test]
async fn one_request_lists_all_its_problems_an_email_among_them() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let exchange = app.account(&[Role::ExchangeCoordinator]).await;
    let names = |b: &Value| -> Vec<String> {
        b["invalidParams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let b = problem(
        app.post("/participants", Some(&exchange.token), json!({"givenName": "G", "familyName": "F", "dateOfBirth": "2007-01-01", "email": "not an address", "educationLevel": "mbo_4", "homeInstitutionId": "0190a0a0-0000-7000-8000-000000000000", "nationality": "NL", "fewerOpportunities": false}))
            .await,
        400,
    )
    .await;
    assert_eq!(names(&b), ["fieldOfStudy", "email"], "{b}");
    let b = problem(
        app.post(
            "/staff",
            Some(&admin.token),
            json!({"email": "a@b", "displayName": "", "roles": ["analyst"]}),
        )
        .await,
        400,
    )
    .await;
    let mut found = names(&b);
    found.sort();
    assert_eq!(found, ["displayName", "email"], "{b}");
    let b = problem(
        app.post("/institutions", Some(&exchange.token), json!({"name": "N", "kind": "hbo", "country": "NL", "sisterCity": false, "contactEmail": "x@"}))
            .await,
        400,
    )
    .await;
    let mut found = names(&b);
    found.sort();
    assert_eq!(found, ["city", "contactEmail"], "{b}");
    let spec = common::committed_spec();
    for (schema, field) in [
        ("NewParticipant", "email"),
        ("ParticipantUpdate", "email"),
        ("NewStaffRequest", "email"),
        ("NewInstitution", "contactEmail"),
        ("InstitutionUpdate", "contactEmail"),
    ] {
        let prop = &spec["components"]["schemas"][schema]["properties"][field];
        let format = prop["format"]
            .as_str()
            .or_else(|| prop["anyOf"][0]["format"].as_str());
        assert_eq!(format, Some("email"), "{schema}.{field}: {prop}");
    }
}
