use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_client_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    /// SHA-256 of the key; the key itself is shown once and never stored.
    pub key_hash: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTimeUtc,
    /// Set when a newer key replaced this one (the end of the overlap).
    pub expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
