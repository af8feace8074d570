//! `POST /otp/generate` and `POST /otp/verify` (DESIGN §4).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, middleware};
use secure2fa_core::ids::VerificationId;
use secure2fa_core::otp::{Generated, OtpService, VerifyOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ErrorBody, RateLimited};
use crate::records::{ChannelMethod, VerifyStatus};
use crate::routes::Routes;
use crate::{ApiError, IpRateLimit};

/// What the client's backend posts to `/otp/generate` and `/otp/verify`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct EncryptedRequest {
    pub public_key: String,
    /// base64(nonce[12] || AES-256-GCM(secret_key, nonce, plaintext JSON, aad = public_key) || tag[16]).
    /// Generate plaintext: {user_id, to, lang?, device?, template_request?, iat}.
    /// Verify plaintext: {user_id, code, device?, iat}.
    pub encrypted_data: String,
}

/// `202` answer of `/otp/generate`: the code is on its way.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenerateQueued {
    /// Always `pending`.
    #[schema(schema_with = pending_only)]
    pub status: &'static str,
    #[schema(value_type = String)]
    pub verification_id: VerificationId,
    pub channel: ChannelMethod,
    pub expires_at: i64,
}

fn pending_only() -> utoipa::openapi::Object {
    crate::openapi::string_enum(&["pending"])
}

/// `200` answer of a `template_request`: nothing was sent; `encrypted_data`
/// holds `{code, subject, body, lang, verification_id, expires_at}`,
/// encrypted like a request.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenerateTemplate {
    #[schema(value_type = String)]
    pub verification_id: VerificationId,
    pub expires_at: i64,
    /// Encrypted like a request; plaintext {code, subject, body, lang, verification_id, expires_at}
    pub encrypted_data: String,
}

/// `200` answer of `/otp/verify`: the check's status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = VerifyOutcome)]
pub struct VerifyResponse {
    pub status: VerifyStatus,
    /// Checks left for the current code, after an `invalid_code` or `device_mismatch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub verification_id: Option<VerificationId>,
}

impl From<VerifyOutcome> for VerifyResponse {
    fn from(o: VerifyOutcome) -> Self {
        Self { status: o.status.into(), attempts_left: o.attempts_left, verification_id: o.verification_id }
    }
}

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

/// The OTP API's routes, `which` of them.
pub(crate) fn routes(which: OtpRoutes) -> Routes<OtpService> {
    let mut routes = Routes::new();
    if which != OtpRoutes::Verify {
        routes = routes.at(utoipa_axum::routes!(generate));
    }
    if which != OtpRoutes::Generate {
        routes = routes.at(utoipa_axum::routes!(verify));
    }
    routes
}

pub fn otp_router(service: OtpService, which: OtpRoutes, ip_limit: Option<IpRateLimit>) -> Router {
    let router = routes(which)
        .into_router()
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
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

#[utoipa::path(
    post, path = "/otp/generate", tag = "OTP", summary = "Send a one-time code", security(),
    request_body = EncryptedRequest,
    responses(
        (status = 202, description = "Code queued for delivery", body = GenerateQueued),
        (status = 200, description = "template_request: rendered message, encrypted", body = GenerateTemplate),
        (status = 429, response = RateLimited),
        (status = "default", response = ErrorBody),
    ),
)]
async fn generate(
    State(service): State<OtpService>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req = parse_body(&headers, body)?;
    Ok(match service.generate(&req.public_key, &req.encrypted_data).await? {
        Generated::Queued { verification_id, channel, expires_at } => {
            let body = GenerateQueued { status: "pending", verification_id, channel: channel.into(), expires_at };
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Generated::Template { verification_id, expires_at, encrypted_data } => {
            (StatusCode::OK, Json(GenerateTemplate { verification_id, expires_at, encrypted_data })).into_response()
        }
    })
}

#[utoipa::path(
    post, path = "/otp/verify", tag = "OTP", summary = "Check a code", security(),
    request_body = EncryptedRequest,
    responses(
        (status = 200, description = "The outcome of the check", body = VerifyResponse),
        (status = 429, response = RateLimited),
        (status = "default", response = ErrorBody),
    ),
)]
async fn verify(
    State(service): State<OtpService>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let req = parse_body(&headers, body)?;
    Ok(Json(service.verify(&req.public_key, &req.encrypted_data).await?.into()))
}
