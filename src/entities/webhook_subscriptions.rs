use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub callback_url: String,
    /// JSON array of `{"kanaal", "filters"}`.
    pub channels: String,
    /// The signing secret, encrypted under the master key.
    pub secret_enc: String,
    pub active: bool,
    /// Events up to this sequence number have their deliveries.
    pub fanned_out_seq: i64,
    pub created_by: Uuid,
    /// How deliveries are shaped (`integration::shapes::NotificationFormat`).
    pub format: String,
    /// The `Authorization` value sent with each delivery, encrypted under
    /// the master key; none: no such header.
    pub authorization_enc: Option<String>,
    /// The API client that manages it; none: made by staff.
    pub client_id: Option<Uuid>,
    /// The secret the last rotation replaced, sealed as `secret_enc` is;
    /// deliveries are signed with it too until `previous_secret_expires_at`.
    pub previous_secret_enc: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
