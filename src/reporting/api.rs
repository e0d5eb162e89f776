//! Aggregated statistics: placements by year, direction, education level,
//! country and status; the MBO share and the share with fewer opportunities;
//! defenders hosted per year by field of work and region. Counts describing
//! Shelter City people below 5 are shown as `"<5"`; those tables never carry
//! totals or margins, so no combination of filters can reveal a smaller count.

use std::{borrow::Cow, collections::BTreeMap};

use chrono::Datelike;
use poem::web::Data;
use poem_openapi::{
    param::Query,
    payload::Json,
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
    ApiResponse, Object, OpenApi, ResponseContent,
};
use serde_json::Value;

use super::{hosted, regions::REGIONS, store};
use crate::{
    accounts::access::Caller,
    audit::{self, Event},
    exchange::model::{Direction, EducationLevel, PlacementStatus},
    http::{
        csv::{to_csv_bytes, wants_csv, Csv},
        problem::{ApiError, ApiResult},
        Tag,
    },
    shelter::model::FieldOfWork,
    AppState,
};

/// Below this, a count of Shelter City people is shown as `"<5"`.
pub(crate) const SMALLEST_SHOWN: i64 = 5;

/// A count that is either exact or, below 5, the string `"<5"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuppressedCount(pub i64);

impl Type for SuppressedCount {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "SuppressedCount".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut exact = MetaSchema::new("integer");
        exact.format = Some("int64");
        exact.minimum = Some(SMALLEST_SHOWN as f64);
        let mut small = MetaSchema::new("string");
        small.enum_items = vec![Value::String("<5".to_owned())];
        let mut schema = MetaSchema::ANY;
        schema.description = Some("An exact count of 5 or more, or \"<5\".");
        schema.one_of = vec![
            MetaSchemaRef::Inline(Box::new(exact)),
            MetaSchemaRef::Inline(Box::new(small)),
        ];
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ToJSON for SuppressedCount {
    fn to_json(&self) -> Option<Value> {
        Some(if self.0 < SMALLEST_SHOWN {
            Value::String("<5".to_owned())
        } else {
            Value::from(self.0)
        })
    }
}

impl ParseFromJSON for SuppressedCount {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Number(n)) => n
                .as_i64()
                .map(SuppressedCount)
                .ok_or_else(|| ParseError::custom("expected an integer")),
            Some(Value::String(s)) if s == "<5" => Ok(SuppressedCount(0)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

/// Placements in one combination of year, direction, level, country and status.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PlacementCount {
    pub year: i32,
    pub direction: Direction,
    pub education_level: EducationLevel,
    #[oai(validator(max_length = 2))]
    pub country: String,
    pub status: PlacementStatus,
    pub placements: i64,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PlacementCounts {
    pub items: Vec<PlacementCount>,
}

/// The aims of the city for one year: placements made (accepted or later),
/// and the shares of MBO learners and of learners with fewer opportunities.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PlacementShares {
    pub year: i32,
    pub placements: i64,
    pub mbo: i64,
    /// Percent, one decimal.
    #[oai(validator(max_length = 6))]
    pub mbo_share_percent: String,
    pub fewer_opportunities: i64,
    /// Percent, one decimal.
    #[oai(validator(max_length = 6))]
    pub fewer_opportunities_share_percent: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PlacementSharesTable {
    pub items: Vec<PlacementShares>,
}

/// Defenders who arrived in one year, by field of work and region.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct DefendersHosted {
    pub year: i32,
    pub field_of_work: FieldOfWork,
    /// `africa`, `middle_east_north_africa`, `asia`, `europe`, `latin_america_caribbean`, `north_america`, `oceania` or `other`.
    #[oai(validator(max_length = 30))]
    pub region: String,
    pub defenders: SuppressedCount,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct DefendersHostedTable {
    pub items: Vec<DefendersHosted>,
}

#[derive(ResponseContent)]
pub enum PlacementCountsContent {
    Json(Json<PlacementCounts>),
    Csv(Csv),
}

#[derive(ApiResponse)]
pub enum PlacementCountsResponse {
    /// The counts, as JSON or (with `Accept: text/csv`) CSV.
    #[oai(status = 200)]
    Ok(PlacementCountsContent),
}

#[derive(ResponseContent)]
pub enum PlacementSharesContent {
    Json(Json<PlacementSharesTable>),
    Csv(Csv),
}

#[derive(ApiResponse)]
pub enum PlacementSharesResponse {
    /// The shares per year, as JSON or (with `Accept: text/csv`) CSV.
    #[oai(status = 200)]
    Ok(PlacementSharesContent),
}

#[derive(ResponseContent)]
pub enum DefendersHostedContent {
    Json(Json<DefendersHostedTable>),
    Csv(Csv),
}

#[derive(ApiResponse)]
pub enum DefendersHostedResponse {
    /// The counts (below 5 as `"<5"`), as JSON or (with `Accept: text/csv`) CSV.
    #[oai(status = 200)]
    Ok(DefendersHostedContent),
}

/// A row of a statistics table as CSV: the header, the file's name and
/// each row's cells, in the order of the JSON fields.
trait CsvRow {
    const HEADER: &'static [&'static str];
    const FILE: &'static str;
    fn cells(&self) -> Vec<String>;
}

impl CsvRow for PlacementCount {
    const HEADER: &'static [&'static str] = &[
        "year",
        "direction",
        "educationLevel",
        "country",
        "status",
        "placements",
    ];
    const FILE: &'static str = "placements-statistics.csv";
    fn cells(&self) -> Vec<String> {
        vec![
            self.year.to_string(),
            self.direction.as_str().into(),
            self.education_level.as_str().into(),
            self.country.clone(),
            self.status.as_str().into(),
            self.placements.to_string(),
        ]
    }
}

