//! The shape a subscription's deliveries take, chosen per subscription so
//! that a Common Ground consumer takes them as they are:
//! - `casedesk`: the event as the feed shows it (the VNG Notificaties shape
//!   and the event's `id`), as before;
//! - `open_notificaties`: Open Notificaties' `Notificatie` exactly (its
//!   field names, its `actie` values: a status change is a
//!   `partial_update`), with the subscription's own `Authorization` value,
//!   as Open Notificaties sends its abonnement's `auth`;
//! - `cloudevents` and `cloudevents_binary`: CloudEvents 1.0 with the NL GOV
//!   profile, in structured mode (`application/cloudevents+json`) or binary
//!   mode (`ce-` headers, the data as the body).
//!
//! No shape carries personal data: ids, coded attributes (`kenmerken`) and
//! the resource's address only; a receiver reads the resource with its own
//! credentials.

use serde_json::{json, Value};

use super::outbox::{Actie, EventBody};
use crate::text::text_enum;

text_enum!(
    /// How deliveries are shaped (see the README, "Webhooks").
    NotificationFormat {
        Casedesk => "casedesk",
        OpenNotificaties => "open_notificaties",
        CloudEvents => "cloudevents",
        CloudEventsBinary => "cloudevents_binary",
    }
);

/// A delivery's content type, body and the headers of its shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

/// The CloudEvents `type` of an event: reverse-DNS, as the NL GOV profile
/// asks, such as `nl.casedesk.placement.status-changed`.
pub(crate) fn cloudevents_type(event: &EventBody) -> String {
    let what = match event.actie {
        Actie::Create => "created",
        Actie::Update => "updated",
        Actie::Destroy => "destroyed",
        Actie::StatusChange => "status-changed",
    };
    format!("nl.casedesk.{}.{what}", event.resource)
}

/// Open Notificaties' `actie` for an event.
fn open_notificaties_actie(actie: Actie) -> &'static str {
    match actie {
        Actie::Create => "create",
        Actie::Update => "update",
        Actie::Destroy => "destroy",
        // Open Notificaties (and the ZGW APIs) name a change of part of a
        // resource so; the new status is in `kenmerken`
        Actie::StatusChange => "partial_update",
    }
}

/// `event` in `format`; `source` is the CloudEvents `source` (the API's
/// address).
pub(crate) fn render(format: NotificationFormat, event: &EventBody, source: &str) -> Rendered {
    use poem_openapi::types::ToJSON;
    let time = event.aanmaakdatum.to_json().unwrap_or(Value::Null);
    let data = json!({"kanaal": event.kanaal.as_str(), "kenmerken": event.kenmerken});
    match format {
        NotificationFormat::Casedesk => Rendered {
            content_type: "application/json",
            body: event.to_json_string(),
            headers: Vec::new(),
        },
        NotificationFormat::OpenNotificaties => Rendered {
            content_type: "application/json",
            body: json!({
                "kanaal": event.kanaal.as_str(),
                "hoofdObject": event.hoofd_object,
                "resource": event.resource,
                "resourceUrl": event.resource_url,
                "actie": open_notificaties_actie(event.actie),
                "aanmaakdatum": time,
                "kenmerken": event.kenmerken,
            })
            .to_string(),
            headers: Vec::new(),
        },
        NotificationFormat::CloudEvents => Rendered {
            content_type: "application/cloudevents+json; charset=utf-8",
            body: json!({
                "specversion": "1.0",
                "id": event.id.to_string(),
                "source": source,
                "type": cloudevents_type(event),
                "subject": event.resource_url.rsplit('/').next().unwrap_or_default(),
                "time": time,
                "dataref": event.resource_url,
                "datacontenttype": "application/json",
                "data": data,
            })
            .to_string(),
            headers: Vec::new(),
        },
        NotificationFormat::CloudEventsBinary => Rendered {
            content_type: "application/json",
            body: data.to_string(),
            headers: vec![
                ("ce-specversion", "1.0".to_owned()),
                ("ce-id", event.id.to_string()),
                ("ce-source", source.to_owned()),
                ("ce-type", cloudevents_type(event)),
                (
                    "ce-subject",
                    event
                        .resource_url
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                ),
                ("ce-time", time.as_str().unwrap_or_default().to_owned()),
                ("ce-dataref", event.resource_url.clone()),
            ],
        },
    }
}

/// The CloudEvents `type` of a test delivery.
pub(crate) const PING_TYPE: &str = "nl.casedesk.subscription.ping";

