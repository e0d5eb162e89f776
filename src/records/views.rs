//! What the records lifecycle shows: metadata only (reference, type, dates,
//! status, class), never a protected field or a name.

use chrono::NaiveDate;
use poem_openapi::Object;
use uuid::Uuid;

use super::model::{
    Archiefnominatie, Archiefstatus, CaseProgramme, Decision, ItemStatus, ListStatus, Processing,
    RecordType,
};
use crate::{
    entities::{destruction_list_items, destruction_lists, retention_records, retention_rules},
    http::{problem::ApiError, types::Timestamp},
};

/// How long records of one type and outcome are kept.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct RetentionRule {
    pub id: Uuid,
    pub record_type: RecordType,
    /// How the record closed: a stay's status before `closed`, a placement's
    /// final status, or `all` for defenders and participants.
    pub outcome: String,
    pub archiefnominatie: Archiefnominatie,
    /// An ISO 8601 duration of years, months, weeks or days (`P5Y`), counted
    /// from the record's closure (`brondatumArchiefprocedure`: afgehandeld).
    pub term: String,
    /// The selection list class the rule implements.
    pub selectielijstklasse: String,
    pub version: i32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Changes to a retention rule; records not on a destruction list get
/// their dates again.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RetentionRuleUpdate {
    pub archiefnominatie: Option<Archiefnominatie>,
    /// An ISO 8601 duration of years, months, weeks or days, at most 100 years.
    #[oai(validator(max_length = 32))]
    pub term: Option<String>,
    #[oai(validator(max_length = 200, min_length = 1))]
    pub selectielijstklasse: Option<String>,
}

/// A closed record with its archiving values.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ArchiveRecord {
    /// This index entry's id.
    pub id: Uuid,
    pub record_type: RecordType,
    /// The stay's, placement's, participant's or defender's id.
    pub record_id: Uuid,
    pub programme: CaseProgramme,
    /// The stay's or placement's reference; none for people.
    pub reference: Option<String>,
    pub outcome: String,
    pub retention_rule_id: Option<Uuid>,
    /// The day the record closed; none while it is open again.
    pub closed_on: Option<NaiveDate>,
    pub archiefnominatie: Option<Archiefnominatie>,
    /// The day from which it may be destroyed.
    pub archiefactiedatum: Option<NaiveDate>,
    /// A reviewer's later date, which the archiving date never precedes.
    pub keep_until: Option<NaiveDate>,
    pub archiefstatus: Archiefstatus,
    /// Held records go on no destruction list.
    pub legal_hold: bool,
    pub destruction_list_id: Option<Uuid>,
    pub destroyed_at: Option<Timestamp>,
    pub version: i32,
}

/// Places or lifts a legal hold.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ArchiveRecordUpdate {
    pub legal_hold: Option<bool>,
}

/// A destruction list.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct DestructionList {
    pub id: Uuid,
    pub name: String,
    pub status: ListStatus,
    pub author_id: Uuid,
    pub submitted_at: Option<Timestamp>,
    /// The records officer who approved it as archivist.
    pub approved_by: Option<Uuid>,
    pub approved_at: Option<Timestamp>,
    /// The end of the waiting period: the list is executed after it.
    pub execute_after: Option<Timestamp>,
    pub executed_at: Option<Timestamp>,
    /// The SHA-256 of the destruction report, as recorded in the audit chain.
    pub report_sha256: Option<String>,
    pub version: i32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which due records a proposal takes, when it names none.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DestructionListFilter {
    pub record_type: Option<RecordType>,
    /// Records due on or before this day (and before today).
    pub due_by: NaiveDate,
}

/// A proposal: the records to destroy, named or by a filter.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DestructionListProposal {
    /// A name for the list (no personal data).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// Index entry ids (`ArchiveRecord.id`).
    #[oai(validator(max_items = 1000))]
    pub records: Option<Vec<Uuid>>,
    pub filter: Option<DestructionListFilter>,
}

/// A status change of a list: `ready_to_review` (author), `ready_for_archivist`
/// (author), `ready_to_delete` (archivist's approval; the waiting period
/// starts), `new` (abort, before execution).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DestructionListStatusChange {
    pub status: ListStatus,
}

/// One decision of a review.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ItemReview {
    /// The item's id.
    pub item: Uuid,
    pub decision: Decision,
    /// With `keep`: the later day from which the record may be destroyed.
    pub keep_until: Option<NaiveDate>,
}

