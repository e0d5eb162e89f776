use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "destruction_list_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub list_id: Uuid,
    pub record_row_id: Uuid,
    pub record_type: String,
    pub record_id: Uuid,
    pub programme: String,
    pub reference: Option<String>,
    pub outcome: String,
    pub selectielijstklasse: String,
    pub closed_on: Option<Date>,
    pub archiefactiedatum: Option<Date>,
    pub status: String,
    pub decision: Option<String>,
    pub keep_until: Option<Date>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub processing: String,
    pub destroyed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The record is (or holds) a secret stay.
    pub secret: bool,
    /// For a stay or placement destroyed with its defender or participant:
    /// the item that destroyed it.
    pub container_item_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
