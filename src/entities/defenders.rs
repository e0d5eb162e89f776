use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "defenders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub codename: String,
    pub codename_key: String,
    pub country_of_work: String,
    pub field_of_work: String,
    pub languages: String,
    pub gender: Option<String>,
    pub risk_level: String,
    pub data_key_id: Option<Uuid>,
    pub identity_enc: Option<String>,
    pub legal_name_index: Option<String>,
    pub erased_at: Option<DateTimeUtc>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
