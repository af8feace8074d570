use std::fmt;

use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::clock::UnixTime;
use crate::ids::{ClientId, TokenId};

/// A client's bearer token for the management API. Only the token's
/// SHA-256 is stored (a token is 256 random bits: a fast hash is enough and
/// lets a presented token be found by its hash), with its first characters
/// so that the client can tell its tokens apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub client_id: ClientId,
    pub name: String,
    /// The token's first [`TokenSecret::PREFIX_LEN`] characters.
    pub prefix: String,
    /// Hex SHA-256 of the whole token.
    pub hash: String,
    pub created_at: UnixTime,
    /// Updated at most once a minute.
    pub last_used_at: Option<UnixTime>,
}

/// A token as shown once to its owner: `s2fa_ct_` and 43 characters of
/// base64url (32 random bytes).
pub struct TokenSecret(Zeroizing<String>);

impl TokenSecret {
    pub const MARKER: &'static str = "s2fa_ct_";
    pub const PREFIX_LEN: usize = 12;

    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(Zeroizing::new(format!("{}{}", Self::MARKER, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash a token is stored and found under (as every opaque secret's).
    pub fn hash_of(presented: &str) -> String {
        super::OpaqueSecret::hash_of(presented)
    }

    pub fn prefix(&self) -> String {
        self.0.chars().take(Self::PREFIX_LEN).collect()
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}
