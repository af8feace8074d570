//! The one error type the HTTP layer turns into a status and a JSON body.
//! Messages are safe to show: they never echo submitted values.

use crate::types::ParseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitReason {
    ResendCooldown,
    DestinationLimit,
    TooManyRequests,
}

impl RateLimitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResendCooldown => "resend_cooldown",
            Self::DestinationLimit => "destination_limit",
            Self::TooManyRequests => "too_many_requests",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The HTTP body is not the expected JSON.
    #[error("{0}")]
    InvalidBody(String),
    /// `encrypted_data` is not base64 of nonce || ciphertext || tag.
    #[error("encrypted_data is not valid base64 of nonce || ciphertext || tag")]
    MalformedPayload,
    /// Unknown public key, wrong key or tampered payload: deliberately alike.
    #[error("the public key is unknown or encrypted_data could not be authenticated")]
    Unauthenticated,
    /// The decrypted request is missing a field or has an invalid one.
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
    /// Something on our side; the cause is logged, never returned.
    #[error("internal error")]
    Internal(String),
    #[error("service temporarily unavailable")]
    Unavailable(String),
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidBody(_) | Self::MalformedPayload | Self::InvalidRequest(_) | Self::StaleRequest => 400,
            Self::Unauthenticated | Self::Unauthorized => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict(_) => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited { .. } => 429,
            Self::Internal(_) => 500,
            Self::Unavailable(_) => 503,
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

    /// The message returned to the caller.
    pub fn public_message(&self) -> String {
        self.to_string()
    }
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}

impl From<crate::ports::StoreError> for ApiError {
    fn from(e: crate::ports::StoreError) -> Self {
        use crate::ports::StoreError as S;
        match e {
            S::Conflict(what) => Self::Conflict(format!("{what} is already taken")),
            S::InUse => Self::Conflict("still linked to a project".into()),
            S::Missing(what) => Self::InvalidRequest(format!("{what} does not exist")),
            S::Corrupt(m) => Self::Internal(format!("corrupt record: {m}")),
            S::Unavailable(m) => Self::Unavailable(m),
        }
    }
}

impl From<crate::crypto::KeyError> for ApiError {
    fn from(e: crate::crypto::KeyError) -> Self {
        match e {
            crate::crypto::KeyError::Unwrap { .. } => Self::Internal(e.to_string()),
            crate::crypto::KeyError::Unavailable(m) => Self::Unavailable(format!("key vault: {m}")),
        }
    }
}

impl From<crate::ports::QueueError> for ApiError {
    fn from(e: crate::ports::QueueError) -> Self {
        Self::Unavailable(e.to_string())
    }
}
