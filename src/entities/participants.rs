use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "participants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub given_name: String,
    pub family_name: String,
    pub name_key: String,
    pub date_of_birth: Date,
    pub email: String,
    pub education_level: String,
    pub home_institution_id: Uuid,
    pub field_of_study: String,
    pub nationality: String,
    pub fewer_opportunities: bool,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The participant's own data key (`None` until something is sealed
    /// for them); destroyed with them.
    pub data_key_id: Option<Uuid>,
    /// The duty-of-care document, sealed under that key.
    pub care_enc: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
