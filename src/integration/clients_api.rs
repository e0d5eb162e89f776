//! API clients (admin only): systems that call the API with keys of their
//! own, limited by scopes. Keys are shown once, stored as SHA-256, and
//! rotated with an overlap so a client can switch without downtime.

use chrono::{DateTime, TimeDelta, Utc};
use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::views::{
    ApiClient, ApiClientKey, ApiClientList, ApiClientUpdate, IssuedApiKey, NewApiClient,
    NewApiClientKey,
};
use crate::{
    accounts::{access::Caller, model::Scope, store},
    audit::{self, Event},
    db::begin_write,
    entities::{api_client_keys, api_clients},
    http::{
        body::JsonBody,
        etag, if_match_version,
        pagination::{newest_first, paginate, PageRequest},
        problem::{ApiError, ApiResult, InvalidParam},
        stale_version, Tag,
    },
    text::parse_text,
    AppState,
};

/// The longest a client may live before it must be renewed.
const MAX_LIFETIME_DAYS: i64 = 731;
const DEFAULT_OVERLAP_HOURS: u32 = 24;

#[derive(ApiResponse)]
pub enum ClientResponse {
    /// The API client.
    #[oai(status = 200)]
    Ok(Json<ApiClient>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum KeyIssued {
    /// The client and its new key, shown only here.
    #[oai(status = 201)]
    Created(
        Json<IssuedApiKey>,
        /// The client's address.
        #[oai(header = "Location")]
        String,
        /// The client's version, for `If-Match`.
        #[oai(header = "ETag")]
        String,
    ),
}

async fn live_keys(
    db: &impl ConnectionTrait,
    client_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<api_client_keys::Model>, ApiError> {
    live_keys_of(db, &[client_id], now).await
}

/// The unexpired keys of several clients in one query, oldest first.
async fn live_keys_of(
    db: &impl ConnectionTrait,
    client_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<api_client_keys::Model>, ApiError> {
    Ok(api_client_keys::Entity::find()
        .filter(api_client_keys::Column::ClientId.is_in(client_ids.iter().copied()))
        .filter(
            Condition::any()
                .add(api_client_keys::Column::ExpiresAt.is_null())
                .add(api_client_keys::Column::ExpiresAt.gt(now)),
        )
        .order_by_asc(api_client_keys::Column::Id)
        .all(db)
        .await?)
}

fn client_view(m: api_clients::Model, keys: Vec<api_client_keys::Model>) -> ApiClient {
    ApiClient {
        id: m.id,
        name: m.name,
        scopes: Scope::split(&m.scopes),
        expires_at: m.expires_at.into(),
        revoked_at: m.revoked_at.map(Into::into),
        keys: keys
            .into_iter()
            .map(|k| ApiClientKey {
                id: k.id,
                prefix: k.prefix,
                created_at: k.created_at.into(),
                expires_at: k.expires_at.map(Into::into),
            })
            .collect(),
        created_at: m.created_at.into(),
        updated_at: m.updated_at.into(),
        version: m.version,
    }
}

async fn load(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<ApiClient, ApiError> {
    let m = api_clients::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let keys = live_keys(db, id, now).await?;
    Ok(client_view(m, keys))
}

fn check_name(name: &str, problems: &mut Vec<InvalidParam>) -> String {
    match parse_text(name, 100) {
        Ok(n) if !n.is_empty() => n,
        Ok(_) => {
            problems.push(InvalidParam::new("name", "required", "A name is required."));
            String::new()
        }
        Err(reason) => {
            problems.push(InvalidParam::new("name", "invalid", reason));
            String::new()
        }
    }
}

fn check_expiry(at: DateTime<Utc>, now: DateTime<Utc>, problems: &mut Vec<InvalidParam>) {
    if at <= now || at > now + TimeDelta::days(MAX_LIFETIME_DAYS) {
        problems.push(InvalidParam::new(
            "expiresAt",
            "out_of_range",
            "Must be in the future and at most two years ahead.",
        ));
    }
}

fn location(state: &AppState, id: Uuid) -> String {
    crate::http::resource_url(&state.config.public_url, &format!("/api-clients/{id}"))
}

pub struct ApiClientsApi;

#[OpenApi(tag = "Tag::Integration")]
impl ApiClientsApi {
    /// List API clients, newest first.
    #[oai(path = "/api-clients", method = "get", operation_id = "listApiClients")]
    async fn list_api_clients(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<ApiClientList> {
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let rows = newest_first(
            api_clients::Entity::find(),
            api_clients::Column::Id,
            page.after,
            page.fetch_limit(),
        )
        .all(&state.db)
        .await?;
        let (rows, next) = paginate(rows, page.limit, |r| r.id)?;
        let now = state.clock.now();
        // the page's keys in one query, not one per client
        let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
        let mut keys: std::collections::HashMap<Uuid, Vec<api_client_keys::Model>> =
            std::collections::HashMap::new();
        for k in live_keys_of(&state.db, &ids, now).await? {
            keys.entry(k.client_id).or_default().push(k);
        }
        let items = rows
            .into_iter()
            .map(|m| {
                let own = keys.remove(&m.id).unwrap_or_default();
                client_view(m, own)
            })
            .collect();
        Ok(ApiClientList::page(
            items,
            next,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Register an API client; its first key is in the answer, shown only there.
    #[oai(
        path = "/api-clients",
        method = "post",
        operation_id = "createApiClient"
    )]
    async fn create_api_client(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<NewApiClient>,
    ) -> ApiResult<KeyIssued> {
        let state = *state;
        let now = state.clock.now();
        let mut problems = Vec::new();
        let name = check_name(&body.name, &mut problems);
        check_expiry(body.expires_at.0, now, &mut problems);
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let id = Uuid::now_v7();
        let txn = begin_write(&state.db).await?;
        api_clients::Entity::insert(api_clients::ActiveModel {
            id: Set(id),
            name: Set(name),
            scopes: Set(Scope::join(&body.scopes)),
            expires_at: Set(body.expires_at.0),
            revoked_at: Set(None),
            created_by: Set(caller.actor_id),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        let (key, row) = store::create_client_key(&txn, id, now).await?;
        audit::record(
            &txn,
            now,
            &caller.audit,
            Event::new("api_client.created", 201)
                .on("api_client", id)
                .fields(vec!["scopes"]),
        )
        .await?;
        let client = load(&txn, id, now).await?;
        txn.commit().await?;
        let tag = etag(client.version);
        Ok(KeyIssued::Created(
            Json(IssuedApiKey {
                client,
                key: key.to_string(),
                key_id: row.id,
            }),
            location(state, id),
            tag,
        ))
    }

    /// Show an API client.
    #[oai(
        path = "/api-clients/:id",
        method = "get",
        operation_id = "getApiClient"
    )]
    async fn get_api_client(
        &self,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<ClientResponse> {
        let client = load(&state.db, id.0, state.clock.now()).await?;
        let tag = etag(client.version);
        Ok(ClientResponse::Ok(Json(client), tag))
    }

    /// Change an API client's name, scopes or expiry (needs `If-Match`).
    /// A revoked client cannot be changed.
    #[oai(
        path = "/api-clients/:id",
        method = "patch",
        operation_id = "updateApiClient"
    )]
    async fn update_api_client(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the version being changed.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<ApiClientUpdate>,
    ) -> ApiResult<ClientResponse> {
        let state = *state;
        let now = state.clock.now();
        let mut problems = Vec::new();
        let mut changes: Vec<(api_clients::Column, sea_orm::Value)> = Vec::new();
        let mut fields = Vec::new();
        if let Some(n) = &body.name {
            changes.push((
                api_clients::Column::Name,
                check_name(n, &mut problems).into(),
            ));
            fields.push("name");
        }
        if let Some(s) = &body.scopes {
            changes.push((api_clients::Column::Scopes, Scope::join(s).into()));
            fields.push("scopes");
        }
        if let Some(e) = body.expires_at {
            check_expiry(e.0, now, &mut problems);
            changes.push((api_clients::Column::ExpiresAt, e.0.into()));
            fields.push("expiresAt");
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let txn = begin_write(&state.db).await?;
        let m = api_clients::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), m.version)?;
        if m.revoked_at.is_some() {
            return Err(ApiError::conflict(
                "This API client is revoked; register a new one.",
            ));
        }
        if !fields.is_empty() {
            if !crate::db::update_versioned::<api_clients::Entity>(
                &txn,
                api_clients::Column::Id,
                api_clients::Column::Version,
                api_clients::Column::UpdatedAt,
                m.id,
                expected,
                changes,
                now,
            )
            .await?
            {
                return Err(stale_version());
            }
            audit::record(
                &txn,
                now,
                &caller.audit,
                Event::new("api_client.updated", 200)
                    .on("api_client", m.id)
                    .fields(fields),
            )
            .await?;
        }
        let client = load(&txn, m.id, now).await?;
        txn.commit().await?;
        let tag = etag(client.version);
        Ok(ClientResponse::Ok(Json(client), tag))
    }

    /// Revoke an API client: every key stops working at once. Revoking
    /// twice changes nothing.
    #[oai(
        path = "/api-clients/:id/revocation",
        method = "post",
        operation_id = "revokeApiClient"
    )]
    async fn revoke_api_client(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<ClientResponse> {
        let now = state.clock.now();
        let txn = begin_write(&state.db).await?;
        let m = api_clients::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if m.revoked_at.is_none() {
            api_clients::Entity::update_many()
                .col_expr(api_clients::Column::RevokedAt, Expr::value(Some(now)))
                .col_expr(api_clients::Column::Version, Expr::value(m.version + 1))
                .col_expr(api_clients::Column::UpdatedAt, Expr::value(now))
                .filter(api_clients::Column::Id.eq(m.id))
                .exec(&txn)
                .await?;
            audit::record(
                &txn,
                now,
                &caller.audit,
                Event::new("api_client.revoked", 200).on("api_client", m.id),
            )
            .await?;
        }
        let client = load(&txn, m.id, now).await?;
        txn.commit().await?;
        let tag = etag(client.version);
        Ok(ClientResponse::Ok(Json(client), tag))
    }

    /// Issue a new key (rotation). The client's older keys keep working for
    /// `overlapHours` (default 24), then stop.
    #[oai(
        path = "/api-clients/:id/keys",
        method = "post",
        operation_id = "createApiClientKey"
    )]
    async fn create_api_client_key(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        body: JsonBody<NewApiClientKey>,
    ) -> ApiResult<KeyIssued> {
        let state = *state;
        let now = state.clock.now();
        let overlap = TimeDelta::hours(i64::from(
            body.overlap_hours.unwrap_or(DEFAULT_OVERLAP_HOURS).min(720),
        ));
        let txn = begin_write(&state.db).await?;
        let m = api_clients::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if m.revoked_at.is_some() {
            return Err(ApiError::conflict(
                "This API client is revoked; register a new one.",
            ));
        }
        let end = now + overlap;
        api_client_keys::Entity::update_many()
            .col_expr(api_client_keys::Column::ExpiresAt, Expr::value(Some(end)))
            .filter(api_client_keys::Column::ClientId.eq(m.id))
            .filter(
                Condition::any()
                    .add(api_client_keys::Column::ExpiresAt.is_null())
                    .add(api_client_keys::Column::ExpiresAt.gt(end)),
            )
            .exec(&txn)
            .await?;
        let (key, row) = store::create_client_key(&txn, m.id, now).await?;
        api_clients::Entity::update_many()
            .col_expr(api_clients::Column::Version, Expr::value(m.version + 1))
            .col_expr(api_clients::Column::UpdatedAt, Expr::value(now))
            .filter(api_clients::Column::Id.eq(m.id))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            now,
            &caller.audit,
            Event::new("api_client.key_issued", 201).on("api_client", m.id),
        )
        .await?;
        let client = load(&txn, m.id, now).await?;
        txn.commit().await?;
        let tag = etag(client.version);
        Ok(KeyIssued::Created(
            Json(IssuedApiKey {
                client,
                key: key.to_string(),
                key_id: row.id,
            }),
            location(state, m.id),
            tag,
        ))
    }
}
