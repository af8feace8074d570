use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secure2fa_core::ApiError;
use serde_json::json;

/// `{"error": {"code": ..., "message": ...}}` with the error's status, and
/// `Retry-After` on 429. Internal causes are logged here, never returned.
#[derive(Debug)]
pub struct ErrorResponse(pub ApiError);

impl From<ApiError> for ErrorResponse {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let e = self.0;
        match &e {
            ApiError::Internal(cause) => tracing::error!(%cause, "internal error"),
            ApiError::Unavailable(cause) => tracing::error!(%cause, "dependency unavailable"),
            other => tracing::info!(code = other.code(), "request refused"),
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({ "error": { "code": e.code(), "message": e.public_message() } });
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = e.retry_after() {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
