//! What a webhook subscription is: a callback URL that passes the rules, and
//! channels with filters over `kenmerken`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use super::outbox::{Kanaal, Stream};
use crate::{
    accounts::model::Scope,
    entities::{api_clients, outbox_events},
    http::problem::InvalidParam,
};

pub(crate) const MAX_URL_LEN: usize = 2000;
pub(crate) const MAX_CHANNELS: usize = 5;
pub(crate) const MAX_FILTER_VALUE_LEN: usize = 100;

/// A channel as stored: a kanaal and the `kenmerken` values an event must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Channel {
    pub kanaal: String,
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
}

/// Whether an event belongs to any of the channels: its kanaal, and every
/// filter equal to the event's attribute of that name.
/// Attributes that do not read back are an error, not an event that matches
/// no filter.
pub(crate) fn matches(
    channels: &[Channel],
    event: &outbox_events::Model,
) -> Result<bool, crate::text::Corrupt> {
    let kenmerken: BTreeMap<String, String> =
        crate::text::stored_json(&event.kenmerken, "outbox_events.kenmerken")?;
    Ok(channels.iter().any(|c| {
        c.kanaal == event.kanaal
            && c.filters
                .iter()
                .all(|(k, v)| kenmerken.get(k).is_some_and(|have| have == v))
    }))
}

/// Checks channels; problems are named after `field[i]`.
pub(crate) fn parse_channels(
    input: &[(Kanaal, BTreeMap<String, String>)],
    field: &str,
    problems: &mut Vec<InvalidParam>,
) -> Vec<Channel> {
    if input.is_empty() || input.len() > MAX_CHANNELS {
        problems.push(InvalidParam::new(
            field,
            "invalid",
            format!("Give 1 to {MAX_CHANNELS} channels."),
        ));
    }
    let mut out: Vec<Channel> = Vec::new();
    for (i, (kanaal, filters)) in input.iter().enumerate() {
        if out.iter().any(|c| c.kanaal == kanaal.as_str()) {
            problems.push(InvalidParam::new(
                format!("{field}[{i}].kanaal"),
                "duplicate",
                "Each kanaal at most once; put its alternatives in separate subscriptions.",
            ));
            continue;
        }
        for (name, value) in filters {
            if !kanaal.kenmerken().contains(&name.as_str()) {
                problems.push(InvalidParam::new(
                    format!("{field}[{i}].filters"),
                    "unknown_kenmerk",
                    format!(
                        "The {} kanaal can be filtered on: {}.",
                        kanaal.as_str(),
                        kanaal.kenmerken().join(", ")
                    ),
                ));
            } else if value.is_empty()
                || value.chars().count() > MAX_FILTER_VALUE_LEN
                || value.chars().any(char::is_control)
            {
                problems.push(InvalidParam::new(
                    format!("{field}[{i}].filters.{name}"),
                    "invalid",
                    format!("A filter value has 1 to {MAX_FILTER_VALUE_LEN} printable characters."),
                ));
            }
        }
        out.push(Channel {
            kanaal: kanaal.as_str().to_owned(),
            filters: filters.clone(),
        });
    }
    out
}

/// A callback URL: absolute, https (plain http only for the allowed hosts),
/// no user name or password, no fragment, and not an internal address (see
/// [`super::destination`]) unless its network is listed.
pub(crate) fn parse_callback_url(
    text: &str,
    allowed_hosts: &[String],
    private_networks: &[ipnet::IpNet],
) -> Result<String, String> {
    if text.len() > MAX_URL_LEN {
        return Err(format!("At most {MAX_URL_LEN} characters."));
    }
    let url = url::Url::parse(text.trim())
        .map_err(|_| "Must be an absolute URL such as https://receiver.example.org/casedesk.")?;
    let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
        return Err("The URL needs a host.".to_owned());
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "No user name or password in the URL: receivers check the signature.".to_owned(),
        );
    }
    if url.fragment().is_some() {
        return Err("No fragment (#...) in the URL.".to_owned());
    }
    let internal = match url.host() {
        Some(url::Host::Ipv4(ip)) => !super::destination::allowed(ip.into(), private_networks),
        Some(url::Host::Ipv6(ip)) => !super::destination::allowed(ip.into(), private_networks),
        Some(url::Host::Domain(name)) => super::destination::is_local_name(name),
        None => true,
    };
    if internal {
        return Err(
            "The receiver's address is not public (loopback, private, link-local or reserved); an operator can allow a network with CASEDESK_WEBHOOK_PRIVATE_NETWORKS."
                .to_owned(),
        );
    }
    match url.scheme() {
        "https" => {}
        "http" if allowed_hosts.contains(&host) => {}
        "http" => {
            return Err(
                "Must use https; plain http only for hosts in CASEDESK_WEBHOOK_ALLOWED_HOSTS."
                    .to_owned(),
            )
        }
        _ => return Err("Must be an https URL.".to_owned()),
    }
    Ok(url.to_string())
}

/// Who a subscription answers to: made by an administrator, or managed by
/// an API client (`webhooks.manage`), as it stands now.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Owner<'a> {
    Staff,
    /// The client's row; `None`: the row is gone.
    Client(Option<&'a api_clients::Model>),
}

