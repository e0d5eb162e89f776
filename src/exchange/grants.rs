//! Grants from versioned rate tables: a daily rate by destination country
//! group, a travel amount by distance band (with a green-travel variant), and
//! an inclusion top-up for participants with fewer opportunities. Money is
//! integer euro cents throughout.

use chrono::NaiveDate;
use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::problem::InvalidParam;

/// Countries that share a daily rate.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct CountryGroup {
    #[oai(validator(min_length = 1, max_length = 20))]
    pub group: String,
    /// ISO 3166-1 alpha-2 codes.
    #[oai(validator(max_items = 250))]
    pub countries: Vec<String>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
    pub daily_rate_cents: i64,
}

/// A travel distance band, in km (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct TravelBand {
    #[oai(validator(minimum(value = "0"), maximum(value = "40000")))]
    pub from_km: i32,
    #[oai(validator(minimum(value = "0"), maximum(value = "40000")))]
    pub to_km: i32,
    #[oai(validator(minimum(value = "0"), maximum(value = "10000000")))]
    pub amount_cents: i64,
    /// For sustainable travel (train, bus, car-pooling).
    #[oai(validator(minimum(value = "0"), maximum(value = "10000000")))]
    pub green_amount_cents: i64,
}

/// The rates of one table version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Rates {
    pub country_groups: Vec<CountryGroup>,
    pub travel_bands: Vec<TravelBand>,
    pub inclusion_top_up_monthly_cents: i64,
}

/// A placement's grant and how it was computed.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// The total, in euro cents.
    pub amount_cents: i64,
    #[oai(validator(max_length = 3))]
    pub currency: String,
    pub rate_table_id: Uuid,
    pub rate_table_version: i32,
    /// Days from start to end, both included.
    pub days: i64,
    #[oai(validator(max_length = 20))]
    pub country_group: String,
    pub daily_rate_cents: i64,
    pub subsistence_cents: i64,
    pub travel_cents: i64,
    pub green_travel: bool,
    /// For fewer opportunities: the monthly top-up per 30 days, pro rata.
    pub inclusion_cents: i64,
    /// Frozen once the placement is in progress.
    pub frozen: bool,
}

/// Checks a table's rates; every problem is reported.
pub(crate) fn check_rates(rates: &Rates, problems: &mut Vec<InvalidParam>) {
    let mut seen: Vec<&str> = Vec::new();
    for (g, group) in rates.country_groups.iter().enumerate() {
        for (c, country) in group.countries.iter().enumerate() {
            if crate::text::parse_country(country).is_err() {
                problems.push(InvalidParam::new(
                    format!("countryGroups[{g}].countries[{c}]"),
                    "invalid",
                    "not an ISO 3166-1 alpha-2 code",
                ));
            } else if seen.contains(&country.as_str()) {
                problems.push(InvalidParam::new(
                    format!("countryGroups[{g}].countries[{c}]"),
                    "duplicate",
                    "a country belongs to one group",
                ));
            } else {
                seen.push(country);
            }
        }
    }
    for (i, band) in rates.travel_bands.iter().enumerate() {
        if band.to_km < band.from_km {
            problems.push(InvalidParam::new(
                format!("travelBands[{i}]"),
                "empty",
                "toKm is below fromKm",
            ));
        }
        for (j, other) in rates.travel_bands.iter().enumerate().take(i) {
            if band.from_km <= other.to_km && other.from_km <= band.to_km {
                problems.push(InvalidParam::new(
                    format!("travelBands[{i}]"),
                    "overlap",
                    format!("overlaps travelBands[{j}]"),
                ));
            }
        }
    }
    if rates.inclusion_top_up_monthly_cents < 0 {
        problems.push(InvalidParam::new(
            "inclusionTopUpMonthlyCents",
            "negative",
            "must be 0 or more",
        ));
    }
}

/// What a grant is computed from.
pub(crate) struct GrantInput<'a> {
    pub rate_table_id: Uuid,
    pub rate_table_version: i32,
    pub rates: &'a Rates,
    pub destination_country: &'a str,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub distance_km: Option<i32>,
    pub green: bool,
    pub fewer_opportunities: bool,
}

