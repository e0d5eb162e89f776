//! The records lifecycle's parsed types: record types and their outcomes,
//! Open Zaak's archiving values, Open Archiefbeheer's list and item states,
//! and retention terms (ISO 8601 durations of whole days, months or years).

use chrono::{Datelike, Months, NaiveDate};

crate::text::text_enum!(
    /// What kind of record a retention rule or an index entry is about.
    RecordType {
        Stay => "stay",
        Placement => "placement",
        Participant => "participant",
        Defender => "defender",
    }
);

crate::text::text_enum!(
    /// The programme a record belongs to: its coordinator reviews it.
    CaseProgramme {
        Shelter => "shelter",
        Exchange => "exchange",
    }
);

impl RecordType {
    pub fn programme(self) -> CaseProgramme {
        match self {
            RecordType::Stay | RecordType::Defender => CaseProgramme::Shelter,
            RecordType::Placement | RecordType::Participant => CaseProgramme::Exchange,
        }
    }

    /// The outcomes a rule of this type is kept for: how the record closed.
    pub fn outcomes(self) -> &'static [&'static str] {
        match self {
            // the status a stay was in when it was closed
            RecordType::Stay => &["aftercare", "withdrawn", "visa_refused", "cannot_return"],
            // a placement's final status
            RecordType::Placement => &["reported", "rejected", "withdrawn", "cancelled"],
            // closed when all their stays or placements are; `none`: never
            // had one (closed the day they were entered)
            RecordType::Participant | RecordType::Defender => &["all", "none"],
        }
    }

    /// Whether a record of this type may be put on a destruction list on
    /// its own. A stay's free texts are sealed under its defender's data key:
    /// it is destroyed with its defender (crypto-shredding), not alone.
    pub fn listable(self) -> bool {
        !matches!(self, RecordType::Stay)
    }
}

crate::text::text_enum!(
    /// Open Zaak's `archiefnominatie`: destroy, or keep for good.
    Archiefnominatie {
        Vernietigen => "vernietigen",
        BlijvendBewaren => "blijvend_bewaren",
    }
);

crate::text::text_enum!(
    /// Open Zaak's `archiefstatus`, and `vernietigd` once destroyed.
    Archiefstatus {
        NogTeArchiveren => "nog_te_archiveren",
        Vernietigd => "vernietigd",
    }
);

crate::text::text_enum!(
    /// Open Archiefbeheer's destruction list statuses.
    ListStatus {
        New => "new",
        ReadyToReview => "ready_to_review",
        ChangesRequested => "changes_requested",
        InternallyReviewed => "internally_reviewed",
        ReadyForArchivist => "ready_for_archivist",
        ReadyToDelete => "ready_to_delete",
        Deleted => "deleted",
    }
);

impl ListStatus {
    /// The statuses a caller may move a list to from this one (`deleted` is
    /// reached by the execution only; `new` from a later status aborts).
    pub fn targets(self) -> &'static [ListStatus] {
        use ListStatus::*;
        match self {
            New => &[ReadyToReview],
            ReadyToReview => &[New],
            ChangesRequested => &[ReadyToReview, New],
            InternallyReviewed => &[ReadyForArchivist, New],
            ReadyForArchivist => &[ReadyToDelete, New],
            ReadyToDelete => &[New],
            Deleted => &[],
        }
    }

    /// The list's items and record set may still change (no review yet).
    pub fn is_open(self) -> bool {
        self != ListStatus::Deleted
    }
}

crate::text::text_enum!(
    /// Open Archiefbeheer's item statuses: on the list, or taken off it.
    ItemStatus {
        Suggested => "suggested",
        Removed => "removed",
    }
);

crate::text::text_enum!(
    /// A reviewer's decision on one item.
    Decision {
        Accept => "accept",
        Keep => "keep",
        Remove => "remove",
    }
);

crate::text::text_enum!(
    /// Where an item's destruction stands.
    Processing {
        New => "new",
        Succeeded => "succeeded",
        Failed => "failed",
    }
);

/// A retention term: an ISO 8601 duration of years, months, weeks and days
/// (no time part: a record's date is a calendar date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Term {
    pub months: u32,
    pub days: u32,
}