/// A coordinator's review of the items of their programme.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DestructionListReview {
    #[oai(validator(min_items = 1, max_items = 1000))]
    pub decisions: Vec<ItemReview>,
}

/// A record on a destruction list.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct DestructionListItem {
    pub id: Uuid,
    /// The index entry (`ArchiveRecord.id`).
    pub archive_record_id: Uuid,
    pub record_type: RecordType,
    pub record_id: Uuid,
    pub programme: CaseProgramme,
    pub reference: Option<String>,
    pub outcome: String,
    pub selectielijstklasse: String,
    pub closed_on: Option<NaiveDate>,
    pub archiefactiedatum: Option<NaiveDate>,
    pub status: ItemStatus,
    pub decision: Option<Decision>,
    pub keep_until: Option<NaiveDate>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<Timestamp>,
    pub processing: Processing,
    pub destroyed_at: Option<Timestamp>,
    /// For a stay or placement destroyed with its defender or participant:
    /// the item that destroyed it (it is on the list, and in the report,
    /// as an item of its own).
    pub part_of_item: Option<Uuid>,
}

pub(crate) fn rule(m: retention_rules::Model) -> Result<RetentionRule, ApiError> {
    Ok(RetentionRule {
        id: m.id,
        record_type: RecordType::stored(&m.record_type, "retention_rules.record_type")?,
        archiefnominatie: Archiefnominatie::stored(
            &m.archiefnominatie,
            "retention_rules.archiefnominatie",
        )?,
        outcome: m.outcome,
        term: m.term,
        selectielijstklasse: m.selectielijstklasse,
        version: m.version,
        created_at: m.created_at.into(),
        updated_at: m.updated_at.into(),
    })
}

pub(crate) fn record(m: retention_records::Model) -> Result<ArchiveRecord, ApiError> {
    Ok(ArchiveRecord {
        id: m.id,
        record_type: RecordType::stored(&m.record_type, "retention_records.record_type")?,
        record_id: m.record_id,
        programme: CaseProgramme::stored(&m.programme, "retention_records.programme")?,
        reference: m.reference,
        outcome: m.outcome,
        retention_rule_id: m.rule_id,
        closed_on: m.closed_on,
        archiefnominatie: Archiefnominatie::stored_opt(
            m.archiefnominatie.as_deref(),
            "retention_records.archiefnominatie",
        )?,
        archiefactiedatum: m.archiefactiedatum,
        keep_until: m.keep_until,
        archiefstatus: Archiefstatus::stored(&m.archiefstatus, "retention_records.archiefstatus")?,
        legal_hold: m.legal_hold,
        destruction_list_id: m.list_id,
        destroyed_at: m.destroyed_at.map(Into::into),
        version: m.version,
    })
}

pub(crate) fn list(m: destruction_lists::Model) -> Result<DestructionList, ApiError> {
    Ok(DestructionList {
        id: m.id,
        name: m.name,
        status: ListStatus::stored(&m.status, "destruction_lists.status")?,
        author_id: m.author_id,
        submitted_at: m.submitted_at.map(Into::into),
        approved_by: m.approved_by,
        approved_at: m.approved_at.map(Into::into),
        execute_after: m.execute_after.map(Into::into),
        executed_at: m.executed_at.map(Into::into),
        report_sha256: m.report_sha256,
        version: m.version,
        created_at: m.created_at.into(),
        updated_at: m.updated_at.into(),
    })
}

pub(crate) fn item(m: destruction_list_items::Model) -> Result<DestructionListItem, ApiError> {
    Ok(DestructionListItem {
        id: m.id,
        archive_record_id: m.record_row_id,
        record_type: RecordType::stored(&m.record_type, "destruction_list_items.record_type")?,
        record_id: m.record_id,
        programme: CaseProgramme::stored(&m.programme, "destruction_list_items.programme")?,
        reference: m.reference,
        outcome: m.outcome,
        selectielijstklasse: m.selectielijstklasse,
        closed_on: m.closed_on,
        archiefactiedatum: m.archiefactiedatum,
        status: ItemStatus::stored(&m.status, "destruction_list_items.status")?,
        decision: Decision::stored_opt(m.decision.as_deref(), "destruction_list_items.decision")?,
        keep_until: m.keep_until,
        reviewed_by: m.reviewed_by,
        reviewed_at: m.reviewed_at.map(Into::into),
        processing: Processing::stored(&m.processing, "destruction_list_items.processing")?,
        destroyed_at: m.destroyed_at.map(Into::into),
        part_of_item: m.container_item_id,
    })
}

