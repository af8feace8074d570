use std::fmt;

use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::clock::UnixTime;
use crate::ids::ClientId;

/// How far a signed-in session got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionLevel {
    /// The password was right; the second factor (TOTP or a backup code) is
    /// awaited. Grants nothing else.
    SecondFactor,
    /// The password was right and the account has no authenticator yet: may
    /// only enrol one.
    Enrol,
    /// Signed in.
    Full,
}

impl SessionLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecondFactor => "second_factor",
            Self::Enrol => "enrol",
            Self::Full => "full",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "second_factor" => Some(Self::SecondFactor),
            "enrol" => Some(Self::Enrol),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

/// A browser session, stored server-side under the SHA-256 of its cookie
/// value; the store drops it after `expires_at` (TTL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Hex SHA-256 of the cookie value.
    pub hash: String,
    pub client_id: ClientId,
    pub level: SessionLevel,
    /// The client's session epoch when the session began: "log out
    /// everywhere" and a password reset move the epoch on, ending it.
    pub epoch: u32,
    pub created_at: UnixTime,
    /// The absolute timeout.
    pub expires_at: UnixTime,
    /// The idle timeout, moved on by use.
    pub idle_expires_at: UnixTime,
}

/// What a one-time account token (sent by mail) is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountTokenPurpose {
    /// Confirms a sign-up and sets the first password.
    Confirm,
    /// Sets a new password and ends every session.
    Reset,
}

impl AccountTokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Reset => "reset",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confirm" => Some(Self::Confirm),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

/// A single-use token mailed to a client, stored by its hash until used
/// or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountToken {
    /// Hex SHA-256 of the token.
    pub hash: String,
    pub client_id: ClientId,
    pub purpose: AccountTokenPurpose,
    pub expires_at: UnixTime,
}

/// 256 random bits as base64url: a session cookie's value or a mailed
/// token. Only its SHA-256 is stored (a fast hash suffices for 256 bits and
/// lets a presented value be found by its hash).
pub struct OpaqueSecret(Zeroizing<String>);

impl OpaqueSecret {
    pub fn generate() -> Self {
        let mut b = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(b.as_mut());
        Self(Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b.as_ref())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        Self::hash_of(&self.0)
    }

    /// The hash a presented value is looked up by.
    pub fn hash_of(presented: &str) -> String {
        hex::encode(Sha256::digest(presented.as_bytes()))
    }
}

impl fmt::Debug for OpaqueSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueSecret(<redacted>)")
    }
}
