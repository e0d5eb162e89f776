//! The table of defenders hosted, without I/O: distinct defenders per year
//! of arrival, field of work and region, with every cell of a fixed table
//! present whatever the data (an absent cell would tell 0 from 1-4, and
//! years with data would tell that someone came then). The small-count
//! rule is applied when the table is shown.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Datelike;
use uuid::Uuid;

use super::{
    regions::{region_of, REGIONS},
    store::Arrival,
};
use crate::shelter::model::FieldOfWork;

/// Which cells a caller asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cells<'a> {
    /// The years, in order.
    pub years: &'a [i32],
    pub field_of_work: Option<FieldOfWork>,
    pub region: Option<&'a str>,
}

/// One cell: year, field of work, region, distinct defenders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub year: i32,
    pub field_of_work: FieldOfWork,
    pub region: &'static str,
    pub defenders: i64,
}

/// Every cell asked for, from every arrival (erased defenders count too).
pub(crate) fn table(arrivals: &[Arrival], asked: Cells<'_>) -> Vec<Cell> {
    let mut counted: BTreeMap<(i32, FieldOfWork, &'static str), BTreeSet<Uuid>> = BTreeMap::new();
    for a in arrivals {
        let key = (
            a.arrived.year(),
            a.field_of_work,
            region_of(&a.country_of_work),
        );
        counted.entry(key).or_default().insert(a.defender);
    }
    let mut cells = Vec::new();
    for &year in asked.years {
        let fields = FieldOfWork::ALL
            .iter()
            .filter(|f| asked.field_of_work.is_none_or(|want| want == **f));
        for &field_of_work in fields {
            let regions = REGIONS
                .iter()
                .filter(|(r, _)| asked.region.is_none_or(|want| want == *r));
            for &(region, _) in regions {
                let defenders = counted
                    .get(&(year, field_of_work, region))
                    .map_or(0, |ids| ids.len() as i64);
                cells.push(Cell {
                    year,
                    field_of_work,
                    region,
                    defenders,
                });
            }
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_is_present_and_a_defender_counts_once_per_cell() {
        let someone = Uuid::now_v7();
        let field = FieldOfWork::ALL[0];
        let arrival = |on: &str| Arrival {
            defender: someone,
            arrived: on.parse().unwrap(),
            field_of_work: field,
            country_of_work: "KE".to_owned(),
        };
        // two stays of one defender in one year
        let arrivals = [arrival("2025-02-01"), arrival("2025-09-01")];
        let asked = Cells {
            years: &[2024, 2025],
            field_of_work: None,
            region: None,
        };
        let cells = table(&arrivals, asked);
        assert_eq!(cells.len(), 2 * FieldOfWork::ALL.len() * REGIONS.len());
        let region = region_of("KE");
        let counted: Vec<&Cell> = cells.iter().filter(|c| c.defenders > 0).collect();
        assert_eq!(
            counted,
            [&Cell {
                year: 2025,
                field_of_work: field,
                region,
                defenders: 1
            }]
        );
        let one = Cells {
            years: &[2025],
            field_of_work: Some(field),
            region: Some(region),
        };
        assert_eq!(table(&arrivals, one).len(), 1);
    }
}
