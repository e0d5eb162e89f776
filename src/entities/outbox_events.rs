use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_events")]
pub struct Model {
    /// Gap-free and in commit order: assigned under the write-order lock.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub id: Uuid,
    pub kanaal: String,
    pub resource: String,
    pub resource_id: Uuid,
    pub actie: String,
    /// JSON object of non-personal attributes.
    pub kenmerken: String,
    pub created_at: DateTimeUtc,
    /// Who may read the event (`Kanaal::stream`).
    pub stream: String,
    /// Gap-free within the stream: a reader sees no trace of the events
    /// of streams it may not read.
    pub stream_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
