//! Facts written in more than one place, held together: the role lists
//! of the spec against `Role::ALL`, so that a new role cannot be added to
//! the enum and forgotten in the `maxItems` of the staff bodies.

use crate::common;

use casedesk::accounts::model::Role;
use common::committed_spec;

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

/// Every field a client may send to create or change a record (`NewX`,
/// `XUpdate`) is a field of its view `X`, so a field added to a body and
/// forgotten in the view (or the other way round) fails here. The few that
/// are instructions rather than stored fields are listed, and each listing
/// must still be needed.
#[test]
fn every_body_field_is_a_field_of_its_view() {
    let spec = committed_spec();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    // (body, field): what the field does instead of being stored on the view
    let instructions = [
        // the old key's overlap, not a property of the new key
        ("NewApiClientKey", "overlapHours"),
        // set on the placement, not on its status change
        ("NewPlacementStatusChange", "actualStart"),
        ("NewPlacementStatusChange", "actualEnd"),
        // shown on the change as `quotaOverridden`
        ("NewPlacementStatusChange", "overrideQuota"),
        // sealed and never shown: the view says `hasAuthorization`
        ("NewSubscription", "authorization"),
        ("SubscriptionUpdate", "authorization"),
    ];
    let mut used = Vec::new();
    let mut checked = 0;
    for (name, schema) in schemas {
        let view = name
            .strip_prefix("New")
            .or_else(|| name.strip_suffix("Update"))
            .filter(|v| schemas.contains_key(*v));
        let Some(view) = view else { continue };
        let fields = schemas[view]["properties"].as_object().unwrap();
        for f in schema["properties"].as_object().unwrap().keys() {
            if instructions.contains(&(name.as_str(), f.as_str())) {
                used.push((name.as_str(), f.as_str()));
                continue;
            }
            assert!(
                fields.contains_key(f),
                "{name}.{f} is not a field of {view}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "{checked} bodies checked");
    for i in instructions {
        assert!(used.contains(&i), "{i:?} is listed but no longer sent");
    }
}

fn allows_null(property: &serde_json::Value) -> bool {
    let null = serde_json::json!("null");
    property["type"] == null
        || property["type"]
            .as_array()
            .is_some_and(|types| types.contains(&null))
        || property["anyOf"]
            .as_array()
            .is_some_and(|options| options.iter().any(|o| o["type"] == null))
}

/// A PATCH body is a JSON Merge Patch: a field may be `null` (cleared) in
/// it exactly when its view may show it empty, less the few a record
/// cannot lose (listed with the reason), and every such field is cleared
/// by `null` (the HTTP tests of each area send it).
#[test]
fn a_patch_may_clear_exactly_what_its_view_may_show_empty() {
    let spec = committed_spec();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    // (body, field): empty in the view for another reason than being cleared
    let kept = [
        // the sealed identity is shown only to those who may see it; it is replaced, not removed
        ("DefenderUpdate", "identity"),
        // set when the stay is made; shown only to those who may see it
        ("StayUpdate", "visaStatus"),
        ("StayUpdate", "insuranceArranged"),
    ];
    let mut patches = 0;
    for item in spec["paths"].as_object().unwrap().values() {
        let Some(r) = item
            .pointer("/patch/requestBody/content/application~1json/schema/$ref")
            .and_then(|r| r.as_str())
        else {
            continue;
        };
        let name = r.trim_start_matches("#/components/schemas/");
        let Some(view) = schemas.get(name.trim_end_matches("Update")) else {
            continue; // StaffUpdate: its view is the staff member, another shape
        };
        patches += 1;
        let required: Vec<&str> = view["required"]
            .as_array()
            .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        for (field, property) in schemas[name]["properties"].as_object().unwrap() {
            let may_be_empty =
                !required.contains(&field.as_str()) && !kept.contains(&(name, field.as_str()));
            assert_eq!(
                allows_null(property),
                may_be_empty,
                "{name}.{field}: null in the patch iff the view may show it empty"
            );
        }
    }
    assert!(patches >= 10, "{patches} PATCH bodies checked");
}
