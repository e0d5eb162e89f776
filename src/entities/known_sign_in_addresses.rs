use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "known_sign_in_addresses")]
pub struct Model {
    /// The throttle's account-and-address subject (a hash).
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject: String,
    pub last_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
