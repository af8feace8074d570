//! Cryptography, all AES-256-GCM and HMAC-SHA256 from RustCrypto:
//! - [`payload`]: the public API's encrypted request/response bodies;
//! - [`field`]: envelope encryption of stored fields, blind indexes, code MACs;
//! - [`keys`]: the key-vault port (KMS or a local master key) and the bounded
//!   cache of plaintext data keys that keeps KMS off the hot path.

pub mod field;
pub mod keys;
pub mod payload;

pub use field::{DataKey, FieldAad, IndexKey, Mac, Sealed};
pub use keys::{DataKeyCache, KeyContext, KeyError, KeyVault, WrappedKey};

/// Standard base64 (with padding) as used by the public contract.
pub(crate) mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}
