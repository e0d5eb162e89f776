//! Completes the document poem-openapi generates so that it says what the
//! service really does and passes the NL API Design Rules linter: the version
//! and request-id headers on every response, the error statuses an operation
//! can really give, calendar dates as `date`, contact details.

use poem::http::StatusCode;
use serde_json::{json, Map, Value};

use super::API_VERSION;

/// Who may call an operation, as the spec shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OperationAccess {
    /// No token; the operation itself checks credentials (sign-in): it can answer 401.
    Public,
    /// A bearer token: a staff session (as `staff` says) or an API key
    /// holding any of `scopes`.
    Bearer {
        staff: StaffAccess,
        scopes: Vec<&'static str>,
        /// Refused without an `X-Audit-Reason`.
        reason_required: bool,
    },
    /// No rule: refused to everyone.
    Nobody,
}

/// Which staff members may call an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StaffAccess {
    Any,
    Roles(Vec<&'static str>),
    Nobody,
}

/// Finishes the generated document (given as JSON text); `access` says who
/// may call each operation, by operation id.
pub(crate) fn complete(generated: &str, access: impl Fn(&str) -> OperationAccess) -> Value {
    let mut doc: Value = serde_json::from_str(generated).unwrap_or_else(|_| json!({}));
    if let Some(info) = doc.get_mut("info").and_then(Value::as_object_mut) {
        info.insert(
            "contact".to_owned(),
            json!({
                "name": "Casedesk maintainers",
                "email": "casedesk@example.org",
                "url": "https://github.com/casedesk/casedesk"
            }),
        );
        info.insert(
            "license".to_owned(),
            json!({"name": "EUPL-1.2", "url": "https://eupl.eu/1.2/en/"}),
        );
    }
    doc["servers"] = json!([{
        "url": "/api/v1",
        "description": "This service, version 1 of the API"
    }]);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (_, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                if let Some(op) = op.as_object_mut() {
                    let rule = op
                        .get("operationId")
                        .and_then(Value::as_str)
                        .map_or(OperationAccess::Nobody, &access);
                    complete_operation(method, op, &rule);
                }
            }
        }
    }
    doc["components"]["securitySchemes"] = json!({
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "A staff session token from POST /sessions, or an API client's key (`cdk_...`) from POST /api-clients. Each operation lists the staff roles (`x-casedesk-roles`) and client scopes (`x-casedesk-scopes`) it admits."
        }
    });
    if let Some(problem) = doc.pointer_mut("/components/schemas/Problem") {
        problem["description"] = Value::String(format!(
            "Problem details (RFC 9457), the body of every 4xx and 5xx answer. Branch on `type`; `title` and `detail` are for people. The types:\n\n{}",
            super::problem::ProblemType::table()
        ));
    }
    fix_formats(&mut doc);
    mark_nullable(&mut doc);
    close_request_bodies(&mut doc);
    to_openapi_31(&mut doc);
    share_components(&mut doc);
    doc
}

