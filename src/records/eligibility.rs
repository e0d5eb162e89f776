//! Whether a record may be destroyed: the one rule a proposal and the
//! destroying transaction both apply, over index entries and nothing else.
//! Keep wins over destroy: nothing open, reopened, held or kept, and
//! nothing with such a part (or inside a held or listed container), goes.

use chrono::NaiveDate;
use uuid::Uuid;

use super::model::{Archiefnominatie, RecordType};
use crate::entities::retention_records;

/// Why a record may not be destroyed (now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    Destroyed,
    LegalHold,
    OnList,
    NotOnThisList,
    DestroyedWithDefender,
    Open,
    KeptForGood,
    NoDate,
    NotDue(NaiveDate),
    Kept(NaiveDate),
    PartHeld,
    PartOpen,
    PartKept,
    PartOnList,
    ContainerHeld,
    ContainerOnList,
}

impl Refusal {
    /// The code an `invalidParams` entry (or an audit event) names.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Refusal::Destroyed => "destroyed",
            Refusal::LegalHold => "legal_hold",
            Refusal::OnList => "on_list",
            Refusal::NotOnThisList => "not_on_this_list",
            Refusal::DestroyedWithDefender => "destroyed_with_defender",
            Refusal::Open => "open",
            Refusal::KeptForGood => "blijvend_bewaren",
            Refusal::NoDate => "no_date",
            Refusal::NotDue(_) => "not_due",
            Refusal::Kept(_) => "kept",
            Refusal::PartHeld => "part_legal_hold",
            Refusal::PartOpen => "part_open",
            Refusal::PartKept => "part_kept",
            Refusal::PartOnList => "part_on_list",
            Refusal::ContainerHeld => "container_legal_hold",
            Refusal::ContainerOnList => "container_on_list",
        }
    }

    pub(crate) fn reason(&self) -> String {
        match self {
            Refusal::Destroyed => "is already destroyed".to_owned(),
            Refusal::LegalHold => "is under a legal hold".to_owned(),
            Refusal::OnList => "is already on a destruction list".to_owned(),
            Refusal::NotOnThisList => "is no longer on this list".to_owned(),
            Refusal::DestroyedWithDefender => {
                "is a stay: stays are destroyed with their defender; propose the defender"
                    .to_owned()
            }
            Refusal::Open => "is open again".to_owned(),
            Refusal::KeptForGood => "is to be kept for good".to_owned(),
            Refusal::NoDate => "has no archiving date (open again, or no rule)".to_owned(),
            Refusal::NotDue(d) => format!("is not due before {d}"),
            Refusal::Kept(d) => format!("is kept until {d}"),
            Refusal::PartHeld => "holds a stay or placement under a legal hold".to_owned(),
            Refusal::PartOpen => "holds a stay or placement that is open".to_owned(),
            Refusal::PartKept => "holds a stay or placement a reviewer kept".to_owned(),
            Refusal::PartOnList => {
                "holds a stay or placement that is on a destruction list".to_owned()
            }
            Refusal::ContainerHeld => "belongs to a participant under a legal hold".to_owned(),
            Refusal::ContainerOnList => {
                "belongs to a participant who is on a destruction list".to_owned()
            }
        }
    }
}

