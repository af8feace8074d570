use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::ParseError;

/// A project's public key (`pk_` + 26 base32 characters, 128 random bits).
/// Not secret: it names the project and is the AAD of every payload.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey(String);

impl PublicKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("pk_{}", ulid::Ulid::from_bytes(bytes).to_string().to_ascii_lowercase()))
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let ok = s.len() <= 64
            && s.starts_with("pk_")
            && s.len() > 3
            && s[3..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok { Ok(Self(s.to_owned())) } else { Err(ParseError::new("public_key", "malformed")) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PublicKey {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<PublicKey> for String {
    fn from(p: PublicKey) -> String {
        p.0
    }
}
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.0)
    }
}
impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A project's 32-byte AES-256-GCM secret, handed to the client as base64.
/// Neither Debug nor Display reveals it; wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn from_base64(s: &str) -> Result<Self, ParseError> {
        let bytes = STANDARD.decode(s.trim()).map_err(|_| ParseError::new("secret_key", "not valid base64"))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| ParseError::new("secret_key", "must decode to 32 bytes"))?;
        Ok(Self(arr))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_public_keys_parse_and_differ() {
        let a = PublicKey::generate();
        let b = PublicKey::generate();
        assert_ne!(a, b);
        assert_eq!(PublicKey::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn secret_key_round_trips_base64_and_hides_itself() {
        let k = SecretKey::generate();
        let b64 = k.to_base64();
        assert_eq!(SecretKey::from_base64(&b64).unwrap().expose(), k.expose());
        assert!(!format!("{k:?}").contains(&b64));
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
    }
}