/// A test delivery (ping) to the subscription at `subscription_url`, in
/// `format`: the shape's own fields, with `kanaal` and `actie` `ping` (or
/// the CloudEvents `type` [`PING_TYPE`]) and the subscription as the
/// resource. It carries no event and no data.
pub(crate) fn render_ping(
    format: NotificationFormat,
    id: uuid::Uuid,
    subscription_url: &str,
    source: &str,
    time: &crate::http::types::Timestamp,
) -> Rendered {
    use poem_openapi::types::ToJSON;
    let time = time.to_json().unwrap_or(Value::Null);
    let subject = subscription_url.rsplit('/').next().unwrap_or_default();
    let data = json!({"kanaal": "ping", "kenmerken": {}});
    let mut notificatie = json!({
        "kanaal": "ping",
        "hoofdObject": subscription_url,
        "resource": "subscription",
        "resourceUrl": subscription_url,
        "actie": "ping",
        "aanmaakdatum": time,
        "kenmerken": {},
    });
    match format {
        NotificationFormat::Casedesk | NotificationFormat::OpenNotificaties => {
            if format == NotificationFormat::Casedesk {
                notificatie["id"] = json!(id.to_string());
            }
            Rendered {
                content_type: "application/json",
                body: notificatie.to_string(),
                headers: Vec::new(),
            }
        }
        NotificationFormat::CloudEvents => Rendered {
            content_type: "application/cloudevents+json; charset=utf-8",
            body: json!({
                "specversion": "1.0",
                "id": id.to_string(),
                "source": source,
                "type": PING_TYPE,
                "subject": subject,
                "time": time,
                "dataref": subscription_url,
                "datacontenttype": "application/json",
                "data": data,
            })
            .to_string(),
            headers: Vec::new(),
        },
        NotificationFormat::CloudEventsBinary => Rendered {
            content_type: "application/json",
            body: data.to_string(),
            headers: vec![
                ("ce-specversion", "1.0".to_owned()),
                ("ce-id", id.to_string()),
                ("ce-source", source.to_owned()),
                ("ce-type", PING_TYPE.to_owned()),
                ("ce-subject", subject.to_owned()),
                ("ce-time", time.as_str().unwrap_or_default().to_owned()),
                ("ce-dataref", subscription_url.to_owned()),
            ],
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::integration::outbox::Kanaal;

    fn event() -> EventBody {
        let url =
            "https://casedesk.example.nl/api/v1/placements/0194a3b2-0000-7000-8000-000000000001";
        EventBody {
            id: uuid::Uuid::nil(),
            kanaal: Kanaal::Placements,
            hoofd_object: url.to_owned(),
            resource: "placement".to_owned(),
            resource_url: url.to_owned(),
            actie: Actie::StatusChange,
            aanmaakdatum: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH.into(),
            kenmerken: BTreeMap::from([("status".to_owned(), "accepted".to_owned())]),
        }
    }

    #[test]
    fn open_notificaties_gets_its_own_fields_and_actions() {
        let r = render(NotificationFormat::OpenNotificaties, &event(), "x");
        let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
        let mut keys: Vec<&str> = body
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "aanmaakdatum",
                "actie",
                "hoofdObject",
                "kanaal",
                "kenmerken",
                "resource",
                "resourceUrl"
            ]
        );
        assert_eq!(body["actie"], "partial_update");
        assert_eq!(body["aanmaakdatum"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn both_cloudevents_modes_say_the_same_event() {
        let source = "https://casedesk.example.nl/api/v1";
        let structured = render(NotificationFormat::CloudEvents, &event(), source);
        let s: Value = serde_json::from_str(&structured.body).unwrap_or_default();
        assert_eq!(s["specversion"], "1.0");
        assert_eq!(s["type"], "nl.casedesk.placement.status-changed");
        assert_eq!(s["subject"], "0194a3b2-0000-7000-8000-000000000001");
        let binary = render(NotificationFormat::CloudEventsBinary, &event(), source);
        let header = |name: &str| {
            binary
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| Value::String(v.clone()))
                .unwrap_or_default()
        };
        for attribute in [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "dataref",
        ] {
            assert_eq!(
                header(&format!("ce-{attribute}")),
                s[attribute],
                "{attribute}"
            );
        }
        assert_eq!(
            serde_json::from_str::<Value>(&binary.body).unwrap_or_default(),
            s["data"]
        );
    }
}
