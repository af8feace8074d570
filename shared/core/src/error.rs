//! What can go wrong in each use case, in the domain's words: one enum per
//! use case. Messages are safe to show (they name fields and rules, never a
//! submitted value). Status codes, error codes and headers are the HTTP
//! crate's business, decided there in one place.

use crate::crypto::KeyError;
use crate::ports::{QueueError, StoreError};
use crate::quota::QuotaExceeded;
use crate::types::ParseError;

/// Why an OTP API payload was refused before anything was done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Unknown public key, wrong key or tampered payload: deliberately alike.
    #[error("the public key is unknown or encrypted_data could not be authenticated")]
    Unauthenticated,
    #[error("encrypted_data is not valid base64 of nonce || ciphertext || tag")]
    Malformed,
    /// A decrypted field is missing or invalid; the message names it.
    #[error("{0}")]
    Invalid(String),
    #[error("iat is more than 300 seconds away from the server's clock")]
    Stale,
}

impl From<ParseError> for RequestError {
    fn from(e: ParseError) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// A dependency failed; worth retrying later. The cause is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service temporarily unavailable")]
pub struct Unavailable(pub String);

/// A defect or corrupt data on our side. The cause is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("internal error")]
pub struct Internal(pub String);

/// `POST /otp/generate`.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("a code was sent to this user less than the resend cooldown ago; retry after {retry_after_seconds} s")]
    Cooldown { retry_after_seconds: u32 },
    #[error("this destination has used up its sends for now; retry after {retry_after_seconds} s")]
    DestinationLimit { retry_after_seconds: u32 },
    #[error("the project's request quota is used up; retry after {retry_after_seconds} s")]
    QuotaExceeded { retry_after_seconds: u32 },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// `POST /otp/verify`. Every check outcome (wrong code, expired...) is an
/// answer, not an error.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("the project's request quota is used up; retry after {retry_after_seconds} s")]
    QuotaExceeded { retry_after_seconds: u32 },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Management of clients, channels, templates, projects and logs.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// Absent, or not the caller's: the two are never told apart.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// Input that breaks a rule; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// A uniqueness rule (e.g. an email already registered).
    #[error("{0}")]
    Conflict(String),
    /// A channel or template still linked to projects.
    #[error("still used by a project")]
    InUse,
    /// The caller may not do this (e.g. an admin-only action).
    #[error("not allowed")]
    Forbidden,
    /// A limit on how often this may be done is reached.
    #[error("{what}; retry after {retry_after_seconds} s")]
    RateLimited { what: &'static str, retry_after_seconds: u32 },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<ParseError> for ManageError {
    fn from(e: ParseError) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// Sign-up, sign-in, authenticators and sessions (`/v1/account/...`).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Input that breaks a rule (a password too easy to guess...); the
    /// message names the field.
    #[error("{0}")]
    Invalid(String),
    /// Wrong email or password, or no such account: never told apart.
    #[error("the email or password is wrong")]
    BadCredentials,
    /// A wrong, used or expired authenticator or backup code.
    #[error("the code is wrong, expired or already used")]
    BadCode,
    /// A mailed link's token that is unknown, used or expired.
    #[error("this link is invalid, expired or already used")]
    BadToken,
    /// No session, or one that ended.
    #[error("sign in first")]
    NotSignedIn,
    /// The session is not at the step this needs (the second factor is
    /// still awaited, or an authenticator must be enrolled first).
    #[error("{0}")]
    WrongStep(&'static str),
    /// The request conflicts with the account's state.
    #[error("{0}")]
    Conflict(&'static str),
    /// Disabled by the deployment's admin.
    #[error("this account is disabled")]
    Disabled,
    #[error("too many attempts; retry after {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u32 },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<ParseError> for AccountError {
    fn from(e: ParseError) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// `POST /receipts/...`.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptsError {
    /// No such provider, client or channel, or the channel is another
    /// provider's: alike, so ids cannot be probed.
    #[error("no such receipts endpoint")]
    NotFound,
    #[error(transparent)]
    Refused(#[from] crate::otp::ReceiptError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// The store, key-vault and queue failures every use case maps the same way.
macro_rules! dependency_failures {
    ($($error:ident),*) => {$(
        impl From<StoreError> for $error {
            fn from(e: StoreError) -> Self {
                match e {
                    StoreError::Corrupt(m) => Internal(format!("corrupt record: {m}")).into(),
                    other => Unavailable(other.to_string()).into(),
                }
            }
        }

        impl From<KeyError> for $error {
            fn from(e: KeyError) -> Self {
                match e {
                    KeyError::Unwrap { .. } => Internal(e.to_string()).into(),
                    KeyError::Unavailable(m) => Unavailable(format!("key vault: {m}")).into(),
                }
            }
        }

        impl From<QueueError> for $error {
            fn from(e: QueueError) -> Self {
                Unavailable(e.to_string()).into()
            }
        }
    )*};
}

dependency_failures!(GenerateError, VerifyError, ReceiptsError, AccountError);

impl From<QuotaExceeded> for GenerateError {
    fn from(q: QuotaExceeded) -> Self {
        Self::QuotaExceeded { retry_after_seconds: q.retry_after_seconds }
    }
}

impl From<QuotaExceeded> for VerifyError {
    fn from(q: QuotaExceeded) -> Self {
        Self::QuotaExceeded { retry_after_seconds: q.retry_after_seconds }
    }
}

impl From<StoreError> for ManageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(format!("{what} is already taken")),
            StoreError::InUse => Self::InUse,
            StoreError::Missing(what) => Self::Invalid(format!("{what} does not exist")),
            StoreError::Corrupt(m) => Internal(format!("corrupt record: {m}")).into(),
            StoreError::Unavailable(m) => Unavailable(m).into(),
            StoreError::TooBroad(m) => Self::Invalid(m.to_owned()),
        }
    }
}

impl From<KeyError> for ManageError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Unwrap { .. } => Internal(e.to_string()).into(),
            KeyError::Unavailable(m) => Unavailable(format!("key vault: {m}")).into(),
        }
    }
}

impl GenerateError {
    /// A stable name of the refusal, for the project's log.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Request(r) => r.kind(),
            Self::Cooldown { .. } => "resend_cooldown",
            Self::DestinationLimit { .. } => "destination_limit",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn is_failure_on_our_side(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Internal(_))
    }
}

impl VerifyError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Request(r) => r.kind(),
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn is_failure_on_our_side(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Internal(_))
    }
}

impl RequestError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Malformed => "malformed_payload",
            Self::Invalid(_) => "invalid_request",
            Self::Stale => "stale_request",
        }
    }
}