impl CsvRow for PlacementShares {
    const HEADER: &'static [&'static str] = &[
        "year",
        "placements",
        "mbo",
        "mboSharePercent",
        "fewerOpportunities",
        "fewerOpportunitiesSharePercent",
    ];
    const FILE: &'static str = "placement-shares.csv";
    fn cells(&self) -> Vec<String> {
        vec![
            self.year.to_string(),
            self.placements.to_string(),
            self.mbo.to_string(),
            self.mbo_share_percent.clone(),
            self.fewer_opportunities.to_string(),
            self.fewer_opportunities_share_percent.clone(),
        ]
    }
}

impl CsvRow for DefendersHosted {
    const HEADER: &'static [&'static str] = &["year", "fieldOfWork", "region", "defenders"];
    const FILE: &'static str = "defenders-hosted.csv";
    fn cells(&self) -> Vec<String> {
        let defenders = if self.defenders.0 < SMALLEST_SHOWN {
            "<5".to_owned()
        } else {
            self.defenders.0.to_string()
        };
        vec![
            self.year.to_string(),
            self.field_of_work.as_str().into(),
            self.region.clone(),
            defenders,
        ]
    }
}

/// A table as CSV: its header, then a row per item.
fn csv<T: CsvRow>(items: &[T]) -> Csv {
    let mut rows: Vec<Vec<String>> = vec![T::HEADER.iter().map(|h| (*h).to_owned()).collect()];
    rows.extend(items.iter().map(T::cells));
    Csv {
        body: poem::Body::from(to_csv_bytes(&rows)),
        filename: T::FILE,
    }
}

impl From<store::PlacementCell> for PlacementCount {
    fn from(c: store::PlacementCell) -> Self {
        PlacementCount {
            year: c.year,
            direction: c.direction,
            education_level: c.education_level,
            country: c.country,
            status: c.status,
            placements: c.placements,
        }
    }
}

