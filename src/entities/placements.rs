use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "placements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub reference: String,
    pub participant_id: Uuid,
    pub direction: String,
    pub agreement_id: Option<Uuid>,
    pub sending_institution_id: Uuid,
    pub receiving_institution_id: Uuid,
    pub kind: String,
    pub planned_start: Date,
    pub planned_end: Date,
    pub actual_start: Option<Date>,
    pub actual_end: Option<Date>,
    pub funding_programme: Option<String>,
    pub status: String,
    pub education_level: String,
    pub country: String,
    pub year: i32,
    pub travel_distance_km: Option<i32>,
    pub green_travel: bool,
    pub grant_json: Option<String>,
    pub grant_rate_table_id: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::participants::Entity",
        from = "Column::ParticipantId",
        to = "super::participants::Column::Id"
    )]
    Participant,
}

impl ActiveModelBehavior for ActiveModel {}
