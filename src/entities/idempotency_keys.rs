use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// A keyed hash of the caller and the key they sent.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_hash: String,
    /// The operation it was sent to.
    pub operation: String,
    /// A keyed hash of the request (method, path and body).
    pub fingerprint: String,
    /// The first answer's status; none while it is under way.
    pub status: Option<i32>,
    /// The address of what the first request made, under the API base.
    pub location: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