/// One destroyed record in a report.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct DestructionReportItem {
    pub record_type: String,
    pub record_id: Uuid,
    pub reference: Option<String>,
    pub outcome: String,
    pub selectielijstklasse: String,
    pub closed_on: Option<chrono::NaiveDate>,
    pub archiefactiedatum: Option<chrono::NaiveDate>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<Timestamp>,
    pub destroyed_at: Option<Timestamp>,
    /// For a stay or placement destroyed with its defender or participant:
    /// the record id of that defender or participant.
    pub part_of: Option<Uuid>,
}

/// Destroyed records of one record type closed in one period (a year).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct DestructionTotal {
    pub record_type: String,
    pub period: String,
    pub records: u64,
}

/// The report of an executed destruction list, kept for good.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct DestructionReport {
    pub list_id: Uuid,
    pub list_name: String,
    pub author: Uuid,
    pub reviewers: Vec<Uuid>,
    pub approved_by: Option<Uuid>,
    pub approved_at: Option<Timestamp>,
    pub executed_at: Timestamp,
    pub items: Vec<DestructionReportItem>,
    /// The items per record type and period.
    pub roll_up: Vec<DestructionTotal>,
    /// The SHA-256 of the stored report, as recorded in the audit chain.
    pub sha256: String,
}

/// A destruction report as CSV rows, the header first (one row per destroyed
/// record).
pub(crate) fn report_rows(r: &super::execution::Report) -> Vec<Vec<String>> {
    let mut rows = vec![[
        "listId",
        "recordType",
        "recordId",
        "reference",
        "outcome",
        "selectielijstklasse",
        "closedOn",
        "archiefactiedatum",
        "reviewedBy",
        "reviewedAt",
        "approvedBy",
        "destroyedAt",
        "partOf",
    ]
    .iter()
    .map(|h| (*h).to_owned())
    .collect::<Vec<_>>()];
    let opt = |v: Option<String>| v.unwrap_or_default();
    let ts = |t: Option<chrono::DateTime<chrono::Utc>>| {
        opt(t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
    };
    for i in &r.items {
        rows.push(vec![
            r.list_id.to_string(),
            i.record_type.clone(),
            i.record_id.to_string(),
            opt(i.reference.clone()),
            i.outcome.clone(),
            i.selectielijstklasse.clone(),
            opt(i.closed_on.map(|d| d.to_string())),
            opt(i.archiefactiedatum.map(|d| d.to_string())),
            opt(i.reviewed_by.map(|u| u.to_string())),
            ts(i.reviewed_at),
            opt(r.approved_by.map(|u| u.to_string())),
            ts(i.destroyed_at),
            opt(i.part_of.map(|u| u.to_string())),
        ]);
    }
    rows
}

/// A destruction report as the API shows it, with the SHA-256 of its stored form.
pub(crate) fn report(r: super::execution::Report, sha256: String) -> DestructionReport {
    DestructionReport {
        list_id: r.list_id,
        list_name: r.list_name,
        author: r.author,
        reviewers: r.reviewers,
        approved_by: r.approved_by,
        approved_at: r.approved_at.map(Into::into),
        executed_at: r.executed_at.into(),
        items: r
            .items
            .into_iter()
            .map(|i| DestructionReportItem {
                record_type: i.record_type,
                record_id: i.record_id,
                reference: i.reference,
                outcome: i.outcome,
                selectielijstklasse: i.selectielijstklasse,
                closed_on: i.closed_on,
                archiefactiedatum: i.archiefactiedatum,
                reviewed_by: i.reviewed_by,
                reviewed_at: i.reviewed_at.map(Into::into),
                destroyed_at: i.destroyed_at.map(Into::into),
                part_of: i.part_of,
            })
            .collect(),
        roll_up: r
            .roll_up
            .into_iter()
            .map(|t| DestructionTotal {
                record_type: t.record_type,
                period: t.period,
                records: t.records,
            })
            .collect(),
        sha256,
    }
}