/// The streams a subscription may be sent events of: every stream for one
/// made by an administrator; for one an API client manages, the streams its
/// read scopes cover while it is live (neither revoked nor expired) and
/// holds `webhooks.manage`; otherwise none (deny by default).
pub(crate) fn entitled_streams(owner: Owner<'_>, now: DateTime<Utc>) -> Vec<Stream> {
    match owner {
        Owner::Staff => Stream::ALL.to_vec(),
        Owner::Client(None) => Vec::new(),
        Owner::Client(Some(c)) => {
            let scopes = Scope::split(&c.scopes);
            let live = c.revoked_at.is_none() && c.expires_at > now;
            if !live || !scopes.contains(&Scope::WebhooksManage) {
                return Vec::new();
            }
            streams_of(&scopes)
        }
    }
}

/// The streams `scopes` read (as the feed reads them).
pub(crate) fn streams_of(scopes: &[Scope]) -> Vec<Stream> {
    Stream::ALL
        .iter()
        .copied()
        .filter(|s| scopes.contains(&s.read_scope()))
        .collect()
}

/// Whether `event` belongs to one of `streams`; an unknown kanaal belongs
/// to none.
pub(crate) fn in_streams(streams: &[Stream], event: &outbox_events::Model) -> bool {
    Kanaal::parse(&event.kanaal).is_some_and(|k| streams.contains(&k.stream()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(scopes: &str, revoked: bool, expires_in_days: i64) -> api_clients::Model {
        let now = Utc::now();
        api_clients::Model {
            id: uuid::Uuid::now_v7(),
            name: "Zaaksysteem".to_owned(),
            scopes: scopes.to_owned(),
            expires_at: now + chrono::TimeDelta::days(expires_in_days),
            revoked_at: revoked.then_some(now),
            created_by: uuid::Uuid::now_v7(),
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_client_subscription_gets_what_the_client_may_read_while_it_may() {
        let now = Utc::now();
        assert_eq!(entitled_streams(Owner::Staff, now), Stream::ALL.to_vec());
        assert!(entitled_streams(Owner::Client(None), now).is_empty());
        let both = client("exchange.read webhooks.manage", false, 30);
        assert_eq!(
            entitled_streams(Owner::Client(Some(&both)), now),
            [Stream::Exchange]
        );
        let all = client("stays.read exchange.read webhooks.manage", false, 30);
        assert_eq!(entitled_streams(Owner::Client(Some(&all)), now).len(), 2);
        for lost in [
            client("exchange.read", false, 30), // scope taken away
            client("exchange.read webhooks.manage", true, 30), // revoked
            client("exchange.read webhooks.manage", false, -1), // expired
            client("exchange.write webhooks.manage", false, 30), // writes, reads nothing
        ] {
            assert!(
                entitled_streams(Owner::Client(Some(&lost)), now).is_empty(),
                "{lost:?}"
            );
        }
    }

    #[test]
    fn callback_urls() {
        let allowed = vec!["127.0.0.1".to_owned()];
        let loopback: Vec<ipnet::IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        assert!(parse_callback_url("https://r.example.org/hook", &[], &[]).is_ok());
        assert!(parse_callback_url("http://r.example.org/hook", &[], &[]).is_err());
        assert!(parse_callback_url("http://127.0.0.1:9000/hook", &allowed, &loopback).is_ok());
        assert!(parse_callback_url("http://127.0.0.1:9000/hook", &allowed, &[]).is_err());
        assert!(parse_callback_url("https://u:p@r.example.org/", &[], &[]).is_err());
        assert!(parse_callback_url("ftp://r.example.org/", &[], &[]).is_err());
        assert!(parse_callback_url("/relative", &[], &[]).is_err());
        assert!(parse_callback_url("https://r.example.org/#x", &[], &[]).is_err());
    }

    #[test]
    fn internal_destinations_in_any_notation_are_refused() {
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://0x7f.0.0.1/",
            "https://0x7f000001/",
            "https://127.1/",
            "https://[::1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.5/",
            "https://172.20.1.1/",
            "https://192.168.0.10/",
            "https://100.64.1.1/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://0.0.0.0/",
            "https://localhost/",
            "https://LocalHost./",
            "https://hooks.localhost/",
        ] {
            assert!(parse_callback_url(url, &[], &[]).is_err(), "{url} refused");
        }
        let nets: Vec<ipnet::IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        assert!(parse_callback_url("https://10.0.0.5/", &[], &nets).is_ok());
    }

    #[test]
    fn filters_must_all_match() {
        let event = outbox_events::Model {
            seq: 1,
            id: uuid::Uuid::now_v7(),
            kanaal: "placements".into(),
            resource: "placement".into(),
            resource_id: uuid::Uuid::now_v7(),
            actie: "status_change".into(),
            kenmerken: r#"{"status":"accepted","direction":"outgoing"}"#.into(),
            created_at: chrono::Utc::now(),
            stream: "exchange".into(),
            stream_seq: 1,
        };
        let ch = |k: &str, f: &[(&str, &str)]| Channel {
            kanaal: k.into(),
            filters: f
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        };
        assert!(matches(&[ch("placements", &[])], &event).unwrap());
        assert!(matches(&[ch("placements", &[("status", "accepted")])], &event).unwrap());
        assert!(!matches(&[ch("placements", &[("status", "applied")])], &event).unwrap());
        assert!(!matches(&[ch("stays", &[])], &event).unwrap());
        let corrupt = outbox_events::Model {
            kenmerken: "not json".into(),
            ..event.clone()
        };
        assert!(matches(&[ch("placements", &[])], &corrupt).is_err());
        assert!(matches(
            &[
                ch("stays", &[]),
                ch("placements", &[("direction", "outgoing")])
            ],
            &event
        )
        .unwrap());
    }
}