/// Why `row` may not be destroyed on `today`; `None` when it may.
/// `parts` are the entries of what it holds (not destroyed), `container`
/// the entry of what holds it. `list` is the list executing it, or `None`
/// for a proposal (then it must be on no list).
pub(crate) fn refusal(
    row: &retention_records::Model,
    parts: &[retention_records::Model],
    container: Option<&retention_records::Model>,
    today: NaiveDate,
    list: Option<Uuid>,
) -> Option<Refusal> {
    if row.destroyed_at.is_some() {
        return Some(Refusal::Destroyed);
    }
    if row.legal_hold {
        return Some(Refusal::LegalHold);
    }
    match (list, row.list_id) {
        (None, Some(_)) => return Some(Refusal::OnList),
        (Some(l), on) if on != Some(l) => return Some(Refusal::NotOnThisList),
        _ => {}
    }
    if RecordType::parse(&row.record_type).is_some_and(|t| !t.listable()) {
        return Some(Refusal::DestroyedWithDefender);
    }
    if row.closed_on.is_none() {
        return Some(Refusal::Open);
    }
    for p in parts.iter().filter(|p| p.destroyed_at.is_none()) {
        if p.legal_hold {
            return Some(Refusal::PartHeld);
        }
        if p.closed_on.is_none() {
            return Some(Refusal::PartOpen);
        }
        if p.keep_until.is_some_and(|k| k > today) {
            return Some(Refusal::PartKept);
        }
        // on this very list, it goes with its container
        if p.list_id.is_some() && p.list_id != list {
            return Some(Refusal::PartOnList);
        }
    }
    if let Some(c) = container {
        if c.legal_hold {
            return Some(Refusal::ContainerHeld);
        }
        if c.list_id.is_some() {
            return Some(Refusal::ContainerOnList);
        }
    }
    match row
        .archiefnominatie
        .as_deref()
        .and_then(Archiefnominatie::parse)
    {
        Some(Archiefnominatie::Vernietigen) => {}
        Some(Archiefnominatie::BlijvendBewaren) => return Some(Refusal::KeptForGood),
        None => return Some(Refusal::NoDate),
    }
    if let Some(k) = row.keep_until.filter(|k| *k > today) {
        return Some(Refusal::Kept(k));
    }
    match row.archiefactiedatum {
        Some(d) if d <= today => None,
        Some(d) => Some(Refusal::NotDue(d)),
        None => Some(Refusal::NoDate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn entry(t: RecordType) -> retention_records::Model {
        let at = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        retention_records::Model {
            id: Uuid::now_v7(),
            record_type: t.as_str().to_owned(),
            record_id: Uuid::now_v7(),
            programme: t.programme().as_str().to_owned(),
            reference: None,
            outcome: "all".to_owned(),
            rule_id: None,
            closed_on: Some(day(2020, 1, 1)),
            archiefnominatie: Some("vernietigen".to_owned()),
            archiefactiedatum: Some(day(2021, 1, 1)),
            keep_until: None,
            archiefstatus: "nog_te_archiveren".to_owned(),
            legal_hold: false,
            list_id: None,
            destroyed_at: None,
            version: 1,
            created_at: at,
            updated_at: at,
            secret: false,
            container_id: None,
        }
    }

    #[test]
    fn keep_wins_over_destroy() {
        let today = day(2030, 1, 1);
        let d = entry(RecordType::Defender);
        assert_eq!(refusal(&d, &[], None, today, None), None);
        let mut stay = entry(RecordType::Stay);
        stay.container_id = Some(d.record_id);
        assert_eq!(
            refusal(&stay, &[], None, today, None),
            Some(Refusal::DestroyedWithDefender)
        );
        type Change = fn(&mut retention_records::Model);
        let cases: [(Change, Refusal); 4] = [
            (|p| p.legal_hold = true, Refusal::PartHeld),
            (|p| p.closed_on = None, Refusal::PartOpen),
            (|p| p.keep_until = Some(day(2040, 1, 1)), Refusal::PartKept),
            (|p| p.list_id = Some(Uuid::nil()), Refusal::PartOnList),
        ];
        for (change, expected) in cases {
            let mut p = stay.clone();
            change(&mut p);
            assert_eq!(refusal(&d, &[p], None, today, None), Some(expected.clone()));
        }
        // a destroyed part no longer counts
        let mut gone = stay.clone();
        gone.legal_hold = true;
        gone.destroyed_at = Some(d.created_at);
        assert_eq!(refusal(&d, &[gone], None, today, None), None);
        // executing: it must still be on this very list
        let list = Uuid::now_v7();
        let mut listed = d.clone();
        listed.list_id = Some(list);
        assert_eq!(refusal(&listed, &[], None, today, Some(list)), None);
        assert_eq!(
            refusal(&listed, &[], None, today, Some(Uuid::now_v7())),
            Some(Refusal::NotOnThisList)
        );
        assert_eq!(
            refusal(&listed, &[], None, today, None),
            Some(Refusal::OnList)
        );
        let mut kept = d.clone();
        kept.keep_until = Some(day(2040, 1, 1));
        assert_eq!(
            refusal(&kept, &[], None, today, None),
            Some(Refusal::Kept(day(2040, 1, 1)))
        );
        let mut held_container = entry(RecordType::Participant);
        held_container.legal_hold = true;
        let placement = entry(RecordType::Placement);
        assert_eq!(
            refusal(&placement, &[], Some(&held_container), today, None),
            Some(Refusal::ContainerHeld)
        );
    }
}
