use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stays")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub reference: String,
    pub defender_id: Uuid,
    pub intake_round: String,
    pub referring_organisation: Option<String>,
    pub planned_arrival: Date,
    pub planned_departure: Date,
    pub actual_arrival: Option<Date>,
    pub actual_departure: Option<Date>,
    pub visa_status: String,
    pub insurance_arranged: bool,
    pub local_partner: Option<String>,
    pub status: String,
    pub confidentiality: String,
    pub accommodation_address_enc: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub referring_organisation_enc: Option<String>,
    pub local_partner_enc: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::defenders::Entity",
        from = "Column::DefenderId",
        to = "super::defenders::Column::Id"
    )]
    Defender,
}

impl Related<super::defenders::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Defender.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
