//! Parse-don't-validate newtypes for everything that arrives as text.
//! Once constructed, a value is trusted by the rest of the code.

mod contact;
mod keys;
mod lang;
mod opaque;
mod otp_code;

pub use contact::{Email, PhoneNumber, Recipient};
pub use keys::{PublicKey, SecretKey};
pub use lang::Lang;
pub use opaque::{Device, UserId};
pub use otp_code::{CodeLength, OtpCode};

/// Why a piece of input text was refused. The message names the field and
/// the rule but never echoes the value (it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ParseError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl ParseError {
    pub fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }
}
