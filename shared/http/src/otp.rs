//! `POST /otp/generate` and `POST /otp/verify` (DESIGN §4).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router, middleware};
use secure2fa_core::ApiError;
use secure2fa_core::otp::{EncryptedRequest, GenerateOutcome, OtpService};
use serde_json::Value;

use crate::{ErrorResponse, IpRateLimit};

/// Largest accepted request body. Real requests are well under 1 KiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Which OTP routes a router serves: the generate and verify Lambdas each
/// serve their own; the local server serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpRoutes {
    Generate,
    Verify,
    Both,
}

pub fn otp_router(service: OtpService, routes: OtpRoutes, ip_limit: Option<IpRateLimit>) -> Router {
    let mut router = Router::new();
    if routes != OtpRoutes::Verify {
        router = router.route("/otp/generate", post(generate));
    }
    if routes != OtpRoutes::Generate {
        router = router.route("/otp/verify", post(verify));
    }
    let router = router
        .method_not_allowed_fallback(|| async { ErrorResponse(ApiError::MethodNotAllowed) })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service);
    match ip_limit {
        Some(limit) => router.layer(middleware::from_fn_with_state(limit, IpRateLimit::middleware)),
        None => router,
    }
}

/// Parses `{"public_key": "...", "encrypted_data": "..."}`.
fn parse_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<EncryptedRequest, ApiError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        _ => ApiError::InvalidBody("request body could not be read".into()),
    })?;
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        if !ct.starts_with("application/json") {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    let value: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::InvalidBody("request body is not valid JSON".into()))?;
    let field = |name: &str| match value.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(ApiError::InvalidBody(format!("{name} is required"))),
        Some(_) => Err(ApiError::InvalidBody(format!("{name} must be a string"))),
    };
    if !value.is_object() {
        return Err(ApiError::InvalidBody("request body must be a JSON object".into()));
    }
    Ok(EncryptedRequest { public_key: field("public_key")?, encrypted_data: field("encrypted_data")? })
}

async fn generate(
    State(service): State<OtpService>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let req = parse_body(&headers, body)?;
        service.generate(&req).await
    }
    .await;
    match result {
        Ok(outcome @ GenerateOutcome::Queued { .. }) => (StatusCode::ACCEPTED, Json(outcome)).into_response(),
        Ok(outcome @ GenerateOutcome::Template { .. }) => (StatusCode::OK, Json(outcome)).into_response(),
        Err(e) => ErrorResponse(e).into_response(),
    }
}

async fn verify(
    State(service): State<OtpService>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let req = parse_body(&headers, body)?;
        service.verify(&req).await
    }
    .await;
    match result {
        Ok(outcome) => (StatusCode::OK, Json(outcome)).into_response(),
        Err(e) => ErrorResponse(e).into_response(),
    }
}