impl From<hosted::Cell> for DefendersHosted {
    fn from(c: hosted::Cell) -> Self {
        DefendersHosted {
            year: c.year,
            field_of_work: c.field_of_work,
            region: c.region.to_owned(),
            defenders: SuppressedCount(c.defenders),
        }
    }
}

/// Per year: placements made, how many of them MBO learners' and how many
/// with fewer opportunities, and the two shares, from the counted rows
/// (year, level, fewer opportunities, count).
fn shares_by_year(rows: Vec<(i32, EducationLevel, bool, i64)>) -> Vec<PlacementShares> {
    let mut by_year: BTreeMap<i32, (i64, i64, i64)> = BTreeMap::new();
    for (y, level, fewer, n) in rows {
        let e = by_year.entry(y).or_default();
        e.0 += n;
        if level.is_mbo() {
            e.1 += n;
        }
        if fewer {
            e.2 += n;
        }
    }
    by_year
        .into_iter()
        .map(|(year, (total, mbo, fewer))| PlacementShares {
            year,
            placements: total,
            mbo,
            mbo_share_percent: percent(mbo, total),
            fewer_opportunities: fewer,
            fewer_opportunities_share_percent: percent(fewer, total),
        })
        .collect()
}

/// A region named by the filter is one of the table's.
fn known_region(region: Option<&str>) -> Result<(), ApiError> {
    match region {
        Some(r) if !REGIONS.iter().any(|(name, _)| *name == r) => {
            let names: Vec<&str> = REGIONS.iter().map(|(n, _)| *n).collect();
            Err(ApiError::field(
                "region",
                "unknown",
                format!("The region is one of: {}.", names.join(", ")),
            ))
        }
        _ => Ok(()),
    }
}

/// Records the read (or, for CSV, the export) of a table, and says whether
/// CSV was asked for.
async fn audited(
    state: &AppState,
    caller: &Caller,
    req: &poem::Request,
    table: &str,
) -> Result<bool, crate::http::problem::ApiError> {
    let exported = wants_csv(req);
    let action = if exported {
        "statistics.exported"
    } else {
        "statistics.read"
    };
    audit::record_alone(
        &state.audit,
        state.clock.now(),
        &caller.audit,
        Event::new(action, 200).on("statistics", table),
    )
    .await?;
    Ok(exported)
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "0.0".to_owned();
    }
    // one decimal, rounded half up, in integers
    let tenths = (part * 1000 + whole / 2) / whole;
    format!("{}.{}", tenths / 10, tenths % 10)
}

pub struct StatisticsApi;

#[OpenApi(tag = "Tag::Statistics")]
impl StatisticsApi {
    /// Placements per year, direction, education level, partner country and status.
    #[oai(
        path = "/statistics/placements",
        method = "get",
        operation_id = "placementStatistics"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn placements(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &poem::Request,
        #[oai(validator(minimum(value = "1900"), maximum(value = "2200")))] year: Query<
            Option<i32>,
        >,
        direction: Query<Option<Direction>>,
        #[oai(name = "educationLevel")] education_level: Query<Option<EducationLevel>>,
        #[oai(validator(max_length = 2))] country: Query<Option<String>>,
        status: Query<Option<PlacementStatus>>,
    ) -> ApiResult<PlacementCountsResponse> {
        let filter = store::PlacementCountFilter {
            year: year.0,
            direction: direction.0,
            education_level: education_level.0,
            country: country.0.as_deref().map(str::to_ascii_uppercase),
            status: status.0,
        };
        let cells = store::placement_counts(&state.db, &filter).await?;
        let items: Vec<PlacementCount> = cells.into_iter().map(PlacementCount::from).collect();
        Ok(PlacementCountsResponse::Ok(
            if audited(&state, &caller, req, "placements").await? {
                PlacementCountsContent::Csv(csv(&items))
            } else {
                PlacementCountsContent::Json(Json(PlacementCounts { items }))
            },
        ))
    }