/// The answers and headers every operation repeats are written once, in
/// `components.responses` and `components.headers`, and referred to: the
/// problem answers and their headers were two thirds of the document.
/// A header is shared when it is the same wherever it appears; an answer
/// (an error's) when it is the same for every operation that gives it.
fn share_components(doc: &mut Value) {
    use std::collections::BTreeMap;
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return;
    };
    let responses_of = |paths: &Map<String, Value>| -> Vec<(String, Value)> {
        paths
            .values()
            .filter_map(Value::as_object)
            .flat_map(|item| item.values())
            .filter_map(|op| op.get("responses").and_then(Value::as_object))
            .flat_map(|r| r.iter().map(|(s, v)| (s.clone(), v.clone())))
            .collect()
    };
    // headers: the same object everywhere it is used
    let mut headers: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (_, response) in responses_of(paths) {
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            let seen = headers.entry(name.clone()).or_default();
            if !seen.contains(header) {
                seen.push(header.clone());
            }
        }
    }
    let shared_headers: Map<String, Value> = headers
        .into_iter()
        .filter(|(_, variants)| variants.len() == 1)
        .map(|(name, mut variants)| (name, variants.remove(0)))
        .collect();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        for response in responses.values_mut() {
            let Some(hs) = response.get_mut("headers").and_then(Value::as_object_mut) else {
                continue;
            };
            for (name, header) in hs.iter_mut() {
                if shared_headers.contains_key(name) {
                    *header = json!({"$ref": format!("#/components/headers/{name}")});
                }
            }
        }
    }
    // error answers: one per status when every operation gives the same
    let mut answers: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (status, response) in responses_of(paths) {
        if status.starts_with('2') || status.starts_with('3') {
            continue;
        }
        let seen = answers.entry(status).or_default();
        if !seen.contains(&response) {
            seen.push(response);
        }
    }
    let mut shared_answers = Map::new();
    let mut names: BTreeMap<(String, usize), String> = BTreeMap::new();
    for (status, variants) in &answers {
        let base = StatusCode::from_u16(status.parse().unwrap_or(0))
            .ok()
            .and_then(|c| c.canonical_reason())
            .map(|r| r.split([' ', '-']).collect::<String>())
            .unwrap_or_else(|| format!("Status{status}"));
        let retry = |v: &Value| v["headers"].get("Retry-After").is_some();
        let some_without = variants.iter().any(|v| !retry(v));
        for (i, variant) in variants.iter().enumerate() {
            let mut name = if variant["headers"].get("RateLimit-Policy").is_some() {
                format!("{base}RateLimited")
            } else if retry(variant) && some_without {
                format!("{base}RetryAfter")
            } else {
                base.clone()
            };
            if shared_answers.contains_key(&name) {
                name = format!("{name}{}", i + 1);
            }
            shared_answers.insert(name.clone(), variant.clone());
            names.insert((status.clone(), i), name);
        }
    }
    for op in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            let Some(variants) = answers.get(status) else {
                continue;
            };
            if let Some(i) = variants.iter().position(|v| v == response) {
                if let Some(name) = names.get(&(status.clone(), i)) {
                    *response = json!({"$ref": format!("#/components/responses/{name}")});
                }
            }
        }
    }
    if let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) {
        components.insert("headers".to_owned(), Value::Object(shared_headers));
        components.insert("responses".to_owned(), Value::Object(shared_answers));
    }
}

/// A request body refuses fields its schema does not name (`JsonBody`
/// lists them as `unknown_field`, nested objects included): its schema says
/// so, with `additionalProperties: false`, and so does every object schema
/// it refers to (some of which answers share; an answer of such a schema
/// has exactly its fields). A request's `expiresAt` must lie ahead, which no
/// fixed example stays: it has none.
fn close_request_bodies(doc: &mut Value) {
    let mut pending: Vec<String> = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for op in paths
            .values()
            .filter_map(Value::as_object)
            .flat_map(|i| i.values())
        {
            if let Some(content) = op
                .pointer("/requestBody/content")
                .and_then(Value::as_object)
            {
                for media in content.values() {
                    collect_refs(&media["schema"], &mut pending);
                }
            }
        }
    }
    let mut closed: Vec<String> = Vec::new();
    while let Some(name) = pending.pop() {
        if closed.contains(&name) {
            continue;
        }
        let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) else {
            continue;
        };
        let mut refs = Vec::new();
        collect_refs(schema, &mut refs);
        if let Some(map) = schema.as_object_mut() {
            let open_map = map
                .get("additionalProperties")
                .is_some_and(|a| a.is_object());
            if map.get("type") == Some(&json!("object"))
                && map.contains_key("properties")
                && !open_map
            {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            if let Some(expires) = map
                .get_mut("properties")
                .and_then(|p| p.get_mut("expiresAt"))
                .and_then(Value::as_object_mut)
            {
                expires.remove("example");
            }
            if let Some(properties) = map.get_mut("properties").and_then(Value::as_object_mut) {
                for property in properties.values_mut() {
                    say_text_rules(property);
                    if let Some(items) = property.get_mut("items") {
                        say_text_rules(items);
                    }
                }
            }
        }
        closed.push(name);
        pending.extend(refs);
    }
}

