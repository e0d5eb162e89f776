//! Liveness and readiness, outside the versioned API and without authentication.

use poem::{handler, http::StatusCode, web::Data, IntoResponse, Response};

use crate::{http::problem::Problem, AppState};

#[handler]
pub(crate) async fn live() -> Response {
    poem::web::Json(serde_json::json!({"status": "up"})).into_response()
}

/// Ready when the database answers with every migration applied and the
/// audit appender runs (without it no read of personal data can be
/// recorded, so none may be served). The body shows the appender's queue.
#[handler]
pub(crate) async fn ready(state: Data<&AppState>) -> Response {
    let appender = state.audit.status();
    let verdict = match crate::db::readiness(&state.db).await {
        Err(reason) => Err(reason),
        Ok(()) if !appender.running => Err("The audit appender is not running."),
        Ok(()) => Ok(()),
    };
    match verdict {
        Ok(()) => poem::web::Json(serde_json::json!({
            "status": "ready",
            "auditAppender": appender,
        }))
        .into_response(),
        Err(reason) => {
            tracing::warn!(reason, "not ready");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, reason).into_response()
        }
    }
}
