//! Local-mode only: `GET /dev/outbox`, the messages the outbox delivered.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use secure2fa_http::ApiError;
use secure2fa_local::{Outbox, OutboxMessage};
use serde::Deserialize;

#[derive(Deserialize)]
struct Params {
    limit: Option<usize>,
}

pub fn router(outbox: Outbox) -> Router {
    Router::new().route("/dev/outbox", get(list)).with_state(outbox)
}

/// Newest first; `?limit=` (default 50, at most 1000).
async fn list(State(outbox): State<Outbox>, Query(p): Query<Params>) -> Result<Json<Vec<OutboxMessage>>, ApiError> {
    let limit = p.limit.unwrap_or(50).clamp(1, 1000);
    outbox.list(limit).await.map(Json).map_err(|e| ApiError::Internal(format!("outbox read failed: {e}")))
}