/// The names of the component schemas `value` refers to.
/// Text the service reads (`text::parse_text` and its kin) holds no control
/// character but tab and line breaks, and where it is required, not only
/// white space: said as a `pattern` on every string of a request body that
/// has no rule of its own (a `pattern`, a `format`, an `enum`). The formats
/// with a rule a pattern can say get it.
/// A required text: no control character but tab and line breaks inside,
/// and none of those nor a space at either end (the service trims a text
/// before it counts it against `minLength`), so `minLength` counts what the
/// service counts.
fn required_text() -> String {
    const INSIDE: &str = "[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F-\\x9F]";
    const END: &str = "[^\\s\\x00-\\x1F\\x7F-\\x9F]";
    // `(?!\n)`: Python's `$` (in generators of requests) also matches before
    // a final line break; ECMA's does not, and the look-ahead says the same
    // to both
    format!("^{END}({INSIDE}*{END})?(?!\\n)$")
}

fn say_text_rules(schema: &mut Value) {
    /// Any character but the control characters (Unicode `Cc`) other than
    /// tab, line feed and carriage return.
    const TEXT: &str = "[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F-\\x9F]";
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    let is_string = match map.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    if !is_string || map.contains_key("pattern") || map.contains_key("enum") {
        return;
    }
    match map.get("format").and_then(Value::as_str) {
        Some("codename") => {
            // one line (not even a tab or a line break), of ASCII's marks
            // only space, apostrophe, hyphen and full stop, no space at
            // either end (it is trimmed, and two characters must remain)
            const MARKS: &str = "\\x00-\\x1F\\x7F-\\x9F!-&(-,/:-@\\[-`{-~";
            map.insert("minLength".to_owned(), json!(2));
            map.insert(
                "pattern".to_owned(),
                json!(format!("^[^\\s{MARKS}][^{MARKS}]*[^\\s{MARKS}]$")),
            );
        }
        Some("language-name") => {
            map.insert("minLength".to_owned(), json!(1));
            map.insert("pattern".to_owned(), json!(required_text()));
        }
        Some("erasmus-code") => {
            map.insert(
                "pattern".to_owned(),
                json!("^([A-Z]{1,3} [A-Z-]{2,8}[0-9]{2})?$"),
            );
        }
        Some(_) => {}
        None => {
            let required = map
                .get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|n| n >= 1);
            let pattern = if required {
                required_text()
            } else {
                format!("^{TEXT}*$")
            };
            map.insert("pattern".to_owned(), json!(pattern));
        }
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The document is OpenAPI 3.1 (JSON Schema 2020-12), in which a null value
/// and a reference with its own description can be written so that every
/// reader agrees: 3.0's `nullable` beside `allOf` is read as "not null" by
/// strict validators, and `allOf: [{$ref}, {description}]` made the Python
/// generator drop the models that used it.
fn to_openapi_31(doc: &mut Value) {
    doc["openapi"] = Value::String("3.1.0".to_owned());
    to_31_schemas(doc);
}

fn to_31_schemas(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (_, v) in map.iter_mut() {
                to_31_schemas(v);
            }
            plain_reference(map);
            if let Some(nullable) = map.remove("nullable") {
                if nullable == Value::Bool(true) {
                    allow_null(map);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_31_schemas),
        _ => {}
    }
}

/// `allOf: [{$ref}, {description}]` (poem-openapi's way to describe a
/// referencing property) becomes `{$ref, description}`.
fn plain_reference(map: &mut Map<String, Value>) {
    let Some(Value::Array(parts)) = map.get("allOf") else {
        return;
    };
    let mut reference = None;
    let mut annotations = Map::new();
    for part in parts {
        let Some(part) = part.as_object() else {
            return;
        };
        if let Some(r) = part.get("$ref") {
            if reference.is_some() || part.len() != 1 {
                return;
            }
            reference = Some(r.clone());
        } else if part
            .keys()
            .all(|k| matches!(k.as_str(), "description" | "title" | "default" | "example"))
        {
            annotations.extend(part.clone());
        } else {
            return; // a real composition: left as it is
        }
    }
    let Some(reference) = reference else {
        return;
    };
    map.remove("allOf");
    for (k, v) in annotations {
        map.entry(k).or_insert(v);
    }
    map.insert("$ref".to_owned(), reference);
}

/// Adds `null` to what a schema accepts, in JSON Schema 2020-12's words.
fn allow_null(map: &mut Map<String, Value>) {
    if let Some(reference) = map.remove("$ref") {
        map.insert(
            "anyOf".to_owned(),
            json!([{"$ref": reference}, {"type": "null"}]),
        );
        return;
    }
    match map.get_mut("type") {
        Some(Value::String(t)) => {
            let t = t.clone();
            map.insert("type".to_owned(), json!([t, "null"]));
            if let Some(Value::Array(options)) = map.get_mut("enum") {
                options.push(Value::Null);
            }
        }
        Some(Value::Array(types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
        }
        _ => {
            let inner: Map<String, Value> = std::mem::take(map);
            let (annotations, rest): (Map<String, Value>, Map<String, Value>) =
                inner.into_iter().partition(|(k, _)| {
                    matches!(k.as_str(), "description" | "title" | "default" | "example")
                });
            map.extend(annotations);
            map.insert(
                "anyOf".to_owned(),
                json!([Value::Object(rest), {"type": "null"}]),
            );
        }
    }
}

/// poem-openapi writes `Option<T>` fields as optional properties, but sends
/// `None` as `null` (and accepts `null` for them): say so, or strict clients
/// reject real answers. Fields with a default are not `Option`s and stay as they are.
///
/// A PATCH body is a JSON Merge Patch (RFC 7396), in which `null` clears a
/// field: only the fields marked `#[oai(nullable)]` there may be `null`.
fn mark_nullable(doc: &mut Value) {
    let patches = merge_patch_bodies(doc);
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (name, schema) in schemas.iter_mut() {
        if patches.contains(name) {
            continue;
        }
        let required: Vec<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, property) in properties.iter_mut() {
            if required.contains(name) || property.get("default").is_some() {
                continue;
            }
            if let Some(p) = property.as_object_mut() {
                p.insert("nullable".to_owned(), Value::Bool(true));
            }
        }
    }
}

/// The schemas PATCH operations take as their body.
fn merge_patch_bodies(doc: &Value) -> Vec<String> {
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    paths
        .values()
        .filter_map(|item| item.pointer("/patch/requestBody/content/application~1json/schema/$ref"))
        .filter_map(Value::as_str)
        .filter_map(|r| r.strip_prefix("#/components/schemas/"))
        .map(str::to_owned)
        .collect()
}

/// The headers an answer carries when the request used a deprecated
/// feature (see `super::deprecation`).
fn deprecation_headers() -> Vec<(&'static str, Value)> {
    let features: Vec<String> = super::deprecation::ALL
        .iter()
        .map(|d| format!("`{}` (sunset {})", d.name, d.sunset))
        .collect();
    vec![
        (
            "Deprecation",
            json!({
                "description": format!("Present when the request used a deprecated feature (RFC 9745): when it was deprecated, as `@<unix time>`. Deprecated now: {}. Clearing a field with an empty text (`\"\"`) is deprecated: send `null`.", features.join(", ")),
                "schema": {"type": "string", "pattern": "^@[0-9]+$"}
            }),
        ),
        (
            "Sunset",
            json!({
                "description": "Present with `Deprecation` (RFC 8594): after this moment the deprecated feature may stop working (with a new major version of the API).",
                "schema": {"type": "string", "maxLength": 40}
            }),
        ),
    ]
}

const MERGE_PATCH: &str = "The body is a JSON Merge Patch (RFC 7396; sent as `application/json` or `application/merge-patch+json`): a field left out stays as it is, a field with a value is set, and `null` clears a field that may be empty (the schema allows `null` for exactly those; `null` for any other field is a 400 naming it). An empty text (`\"\"`) still clears a text that may be empty, but is deprecated: the answer then carries `Deprecation` and `Sunset`.";

fn complete_operation(method: &str, op: &mut Map<String, Value>, access: &OperationAccess) {
    declare_headers(op, access);
    let has_body = op.contains_key("requestBody");
    let has_params = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let authenticated = !matches!(access, OperationAccess::Public);
    let who = match access {
        OperationAccess::Public => "Open to anyone (no token).".to_owned(),
        OperationAccess::Bearer { staff, scopes, .. } => {
            let staff = match staff {
                StaffAccess::Any => "Any signed-in staff member.".to_owned(),
                StaffAccess::Roles(roles) => format!("Roles: {}.", roles.join(", ")),
                StaffAccess::Nobody => "No staff role.".to_owned(),
            };
            if scopes.is_empty() {
                format!("{staff} Not open to API clients.")
            } else {
                format!("{staff} API clients with scope: {}.", scopes.join(" or "))
            }
        }
        OperationAccess::Nobody => "Refused to everyone (no access rule).".to_owned(),
    };
    let mut description = match op.get("description").and_then(Value::as_str) {
        Some(d) => format!("{d}\n\n"),
        None => String::new(),
    };
    if method == "patch" {
        description.push_str(MERGE_PATCH);
        description.push_str("\n\n");
        if let Some(ok) = op
            .get_mut("responses")
            .and_then(|r| r.get_mut("200"))
            .and_then(Value::as_object_mut)
        {
            let headers = ok.entry("headers").or_insert_with(|| json!({}));
            if let Some(headers) = headers.as_object_mut() {
                for (name, d) in deprecation_headers() {
                    headers.insert(name.to_owned(), d);
                }
            }
        }
    }
    description.push_str(&format!("**Access:** {who}"));
    op.insert("description".to_owned(), Value::String(description));
    if let OperationAccess::Bearer { staff, scopes, .. } = access {
        let roles = match staff {
            StaffAccess::Roles(roles) => roles.clone(),
            StaffAccess::Any | StaffAccess::Nobody => Vec::new(),
        };
        op.insert("security".to_owned(), json!([{"bearerAuth": []}]));
        op.insert("x-casedesk-roles".to_owned(), json!(roles));
        op.insert("x-casedesk-scopes".to_owned(), json!(scopes));
    } else if let OperationAccess::Public = access {
        // said, not left out: linters and generators read an operation
        // without `security` as "not documented"
        op.insert("security".to_owned(), json!([]));
    }
    let changes = matches!(method, "post" | "put" | "patch" | "delete");
    let conditional = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter().any(|p| {
                p["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case("if-match"))
            })
        });
    let idempotent = op
        .get("operationId")
        .and_then(Value::as_str)
        .is_some_and(|id| super::idempotency::OPERATIONS.contains(&id));
    let sign_in = op.get("operationId").and_then(Value::as_str) == Some("createSession");
    // only the event feed's cursor can expire
    let feed = op.get("operationId").and_then(Value::as_str) == Some("listEvents");
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    responses.retain(|status, _| match status.as_str() {
        "410" => feed,
        "400" => has_body || has_params || changes,
        "401" => authenticated || *access == OperationAccess::Public,
        "403" => authenticated,
        "408" | "413" | "415" => has_body,
        "409" => changes,
        "412" | "428" => conditional,
        "429" => authenticated || method == "post",
        _ => true,
    });
    // the guard answers a method the path does not have with 405 and Allow
    responses.insert(
        "405".to_owned(),
        json!({
            "description": "The path exists, but not with this method; Allow lists the methods it has.",
            "headers": {
                "Allow": {
                    "description": "The methods this path answers.",
                    "required": true,
                    "schema": {"type": "string", "example": "GET, PATCH"}
                }
            },
            "content": {super::problem::PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        }),
    );
    if idempotent {
        responses.insert(
            "422".to_owned(),
            json!({
                "description": "The Idempotency-Key was sent with another request in the last 24 hours; nothing was written.",
                "content": {super::problem::PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
            }),
        );
    }
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        if idempotent && status == "201" {
            if let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) {
                headers.insert(
                    "Idempotent-Replayed".to_owned(),
                    json!({
                        "description": "`true` when this answers a repeat of an earlier request with the same Idempotency-Key: nothing new was made, and the body is the resource as it now stands.",
                        "schema": {"type": "string", "enum": ["true"]}
                    }),
                );
            }
        }
        let headers = response
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(headers) = headers {
            // poem-openapi upper-cases declared header names; the ADR wants
            // them as registered, so declare them here once for all.
            let upper: Vec<(String, Value)> = headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            headers.clear();
            for (name, value) in upper {
                headers.insert(canonical_header_name(&name), value);
            }
            headers.insert(
                "API-Version".to_owned(),
                json!({
                    "description": "The full semantic version of the API that answered.",
                    "required": true,
                    "schema": {"type": "string", "example": API_VERSION}
                }),
            );
            if sign_in {
                headers.insert(
                    "RateLimit-Policy".to_owned(),
                    json!({
                        "description": "The failed sign-ins an account admits from one address (IETF httpapi RateLimit fields): `\"failed-sign-ins\";q=5;w=900`.",
                        "schema": {"type": "string"}
                    }),
                );
                if status == "429" {
                    headers.insert(
                        "RateLimit".to_owned(),
                        json!({
                            "description": "The limit reached and the seconds until it lifts: `\"failed-sign-ins\";r=0;t=<seconds>`.",
                            "required": true,
                            "schema": {"type": "string"}
                        }),
                    );
                }
            }
            if status == "429" || status == "503" || (idempotent && status == "409") {
                headers.insert(
                    "Retry-After".to_owned(),
                    json!({
                        "description": "Seconds to wait before trying again.",
                        "schema": {"type": "integer", "format": "int64"}
                    }),
                );
            }
            headers.insert(
                "X-Request-Id".to_owned(),
                json!({
                    "description": "The caller's request id, or one the service made; it names the request in the service's log.",
                    "required": true,
                    "schema": {"type": "string", "maxLength": 128}
                }),
            );
        }
    }
}