    /// Per year: placements made (accepted or later), the MBO share and the
    /// share of learners with fewer opportunities.
    #[oai(
        path = "/statistics/placement-shares",
        method = "get",
        operation_id = "placementShareStatistics"
    )]
    async fn shares(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &poem::Request,
        #[oai(validator(minimum(value = "1900"), maximum(value = "2200")))] year: Query<
            Option<i32>,
        >,
        direction: Query<Option<Direction>>,
    ) -> ApiResult<PlacementSharesResponse> {
        let rows = store::counted_placements(&state.db, year.0, direction.0).await?;
        let items = shares_by_year(rows);
        Ok(PlacementSharesResponse::Ok(
            if audited(&state, &caller, req, "placement-shares").await? {
                PlacementSharesContent::Csv(csv(&items))
            } else {
                PlacementSharesContent::Json(Json(PlacementSharesTable { items }))
            },
        ))
    }

    /// Defenders hosted (arrived) per year, by field of work and region.
    /// Counts below 5 are `"<5"`. Every cell of the table is given, empty
    /// ones too (as `"<5"`): the last ten years (or `year`), every field of
    /// work, every region. Filters only choose which cells to show.
    #[oai(
        path = "/statistics/defenders-hosted",
        method = "get",
        operation_id = "defendersHostedStatistics"
    )]
    async fn defenders_hosted(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &poem::Request,
        #[oai(validator(minimum(value = "1900"), maximum(value = "2200")))] year: Query<
            Option<i32>,
        >,
        #[oai(name = "fieldOfWork")] field_of_work: Query<Option<FieldOfWork>>,
        #[oai(validator(max_length = 30))] region: Query<Option<String>>,
    ) -> ApiResult<DefendersHostedResponse> {
        known_region(region.0.as_deref())?;
        // erased defenders count too; the years are the last ten (or the one asked for)
        let arrivals = store::arrivals(&state.db).await?;
        let this_year = state.clock.now().year();
        let years: Vec<i32> = match year.0 {
            Some(y) => vec![y],
            None => (this_year - 9..=this_year).collect(),
        };
        let asked = hosted::Cells {
            years: &years,
            field_of_work: field_of_work.0,
            region: region.0.as_deref(),
        };
        let items: Vec<DefendersHosted> = hosted::table(&arrivals, asked)
            .into_iter()
            .map(DefendersHosted::from)
            .collect();
        Ok(DefendersHostedResponse::Ok(
            if audited(&state, &caller, req, "defenders-hosted").await? {
                DefendersHostedContent::Csv(csv(&items))
            } else {
                DefendersHostedContent::Json(Json(DefendersHostedTable { items }))
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_per_year_count_mbo_and_fewer_opportunities() {
        let rows = vec![
            (2027, EducationLevel::Mbo4, false, 2),
            (2027, EducationLevel::Hbo, true, 1),
            (2026, EducationLevel::Mbo2, true, 3),
        ];
        let t = shares_by_year(rows);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].year, t[0].placements, t[0].mbo), (2026, 3, 3));
        assert_eq!(t[0].mbo_share_percent, "100.0");
        assert_eq!((t[1].year, t[1].placements, t[1].mbo), (2027, 3, 2));
        assert_eq!(t[1].mbo_share_percent, "66.7");
        assert_eq!(t[1].fewer_opportunities_share_percent, "33.3");
        assert!(known_region(Some("atlantis")).is_err());
        assert!(known_region(Some("europe")).is_ok() && known_region(None).is_ok());
    }

    #[test]
    fn percentages_and_suppression() {
        assert_eq!(percent(1, 3), "33.3");
        assert_eq!(percent(2, 3), "66.7");
        assert_eq!(percent(0, 0), "0.0");
        assert_eq!(
            SuppressedCount(4).to_json(),
            Some(Value::String("<5".into()))
        );
        assert_eq!(SuppressedCount(5).to_json(), Some(Value::from(5)));
        assert_eq!(
            SuppressedCount(0).to_json(),
            Some(Value::String("<5".into()))
        );
    }
}