/// The grant, or `None` when the table has no rate for the destination.
pub(crate) fn compute(input: &GrantInput<'_>) -> Option<Grant> {
    let group = input.rates.country_groups.iter().find(|g| {
        g.countries
            .iter()
            .any(|c| c.eq_ignore_ascii_case(input.destination_country))
    })?;
    let days = (input.end - input.start).num_days() + 1;
    if days <= 0 {
        return None;
    }
    let subsistence = days.checked_mul(group.daily_rate_cents)?;
    let travel = match input.distance_km {
        None => 0,
        Some(km) => input
            .rates
            .travel_bands
            .iter()
            .find(|b| b.from_km <= km && km <= b.to_km)
            .map_or(0, |b| {
                if input.green {
                    b.green_amount_cents
                } else {
                    b.amount_cents
                }
            }),
    };
    let inclusion = if input.fewer_opportunities {
        input
            .rates
            .inclusion_top_up_monthly_cents
            .checked_mul(days)?
            / 30
    } else {
        0
    };
    Some(Grant {
        amount_cents: subsistence.checked_add(travel)?.checked_add(inclusion)?,
        currency: "EUR".to_owned(),
        rate_table_id: input.rate_table_id,
        rate_table_version: input.rate_table_version,
        days,
        country_group: group.group.clone(),
        daily_rate_cents: group.daily_rate_cents,
        subsistence_cents: subsistence,
        travel_cents: travel,
        green_travel: input.green,
        inclusion_cents: inclusion,
        frozen: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> Rates {
        Rates {
            country_groups: vec![CountryGroup {
                group: "2".into(),
                countries: vec!["PT".into(), "ES".into()],
                daily_rate_cents: 4_800,
            }],
            travel_bands: vec![
                TravelBand {
                    from_km: 0,
                    to_km: 99,
                    amount_cents: 2_800,
                    green_amount_cents: 5_600,
                },
                TravelBand {
                    from_km: 100,
                    to_km: 499,
                    amount_cents: 21_100,
                    green_amount_cents: 28_500,
                },
                TravelBand {
                    from_km: 500,
                    to_km: 1999,
                    amount_cents: 27_500,
                    green_amount_cents: 41_700,
                },
            ],
            inclusion_top_up_monthly_cents: 10_000,
        }
    }

    #[test]
    fn a_hand_calculation() {
        let r = rates();
        let input = GrantInput {
            rate_table_id: Uuid::nil(),
            rate_table_version: 1,
            rates: &r,
            destination_country: "PT",
            start: NaiveDate::from_ymd_opt(2027, 2, 1).unwrap(),
            end: NaiveDate::from_ymd_opt(2027, 4, 30).unwrap(),
            distance_km: Some(1_850),
            green: true,
            fewer_opportunities: true,
        };
        let g = compute(&input).unwrap();
        // 89 days x 48.00 = 4272.00; green band 500-1999 km = 417.00; 100.00 x 89 / 30 = 296.66
        assert_eq!(g.days, 89);
        assert_eq!(g.subsistence_cents, 427_200);
        assert_eq!(g.travel_cents, 41_700);
        assert_eq!(g.inclusion_cents, 29_666);
        assert_eq!(g.amount_cents, 427_200 + 41_700 + 29_666);
        assert!(compute(&GrantInput {
            destination_country: "NO",
            ..input
        })
        .is_none());
    }

    #[test]
    fn rates_are_checked() {
        let mut r = rates();
        r.country_groups.push(CountryGroup {
            group: "3".into(),
            countries: vec!["PT".into(), "XX".into()],
            daily_rate_cents: 1,
        });
        r.travel_bands.push(TravelBand {
            from_km: 50,
            to_km: 40,
            amount_cents: 0,
            green_amount_cents: 0,
        });
        let mut problems = Vec::new();
        check_rates(&r, &mut problems);
        let codes: Vec<&str> = problems.iter().map(|p| p.code.as_str()).collect();
        assert!(
            codes.contains(&"duplicate") && codes.contains(&"invalid") && codes.contains(&"empty"),
            "{codes:?}"
        );
    }
}