/// `If-Match` is required wherever it is read (its absence is a 428), and
/// `X-Audit-Reason`, which the guard reads for every signed-in caller, is
/// declared on every authenticated operation: required where the guard
/// refuses a request without it.
fn declare_headers(op: &mut Map<String, Value>, access: &OperationAccess) {
    let params = op
        .entry("parameters")
        .or_insert_with(|| json!([]))
        .as_array_mut();
    let Some(params) = params else {
        return;
    };
    for p in params.iter_mut() {
        let is_if_match = p["in"] == "header"
            && p["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("if-match"));
        if is_if_match {
            p["required"] = Value::Bool(true);
            p["description"] = json!("The ETag of the version the change is based on (`\"3\"`), or `*` for whatever version is current. Missing: 428; not the current version: 412, and nothing is written.");
            // what the service reads as an entity tag: `*`, or quoted version
            // numbers (weak or strong), one or more
            p["schema"] = json!({
                "type": "string",
                "maxLength": 200,
                "pattern": "^(\\*|(W/)?\"[0-9]{1,9}\"( *, *(W/)?\"[0-9]{1,9}\")*)$",
                "examples": ["\"3\""]
            });
        }
    }
    let reason = match *access {
        OperationAccess::Public => None,
        OperationAccess::Bearer {
            reason_required, ..
        } => Some(reason_required),
        OperationAccess::Nobody => Some(false),
    };
    if let Some(required) = reason {
        params.push(json!({
            "name": "X-Audit-Reason",
            "in": "header",
            "required": required,
            "description": if required {
                "Why the caller does this; stored (sealed) with the audit event of this request. This operation refuses a request without it (400). Visible ASCII, or UTF-8 as RFC 8187 sends it: `UTF-8''` and the percent-encoded bytes (`UTF-8''co%C3%B6rdinator`)."
            } else {
                "Why the caller looks at or changes the data; stored (sealed) with the audit event of this request. Visible ASCII, or UTF-8 as RFC 8187 sends it: `UTF-8''` and the percent-encoded bytes (`UTF-8''co%C3%B6rdinator`)."
            },
            "schema": if required {
                // blank is no reason: at least one visible character
                json!({
                    "type": "string",
                    "minLength": 1,
                    "maxLength": crate::audit::reason::MAX_CHARS,
                    "pattern": "^[\\x20-\\x7E\\t]*[\\x21-\\x7E][\\x20-\\x7E\\t]*$"
                })
            } else {
                json!({
                    "type": "string",
                    "maxLength": crate::audit::reason::MAX_CHARS,
                    "pattern": "^[\\x20-\\x7E\\t]*$"
                })
            }
        }));
    }
    let idempotent = op
        .get("operationId")
        .and_then(Value::as_str)
        .is_some_and(|id| super::idempotency::OPERATIONS.contains(&id));
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    if idempotent {
        params.push(json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": super::idempotency::DESCRIPTION,
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": 257,
                "pattern": "^([\\x21\\x23-\\x7E]{1,255}|\"[\\x21\\x23-\\x7E]{1,255}\")$",
                "examples": ["\"8e03978e-40d5-43e8-bc93-6894a57f9324\""]
            }
        }));
    }
    if params.is_empty() {
        op.remove("parameters");
    }
}

