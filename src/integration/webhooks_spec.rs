//! The spec's OpenAPI 3.1 `webhooks` section: every request a receiver gets,
//! one entry per delivery shape (`format`), with its body, its headers and
//! the answers that count. A test delivery (ping) comes in the same shape,
//! with `kanaal` and `actie` `ping` (CloudEvents `type`
//! `nl.casedesk.subscription.ping`), and is described with each.

use serde_json::{json, Map, Value};

use super::{
    delivery::{ATTEMPT_HEADER, DELIVERY_ID_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER},
    shapes::PING_TYPE,
};

/// A header every delivery carries.
fn header(name: &str, description: &str, schema: Value, required: bool) -> Value {
    json!({"name": name, "in": "header", "required": required, "description": description, "schema": schema})
}

/// The headers of every shape.
fn common_headers() -> Vec<Value> {
    vec![
        header(
            SIGNATURE_HEADER,
            "`t=<unix time>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>`; during a secret rotation's overlap a second `v1=` made with the previous secret follows. Compare in constant time and refuse a `t` more than 5 minutes from your clock.",
            json!({"type": "string", "maxLength": 300, "pattern": "^t=[0-9]+(,v1=[0-9a-f]{64}){1,2}$"}),
            true,
        ),
        header(
            EVENT_ID_HEADER,
            "The event's id (a ping's own id): the same on every attempt, to tell repeats apart.",
            json!({"type": "string", "format": "uuid"}),
            true,
        ),
        header(
            DELIVERY_ID_HEADER,
            "This delivery's id (as listed among failed deliveries).",
            json!({"type": "string", "format": "uuid"}),
            true,
        ),
        header(
            ATTEMPT_HEADER,
            "Which attempt this is: 1 on the first, counting up on each retry.",
            json!({"type": "integer", "minimum": 1}),
            true,
        ),
        header(
            "Authorization",
            "The subscription's own `authorization` value, when it has one (as Open Notificaties sends an abonnement's `auth`).",
            json!({"type": "string", "maxLength": 2000}),
            false,
        ),
    ]
}

/// The answers a receiver gives.
fn answers() -> Value {
    json!({
        "2XX": {"description": "Delivered: any 2xx counts, the body is not read."},
        "default": {"description": "Not delivered: the delivery is retried with exponential backoff and jitter, then listed among the subscription's failed deliveries (a ping is not retried)."}
    })
}

/// The tag of the requests receivers get (not operations of this API).
const TAG: &str = "Webhooks";

/// One webhook: a POST with `schema` as its `content_type` body and the
/// common headers plus `extra`.
fn entry(
    operation_id: &str,
    summary: &str,
    description: &str,
    content_type: &str,
    schema: Value,
    extra: Vec<Value>,
) -> Value {
    let mut parameters = common_headers();
    parameters.extend(extra);
    json!({"post": {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "tags": [TAG],
        "parameters": parameters,
        "requestBody": {"required": true, "content": {content_type: {"schema": schema}}},
        "responses": answers(),
        "security": []
    }})
}

