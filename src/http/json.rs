//! A JSON response body written straight from `serde::Serialize`.
//!
//! poem-openapi's `Json<T>` builds a `serde_json::Value` tree (a sorted map
//! per object, a `String` per key) and then serialises that. For a list page
//! of fifty placements that tree was about a fifth of the service's CPU time
//! under load. The hot list bodies use this payload instead: the same schema
//! in the spec (from `T`'s `Type`), the same JSON (from `T`'s `Serialize`,
//! which a test holds equal to its `ToJSON` for every field).

use poem::{IntoResponse, Response};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::Type,
};

/// A JSON response payload serialised directly.
#[derive(Debug, Clone)]
pub struct SerdeJson<T>(pub T);

impl<T: Type> Payload for SerdeJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: serde::Serialize + Send> IntoResponse for SerdeJson<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(16 * 1024);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => Response::builder()
                .content_type("application/json; charset=utf-8")
                .body(body),
            Err(_) => super::problem::ApiError::internal().to_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};
    use poem_openapi::types::ToJSON;
    use uuid::Uuid;

    use crate::{
        exchange::{
            grants::Grant,
            model::{Direction, EducationLevel, PlacementKind, PlacementStatus},
            views::{Placement, PlacementPage},
        },
        http::types::Timestamp,
        shelter::{
            model::{Confidentiality, StayStatus, VisaStatus},
            views::{Stay, StayPage},
        },
    };

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 3, d).unwrap()
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp(Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap())
    }

    fn placement(full: bool) -> Placement {
        Placement {
            id: Uuid::now_v7(),
            reference: "EX-2027-0001".to_owned(),
            participant_id: Uuid::now_v7(),
            direction: Direction::Outgoing,
            agreement_id: full.then(Uuid::now_v7),
            sending_institution_id: Uuid::now_v7(),
            receiving_institution_id: Uuid::now_v7(),
            kind: PlacementKind::GroupExchange,
            planned_start: date(1),
            planned_end: date(30),
            actual_start: full.then(|| date(2)),
            actual_end: full.then(|| date(29)),
            funding_programme: full.then(|| "Erasmus+ \"KA1\" \u{e9}\u{1F600}\n".to_owned()),
            status: PlacementStatus::AgreementSigned,
            education_level: EducationLevel::Mbo4,
            country: "PT".to_owned(),
            travel_distance_km: full.then_some(1_850),
            green_travel: full,
            grant: full.then(|| Grant {
                amount_cents: 123_456,
                currency: "EUR".to_owned(),
                rate_table_id: Uuid::now_v7(),
                rate_table_version: 2,
                days: 30,
                country_group: "group_2".to_owned(),
                daily_rate_cents: 4_000,
                subsistence_cents: 120_000,
                travel_cents: 3_456,
                green_travel: true,
                inclusion_cents: 0,
                frozen: false,
            }),
            created_at: at(0),
            updated_at: at(1_234),
            version: 7,
        }
    }

    fn stay(full: bool) -> Stay {
        Stay {
            id: Uuid::now_v7(),
            reference: "SC-2027-001".to_owned(),
            defender_id: Uuid::now_v7(),
            codename: "Kestrel <b>&'".to_owned(),
            intake_round: "2027-spring".to_owned(),
            referring_organisation: full.then(|| "Front Line Defenders".to_owned()),
            planned_arrival: date(1),
            planned_departure: date(31),
            actual_arrival: full.then(|| date(3)),
            actual_departure: full.then(|| date(28)),
            visa_status: full.then(|| VisaStatus::ALL[VisaStatus::ALL.len() - 1]),
            insurance_arranged: full.then_some(true),
            local_partner: full.then(|| "Amnesty NL".to_owned()),
            status: StayStatus::ALL[StayStatus::ALL.len() - 1],
            confidentiality: Confidentiality::Secret,
            accommodation_address: full.then(|| "Safe house 1\tAmsterdam".to_owned()),
            created_at: at(5),
            updated_at: at(999_999),
            version: 1,
        }
    }

    /// The direct serialisation is the same JSON as poem-openapi's, field for
    /// field, with every optional field present and with every one absent.
    #[test]
    fn serde_bodies_equal_their_to_json() {
        for full in [true, false] {
            let p = PlacementPage {
                items: vec![placement(full), placement(!full)],
                next: full.then(|| "cursor".to_owned()),
            };
            assert_eq!(serde_json::to_value(&p).unwrap(), p.to_json().unwrap());
            let s = StayPage {
                items: vec![stay(full), stay(!full)],
                next: (!full).then(|| "cursor".to_owned()),
            };
            assert_eq!(serde_json::to_value(&s).unwrap(), s.to_json().unwrap());
        }
        for v in PlacementStatus::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), v.to_json().unwrap());
        }
        for v in EducationLevel::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), v.to_json().unwrap());
        }
    }
}
