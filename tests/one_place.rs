//! Facts written in more than one place, held together: the role lists
//! of the spec against `Role::ALL`, so that a new role cannot be added to
//! the enum and forgotten in the `maxItems` of the staff bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use casedesk::accounts::model::Role;
use serde_json::Value;

fn committed_spec() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_role_list_of_the_spec_fits_every_role_once() {
    let spec = committed_spec();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let listed: Vec<&str> = schemas["Role"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed, names, "the spec's Role enum is Role::ALL");
    let mut bounded = 0;
    for (name, schema) in schemas {
        let Some(roles) = schema["properties"].get("roles") else {
            continue;
        };
        if let Some(max) = roles.get("maxItems") {
            assert_eq!(
                max.as_u64(),
                Some(Role::ALL.len() as u64),
                "{name}.roles.maxItems must be the number of roles (unique items of Role::ALL)"
            );
            assert_eq!(roles["uniqueItems"], true, "{name}.roles");
            bounded += 1;
        }
    }
    assert_eq!(bounded, 2, "the two staff bodies bound their role lists");
}