/// The schemas only deliveries use.
fn schemas() -> Map<String, Value> {
    let kenmerken = json!({"type": "object", "additionalProperties": {"type": "string", "maxLength": 100}, "description": "Coded, non-personal attributes (such as `status`); empty for a ping."});
    let mut out = Map::new();
    out.insert("WebhookPing".to_owned(), json!({
        "type": "object",
        "description": "A test delivery in the `casedesk` shape (in the `open_notificaties` shape without `id`): the subscription is the resource.",
        "required": ["kanaal", "hoofdObject", "resource", "resourceUrl", "actie", "aanmaakdatum", "kenmerken"],
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "The ping's id (`casedesk` shape only)."},
            "kanaal": {"const": "ping"},
            "hoofdObject": {"type": "string", "format": "uri", "description": "The subscription's address."},
            "resource": {"const": "subscription"},
            "resourceUrl": {"type": "string", "format": "uri", "description": "The subscription's address."},
            "actie": {"const": "ping"},
            "aanmaakdatum": {"type": "string", "format": "date-time"},
            "kenmerken": kenmerken.clone()
        }
    }));
    out.insert("OpenNotificatiesNotificatie".to_owned(), json!({
        "type": "object",
        "description": "Open Notificaties' `Notificatie`, exactly: a status change is a `partial_update` with the new `status` in `kenmerken`.",
        "required": ["kanaal", "hoofdObject", "resource", "resourceUrl", "actie", "aanmaakdatum", "kenmerken"],
        "additionalProperties": false,
        "properties": {
            "kanaal": {"type": "string", "maxLength": 50, "description": "The channel (a ping: `ping`)."},
            "hoofdObject": {"type": "string", "format": "uri", "maxLength": 1000},
            "resource": {"type": "string", "maxLength": 100},
            "resourceUrl": {"type": "string", "format": "uri", "maxLength": 1000},
            "actie": {"type": "string", "enum": ["create", "update", "partial_update", "destroy", "ping"]},
            "aanmaakdatum": {"type": "string", "format": "date-time"},
            "kenmerken": kenmerken.clone()
        }
    }));
    out.insert("CloudEventData".to_owned(), json!({
        "type": "object",
        "description": "A CloudEvent's `data`: the channel and the coded attributes. Never personal data.",
        "required": ["kanaal", "kenmerken"],
        "additionalProperties": false,
        "properties": {
            "kanaal": {"type": "string", "maxLength": 50, "description": "The channel (a ping: `ping`)."},
            "kenmerken": kenmerken
        }
    }));
    out.insert("CloudEvent".to_owned(), json!({
        "type": "object",
        "description": "CloudEvents 1.0 in structured mode, with the NL GOV profile's attributes.",
        "required": ["specversion", "id", "source", "type", "subject", "time", "dataref", "datacontenttype", "data"],
        "additionalProperties": false,
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid", "description": "The event's id (a ping's own id)."},
            "source": {"type": "string", "format": "uri", "description": "The API's address."},
            "type": {"type": "string", "maxLength": 100, "pattern": "^nl\\.casedesk\\.[a-z_]+\\.[a-z-]+$", "description": format!("Reverse-DNS: `nl.casedesk.<resource>.<created|updated|status-changed|destroyed>`, or `{PING_TYPE}`.")},
            "subject": {"type": "string", "format": "uuid", "description": "The resource's id (a ping: the subscription's)."},
            "time": {"type": "string", "format": "date-time"},
            "dataref": {"type": "string", "format": "uri", "description": "The resource's address: read it with your own credentials."},
            "datacontenttype": {"const": "application/json"},
            "data": {"$ref": "#/components/schemas/CloudEventData"}
        }
    }));
    out
}

/// Adds the `webhooks` section and its schemas to `doc`.
pub(crate) fn describe(doc: &mut Value) {
    let ce = |name: &str, description: &str| {
        header(
            &format!("ce-{name}"),
            description,
            json!({"type": "string", "maxLength": 1000}),
            true,
        )
    };
    let binary_headers = vec![
        ce("specversion", "`1.0`."),
        ce("id", "The event's id (a ping's own id)."),
        ce("source", "The API's address."),
        ce("type", "As `type` in the structured mode."),
        ce("subject", "The resource's id."),
        ce("time", "When the change was committed (RFC 3339)."),
        ce("dataref", "The resource's address."),
    ];
    doc["webhooks"] = json!({
        "casedeskNotification": entry(
            "receiveCasedeskNotification",
            "An event, `casedesk` shape",
            "The event as the feed shows it (the VNG Notificaties fields and its `id`), to a subscription with `format` `casedesk` (the default); or a ping.",
            "application/json",
            json!({"oneOf": [{"$ref": "#/components/schemas/EventBody"}, {"$ref": "#/components/schemas/WebhookPing"}]}),
            Vec::new(),
        ),
        "openNotificatiesNotification": entry(
            "receiveOpenNotificatiesNotification",
            "An event, `open_notificaties` shape",
            "Open Notificaties' `Notificatie` exactly, with the subscription's `Authorization`, to a subscription with `format` `open_notificaties`; or a ping.",
            "application/json",
            json!({"$ref": "#/components/schemas/OpenNotificatiesNotificatie"}),
            Vec::new(),
        ),
        "cloudEvent": entry(
            "receiveCloudEvent",
            "An event, `cloudevents` shape",
            "CloudEvents 1.0 (NL GOV profile) in structured mode, to a subscription with `format` `cloudevents`; or a ping.",
            "application/cloudevents+json",
            json!({"$ref": "#/components/schemas/CloudEvent"}),
            Vec::new(),
        ),
        "cloudEventBinary": entry(
            "receiveCloudEventBinary",
            "An event, `cloudevents_binary` shape",
            "CloudEvents 1.0 (NL GOV profile) in binary mode: the attributes as `ce-` headers and `data` as the body, to a subscription with `format` `cloudevents_binary`; or a ping.",
            "application/json",
            json!({"$ref": "#/components/schemas/CloudEventData"}),
            binary_headers,
        ),
    });
    if let Some(tags) = doc.get_mut("tags").and_then(Value::as_array_mut) {
        tags.push(json!({
            "name": TAG,
            "description": "What a subscription's receiver gets: not operations of this API but the requests Casedesk sends, one per delivery shape (see `format`)."
        }));
    }
    if let Some(components) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        components.extend(schemas());
    }
}