impl Term {
    /// The longest term a rule may have.
    pub(crate) const MAX_YEARS: u32 = 100;

    pub(crate) fn parse(text: &str) -> Result<Term, &'static str> {
        const FORMAT: &str =
            "must be an ISO 8601 duration of years, months, weeks or days, such as P5Y, P18M or P30D";
        let text = text.trim();
        if text.starts_with('-') {
            return Err("must not be negative");
        }
        let Some(rest) = text.strip_prefix('P') else {
            return Err(FORMAT);
        };
        if rest.is_empty() || rest.contains('T') {
            return Err(FORMAT);
        }
        let (mut years, mut months, mut weeks, mut days) = (0u64, 0u64, 0u64, 0u64);
        let mut number = String::new();
        let mut last_unit = 0;
        for c in rest.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                if number.len() > 6 {
                    return Err("is longer than 100 years");
                }
                continue;
            }
            let (slot, rank) = match c {
                'Y' => (&mut years, 1),
                'M' => (&mut months, 2),
                'W' => (&mut weeks, 3),
                'D' => (&mut days, 4),
                _ => return Err(FORMAT),
            };
            if number.is_empty() || rank <= last_unit {
                return Err(FORMAT);
            }
            *slot = number.parse().map_err(|_| FORMAT)?;
            number.clear();
            last_unit = rank;
        }
        if !number.is_empty() {
            return Err(FORMAT);
        }
        if years + months + weeks + days == 0 {
            return Err("must be longer than zero days");
        }
        let months = years * 12 + months;
        let days = weeks * 7 + days;
        let max_months = u64::from(Self::MAX_YEARS) * 12;
        if months > max_months || days > max_months * 31 || months + days / 28 > max_months {
            return Err("is longer than 100 years");
        }
        Ok(Term {
            months: months as u32,
            days: days as u32,
        })
    }

    /// `from` plus this term (month ends clamp: 31 January plus P1M is the
    /// last day of February).
    pub(crate) fn after(self, from: NaiveDate) -> NaiveDate {
        let d = from
            .checked_add_months(Months::new(self.months))
            .unwrap_or(NaiveDate::MAX);
        d.checked_add_days(chrono::Days::new(u64::from(self.days)))
            .unwrap_or(NaiveDate::MAX)
    }
}

/// The period a report rolls records up by: the year they closed.
pub(crate) fn period_of(closed_on: Option<NaiveDate>) -> String {
    closed_on.map_or_else(|| "unknown".to_owned(), |d| d.year().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms() {
        assert_eq!(
            Term::parse("P5Y"),
            Ok(Term {
                months: 60,
                days: 0
            })
        );
        assert_eq!(
            Term::parse("P1Y6M"),
            Ok(Term {
                months: 18,
                days: 0
            })
        );
        assert_eq!(
            Term::parse("P2W3D"),
            Ok(Term {
                months: 0,
                days: 17
            })
        );
        assert_eq!(Term::parse("P0D"), Err("must be longer than zero days"));
        assert_eq!(Term::parse("P0Y0M"), Err("must be longer than zero days"));
        for bad in [
            "", "P", "5Y", "PT1H", "P1DT1H", "P1M1Y", "P1.5Y", "PY", "P1Y1Y",
        ] {
            assert!(Term::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Term::parse("-P1Y"), Err("must not be negative"));
        assert_eq!(Term::parse("P101Y"), Err("is longer than 100 years"));
        assert_eq!(
            Term::parse("P99999999999Y"),
            Err("is longer than 100 years")
        );
        assert!(Term::parse("P100Y").is_ok());
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let t = Term::parse("P1M").unwrap();
        assert_eq!(t.after(d("2026-01-31")), d("2026-02-28"));
        assert_eq!(
            Term::parse("P1Y2D").unwrap().after(d("2024-02-29")),
            d("2025-03-02")
        );
    }

    #[test]
    fn every_status_reaches_deleted_or_new() {
        for s in ListStatus::ALL {
            if *s != ListStatus::New && *s != ListStatus::Deleted {
                assert!(
                    s.targets().contains(&ListStatus::New),
                    "{s:?} cannot be aborted"
                );
            }
        }
    }
}
