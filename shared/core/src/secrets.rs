//! Deployment secrets: the blind-index pepper and the session key. Kept in
//! Secrets Manager on AWS and in `secrets.json` (0600) in the local data
//! directory; both hold the same JSON document.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::IndexKey;

#[derive(Serialize, Deserialize)]
struct Document {
    blind_index_pepper: String,
    session_key: String,
}

#[derive(Debug, thiserror::Error)]
#[error("deployment secrets are invalid: {0}")]
pub struct SecretsError(&'static str);

pub struct DeploymentSecrets {
    /// Keys blind indexes that cannot be scoped to one data key (client emails).
    pub index_key: IndexKey,
    /// Signs dashboard session cookies and CSRF tokens.
    pub session_key: Zeroizing<[u8; 64]>,
}

impl DeploymentSecrets {
    pub fn generate() -> Self {
        let mut pepper = [0u8; 32];
        let mut session = Zeroizing::new([0u8; 64]);
        rand::rngs::OsRng.fill_bytes(&mut pepper);
        rand::rngs::OsRng.fill_bytes(session.as_mut());
        Self { index_key: IndexKey::from_bytes(pepper), session_key: session }
    }

    pub fn from_json(text: &str) -> Result<Self, SecretsError> {
        let doc: Document = serde_json::from_str(text).map_err(|_| SecretsError("not the expected JSON document"))?;
        let pepper: [u8; 32] = STANDARD
            .decode(&doc.blind_index_pepper)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(SecretsError("blind_index_pepper must be base64 of 32 bytes"))?;
        let session: [u8; 64] = STANDARD
            .decode(&doc.session_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(SecretsError("session_key must be base64 of 64 bytes"))?;
        Ok(Self { index_key: IndexKey::from_bytes(pepper), session_key: Zeroizing::new(session) })
    }

    pub fn to_json(&self) -> Zeroizing<String> {
        let doc = Document {
            blind_index_pepper: STANDARD.encode(self.index_key.expose()),
            session_key: STANDARD.encode(self.session_key.as_ref()),
        };
        Zeroizing::new(serde_json::to_string_pretty(&doc).expect("a struct of strings serialises"))
    }
}

impl fmt::Debug for DeploymentSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeploymentSecrets(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_through_json() {
        let s = DeploymentSecrets::generate();
        let back = DeploymentSecrets::from_json(&s.to_json()).unwrap();
        assert_eq!(back.index_key.index("email", "a"), s.index_key.index("email", "a"));
        assert_eq!(back.session_key.as_ref(), s.session_key.as_ref());
        assert!(DeploymentSecrets::from_json(r#"{"blind_index_pepper":"AA==","session_key":"AA=="}"#).is_err());
    }
}
