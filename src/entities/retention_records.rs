use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "retention_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub record_type: String,
    pub record_id: Uuid,
    pub programme: String,
    pub reference: Option<String>,
    pub outcome: String,
    pub rule_id: Option<Uuid>,
    pub closed_on: Option<Date>,
    pub archiefnominatie: Option<String>,
    pub archiefactiedatum: Option<Date>,
    pub keep_until: Option<Date>,
    pub archiefstatus: String,
    pub legal_hold: bool,
    pub list_id: Option<Uuid>,
    pub destroyed_at: Option<DateTimeUtc>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The record is (or holds) a secret stay.
    pub secret: bool,
    /// The defender or participant a stay or placement belongs to.
    pub container_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