fn canonical_header_name(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "etag" => "ETag".to_owned(),
        "www-authenticate" => "WWW-Authenticate".to_owned(),
        other => other
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// chrono's calendar dates print as `naive-date`, which no client knows.
/// Says in the spec which values a rule the service checks admits, where
/// the rule is a closed list: every string schema of `format` (request
/// bodies) and the schema of every query parameter named `parameter` become
/// a reference to the schema `name` of `values` (in `components.schemas`),
/// so that a client, or a generator of requests, knows them.
pub(crate) fn enumerate(
    doc: &mut Value,
    name: &str,
    description: &str,
    format: Option<&str>,
    parameter: &str,
    values: &[&str],
    example: &str,
) {
    fn walk(value: &mut Value, reference: &Value, format: Option<&str>, parameter: &str) {
        match value {
            Value::Object(map) => {
                if format.is_some() && map.get("format").and_then(Value::as_str) == format {
                    *value = reference.clone();
                    return;
                }
                let named = map.get("in").and_then(Value::as_str) == Some("query")
                    && map.get("name").and_then(Value::as_str) == Some(parameter);
                if named {
                    map.insert("schema".to_owned(), reference.clone());
                }
                for (_, v) in map.iter_mut() {
                    walk(v, reference, format, parameter);
                }
            }
            Value::Array(items) => items
                .iter_mut()
                .for_each(|v| walk(v, reference, format, parameter)),
            _ => {}
        }
    }
    let reference = json!({"$ref": format!("#/components/schemas/{name}")});
    if let Some(paths) = doc.get_mut("paths") {
        walk(paths, &reference, format, parameter);
    }
    if let Some(schemas) = doc.get_mut("components").and_then(|c| c.get_mut("schemas")) {
        walk(schemas, &reference, format, parameter);
        schemas[name] = json!({
            "type": "string",
            "description": description,
            "enum": values,
            "example": example,
        });
    }
}

fn fix_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(format)) = map.get_mut("format") {
                match format.as_str() {
                    "naive-date" => *format = "date".to_owned(),
                    "naive-date-time" => *format = "date-time".to_owned(),
                    _ => {}
                }
            }
            for (_, v) in map.iter_mut() {
                fix_formats(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(fix_formats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical_header_name("LINK"), "Link");
        assert_eq!(canonical_header_name("RETRY-AFTER"), "Retry-After");
        assert_eq!(canonical_header_name("ETAG"), "ETag");
    }
}
