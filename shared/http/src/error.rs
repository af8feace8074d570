//! The one mapping from the use cases' errors to HTTP: status, stable error
//! code, `Retry-After`, and the JSON body `{"error": {"code", "message"}}`.
//! Causes of failures on our side are logged here and never returned.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secure2fa_core::error::{
    GenerateError, Internal, ManageError, ReceiptsError, RequestError, Unavailable, VerifyError,
};
use secure2fa_core::otp::ReceiptError;
use serde::Serialize;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::Response as ResponseDoc;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{ToResponse, ToSchema};

/// Why the service refused or failed a request, as HTTP sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The HTTP body is not the expected JSON.
    #[error("{0}")]
    InvalidBody(String),
    #[error("encrypted_data is not valid base64 of nonce || ciphertext || tag")]
    MalformedPayload,
    /// Unknown public key, wrong key or tampered payload: deliberately alike.
    #[error("the public key is unknown or encrypted_data could not be authenticated")]
    Unauthenticated,
    /// A field is missing or invalid; the message names it, never its value.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("iat is more than 300 seconds away from the server's clock")]
    StaleRequest,
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    #[error("rate limited ({}), retry after {retry_after_seconds} seconds", reason.as_str())]
    RateLimited { reason: RateLimitReason, retry_after_seconds: u32 },
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("authentication required")]
    Unauthorized,
    /// A wrong password or second factor at sign-in.
    #[error("{0}")]
    BadCredentials(String),
    #[error("internal error")]
    Internal(String),
    #[error("service temporarily unavailable")]
    Unavailable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitReason {
    ResendCooldown,
    DestinationLimit,
    TooManyRequests,
    ProjectQuota,
}

impl RateLimitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResendCooldown => "resend_cooldown",
            Self::DestinationLimit => "destination_limit",
            Self::TooManyRequests => "too_many_requests",
            Self::ProjectQuota => "quota_exceeded",
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidBody(_) | Self::MalformedPayload | Self::InvalidRequest(_) | Self::StaleRequest => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthenticated | Self::Unauthorized | Self::BadCredentials(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Stable machine-readable code for `{"error": {"code": ...}}`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidBody(_) => "invalid_body",
            Self::MalformedPayload => "malformed_payload",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidRequest(_) => "invalid_request",
            Self::StaleRequest => "stale_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::Forbidden(_) => "forbidden",
            Self::Unauthorized => "unauthorized",
            Self::BadCredentials(_) => "bad_credentials",
            Self::Internal(_) => "internal",
            Self::Unavailable(_) => "unavailable",
        }
    }

    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Self::RateLimited { retry_after_seconds, .. } => Some(*retry_after_seconds),
            _ => None,
        }
    }
}

/// Every code [`ApiError::code`] answers, for the document.
const CODES: [&str; 16] = [
    "invalid_body",
    "malformed_payload",
    "unauthenticated",
    "invalid_request",
    "stale_request",
    "payload_too_large",
    "unsupported_media_type",
    "rate_limited",
    "not_found",
    "method_not_allowed",
    "conflict",
    "forbidden",
    "unauthorized",
    "bad_credentials",
    "internal",
    "unavailable",
];

/// Every error answer's body: `{"error": {"code", "message"}}`.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    #[schema(inline)]
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    #[schema(schema_with = error_codes)]
    code: &'static str,
    message: String,
}

fn error_codes() -> utoipa::openapi::Object {
    crate::openapi::string_enum(&CODES)
}

fn error_content() -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build()
}

/// The shared `Error` answer of the document, any status.
impl<'s> ToResponse<'s> for ErrorBody {
    fn response() -> (&'s str, RefOr<ResponseDoc>) {
        (
            "Error",
            ResponseBuilder::new().description("Error").content("application/json", error_content()).build().into(),
        )
    }
}

/// The shared `RateLimited` answer of the document: a 429 with `Retry-After`.
pub(crate) struct RateLimited;

impl<'s> ToResponse<'s> for RateLimited {
    fn response() -> (&'s str, RefOr<ResponseDoc>) {
        let retry_after = HeaderBuilder::new()
            .schema(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::Integer))
            .description(Some("Seconds to wait before trying again"))
            .build();
        let response = ResponseBuilder::new()
            .description("Rate limited")
            .header("Retry-After", retry_after)
            .content("application/json", error_content())
            .build();
        ("RateLimited", response.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(cause) => tracing::error!(%cause, "internal error"),
            Self::Unavailable(cause) => tracing::error!(%cause, "dependency unavailable"),
            other => tracing::info!(code = other.code(), "request refused"),
        }
        let body = ErrorBody { error: ErrorDetail { code: self.code(), message: self.to_string() } };
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(seconds) = self.retry_after() {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Unauthenticated => Self::Unauthenticated,
            RequestError::Malformed => Self::MalformedPayload,
            RequestError::Invalid(m) => Self::InvalidRequest(m),
            RequestError::Stale => Self::StaleRequest,
        }
    }
}

