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
use sea_orm::{ActiveValue::Set, ConnectionTrait};
use uuid::Uuid;

use super::store;
use super::views::{
    ApiClientAccount, ApiClientAccountUpdate, ApiClientKey, ApiClientList, IssuedApiKey,
    NewApiClientAccount, NewApiClientKey,
};
use crate::{
    accounts::{access::Caller, model::Scope},
    db::begin_write,
    entities::{api_client_keys, api_clients},
    http::{
        body::JsonBody,
        etag, if_match_version,
        pagination::PageRequest,
        problem::{ApiError, ApiResult, InvalidParam},
        Tag,
    },
    text::parse_text,
    versioned::Changes,
    AppState,
};

/// The longest a client may live before it must be renewed.
const MAX_LIFETIME_DAYS: i64 = 731;
const DEFAULT_OVERLAP_HOURS: u32 = 24;

#[derive(ApiResponse)]
pub enum ClientResponse {
    /// The API client.
    #[oai(status = 200)]
    Ok(Json<ApiClientAccount>, #[oai(header = "ETag")] String),
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

fn client_view(m: api_clients::Model, keys: Vec<api_client_keys::Model>) -> ApiClientAccount {
    ApiClientAccount {
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
) -> Result<ApiClientAccount, ApiError> {
    let m = store::find_client(db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let keys = store::live_keys_of(db, &[id], now).await?;
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
        let rows = store::list_clients(&state.db, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        let now = state.clock.now();
        // the page's keys in one query, not one per client
        let ids: Vec<Uuid> = rows.rows.iter().map(|m| m.id).collect();
        let mut keys: std::collections::HashMap<Uuid, Vec<api_client_keys::Model>> =
            std::collections::HashMap::new();
        for k in store::live_keys_of(&state.db, &ids, now).await? {
            keys.entry(k.client_id).or_default().push(k);
        }
        let items = rows.map(|m| {
            let own = keys.remove(&m.id).unwrap_or_default();
            client_view(m, own)
        });
        Ok(ApiClientList::page(
            items,
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
        body: JsonBody<NewApiClientAccount>,
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
        let row = api_clients::ActiveModel {
            id: Set(id),
            name: Set(name),
            scopes: Set(Scope::join(&body.scopes)),
            expires_at: Set(body.expires_at.0),
            revoked_at: Set(None),
            created_by: Set(caller.actor_id),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let (key, row) = store::insert_client(&txn, &caller.audit, now, row).await?;
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
        body: JsonBody<ApiClientAccountUpdate>,
    ) -> ApiResult<ClientResponse> {
        let state = *state;
        let now = state.clock.now();
        let mut problems = Vec::new();
        let mut changes = Changes::<api_clients::Entity>::new();
        if let Some(n) = &body.name {
            let name = check_name(n, &mut problems);
            changes.set("name", api_clients::Column::Name, name);
        }
        if let Some(s) = &body.scopes {
            changes.set("scopes", api_clients::Column::Scopes, Scope::join(s));
        }
        if let Some(e) = body.expires_at {
            check_expiry(e.0, now, &mut problems);
            changes.set("expiresAt", api_clients::Column::ExpiresAt, e.0);
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        let txn = begin_write(&state.db).await?;
        let m = store::find_client(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let expected = if_match_version(if_match.0.as_deref(), m.version)?;
        if m.revoked_at.is_some() {
            return Err(ApiError::conflict(
                "This API client is revoked; register a new one.",
            ));
        }
        store::update_client(&txn, &caller.audit, now, m.id, expected, changes).await?;
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
        let m = store::find_client(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if m.revoked_at.is_none() {
            store::revoke_client(&txn, &caller.audit, now, &m).await?;
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
        let m = store::find_client(&txn, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if m.revoked_at.is_some() {
            return Err(ApiError::conflict(
                "This API client is revoked; register a new one.",
            ));
        }
        let (key, row) = store::rotate_key(&txn, &caller.audit, now, &m, now + overlap).await?;
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
