//! Liveness and readiness, outside the versioned API and without authentication.

use poem::{handler, http::StatusCode, web::Data, IntoResponse, Response};

use crate::{http::problem::Problem, AppState};

#[handler]
pub async fn live() -> Response {
    poem::web::Json(serde_json::json!({"status": "up"})).into_response()
}

#[handler]
pub async fn ready(state: Data<&AppState>) -> Response {
    match crate::db::readiness(&state.db).await {
        Ok(()) => poem::web::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(reason) => {
            tracing::warn!(reason, "not ready");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, reason).into_response()
        }
    }
}