impl From<Unavailable> for ApiError {
    fn from(e: Unavailable) -> Self {
        Self::Unavailable(e.0)
    }
}

impl From<Internal> for ApiError {
    fn from(e: Internal) -> Self {
        Self::Internal(e.0)
    }
}

impl From<GenerateError> for ApiError {
    fn from(e: GenerateError) -> Self {
        match e {
            GenerateError::Request(r) => r.into(),
            GenerateError::Cooldown { retry_after_seconds } => {
                Self::RateLimited { reason: RateLimitReason::ResendCooldown, retry_after_seconds }
            }
            GenerateError::DestinationLimit { retry_after_seconds } => {
                Self::RateLimited { reason: RateLimitReason::DestinationLimit, retry_after_seconds }
            }
            GenerateError::QuotaExceeded { retry_after_seconds } => {
                Self::RateLimited { reason: RateLimitReason::ProjectQuota, retry_after_seconds }
            }
            GenerateError::Unavailable(u) => u.into(),
            GenerateError::Internal(i) => i.into(),
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Request(r) => r.into(),
            VerifyError::QuotaExceeded { retry_after_seconds } => {
                Self::RateLimited { reason: RateLimitReason::ProjectQuota, retry_after_seconds }
            }
            VerifyError::Unavailable(u) => u.into(),
            VerifyError::Internal(i) => i.into(),
        }
    }
}

impl From<ReceiptsError> for ApiError {
    fn from(e: ReceiptsError) -> Self {
        match e {
            ReceiptsError::NotFound | ReceiptsError::Refused(ReceiptError::Unsupported(_)) => {
                Self::NotFound("no such receipts endpoint".into())
            }
            ReceiptsError::Refused(ReceiptError::Unauthentic) => Self::Unauthorized,
            ReceiptsError::Refused(ReceiptError::Malformed(m)) => {
                Self::InvalidRequest(format!("malformed receipt: {m}"))
            }
            ReceiptsError::Unavailable(u) => u.into(),
            ReceiptsError::Internal(i) => i.into(),
        }
    }
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::NotFound(what) => Self::NotFound(format!("no such {what}")),
            ManageError::Invalid(m) => Self::InvalidRequest(m),
            ManageError::Conflict(m) => Self::Conflict(m),
            ManageError::InUse => Self::Conflict("still linked to a project".into()),
            ManageError::Forbidden => Self::Forbidden("not allowed".into()),
            ManageError::RateLimited { retry_after_seconds, .. } => {
                Self::RateLimited { reason: RateLimitReason::TooManyRequests, retry_after_seconds }
            }
            ManageError::Unavailable(u) => u.into(),
            ManageError::Internal(i) => i.into(),
        }
    }
}

impl From<secure2fa_core::types::ParseError> for ApiError {
    fn from(e: secure2fa_core::types::ParseError) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI document's error codes are exactly the codes answered.
    #[test]
    fn every_error_code_is_documented() {
        let all = [
            ApiError::InvalidBody(String::new()),
            ApiError::MalformedPayload,
            ApiError::Unauthenticated,
            ApiError::InvalidRequest(String::new()),
            ApiError::StaleRequest,
            ApiError::PayloadTooLarge,
            ApiError::UnsupportedMediaType,
            ApiError::RateLimited { reason: RateLimitReason::TooManyRequests, retry_after_seconds: 1 },
            ApiError::NotFound(String::new()),
            ApiError::MethodNotAllowed,
            ApiError::Conflict(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::Unauthorized,
            ApiError::BadCredentials(String::new()),
            ApiError::Internal(String::new()),
            ApiError::Unavailable(String::new()),
        ];
        let doc: serde_json::Value = serde_json::from_str(crate::openapi_json()).unwrap();
        let documented: std::collections::BTreeSet<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]
            ["properties"]["code"]["enum"]
            .as_array()
            .expect("the error codes are an enum")
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let answered: std::collections::BTreeSet<&str> = all.iter().map(ApiError::code).collect();
        assert_eq!(documented, answered);
    }
}
