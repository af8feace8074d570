//! Field (envelope) encryption of stored values.
//!
//! Every project and every client has its own 256-bit data key (wrapped by
//! KMS or by the local master key, see [`super::keys`]). From it, HKDF-SHA256
//! derives three independent subkeys:
//! - sealing: AES-256-GCM over a field, AAD binding entity, id and field name,
//!   so a sealed value cannot be moved to another row or column;
//! - blind index: HMAC-SHA256 over a value, to look up sealed values by equality;
//! - MAC: HMAC-SHA256 over OTP codes and device ids, which are only ever compared.
//!
//! Sealed format: `0x01 || nonce[12] || ciphertext || tag[16]`.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac as _};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

const SEALED_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a sealed field could not be opened (wrong key, wrong binding or corrupted)")]
pub struct OpenError;

/// What a sealed value is bound to: `entity`, `id` and `field`.
#[derive(Debug, Clone, Copy)]
pub struct FieldAad<'a> {
    pub entity: &'static str,
    pub id: &'a str,
    pub field: &'static str,
}

impl FieldAad<'_> {
    fn bytes(&self) -> Vec<u8> {
        format!("s2fa:v1:{}:{}:{}", self.entity, self.id, self.field).into_bytes()
    }
}

/// An encrypted field as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed(#[serde(with = "super::b64")] Vec<u8>);

impl Sealed {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// A keyed MAC (blind index, code or device MAC), hex encoded for storage.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mac(String);

impl Mac {
    pub fn from_hex(s: String) -> Self {
        Self(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Constant-time equality, for comparisons done in our own process.
    pub fn ct_eq(&self, other: &Mac) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({}…)", &self.0[..self.0.len().min(8)])
    }
}

fn hmac_hex(key: &[u8; 32], parts: &[&[u8]], out_len: usize) -> String {
    let mut m = <HmacSha256 as hmac::Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        m.update(&(p.len() as u32).to_be_bytes());
        m.update(p);
    }
    hex::encode(&m.finalize().into_bytes()[..out_len])
}

/// A plaintext data key with its derived subkeys. Never leaves memory.
pub struct DataKey {
    raw: Zeroizing<[u8; 32]>,
    cipher: Aes256Gcm,
    index_key: Zeroizing<[u8; 32]>,
    mac_key: Zeroizing<[u8; 32]>,
}

impl DataKey {
    pub fn from_bytes(raw: [u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"secure2fa data key v1"), &raw);
        let mut enc = Zeroizing::new([0u8; 32]);
        let mut index_key = Zeroizing::new([0u8; 32]);
        let mut mac_key = Zeroizing::new([0u8; 32]);
        hk.expand(b"field sealing", enc.as_mut()).expect("32 bytes is a valid HKDF length");
        hk.expand(b"blind index", index_key.as_mut()).expect("32 bytes is a valid HKDF length");
        hk.expand(b"code mac", mac_key.as_mut()).expect("32 bytes is a valid HKDF length");
        Self { raw: Zeroizing::new(raw), cipher: Aes256Gcm::new(enc.as_ref().into()), index_key, mac_key }
    }

    pub fn generate() -> Self {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        Self::from_bytes(raw)
    }

    /// The raw key, for wrapping by a key vault.
    pub fn expose_raw(&self) -> &[u8; 32] {
        &self.raw
    }

    pub fn seal(&self, aad: FieldAad<'_>, plaintext: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad.bytes() })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Sealed(out)
    }

    pub fn seal_str(&self, aad: FieldAad<'_>, plaintext: &str) -> Sealed {
        self.seal(aad, plaintext.as_bytes())
    }

    pub fn open(&self, aad: FieldAad<'_>, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let b = &sealed.0;
        if b.len() < 1 + NONCE_LEN + 16 || b[0] != SEALED_VERSION {
            return Err(OpenError);
        }
        self.cipher
            .decrypt(Nonce::from_slice(&b[1..1 + NONCE_LEN]), Payload { msg: &b[1 + NONCE_LEN..], aad: &aad.bytes() })
            .map(Zeroizing::new)
            .map_err(|_| OpenError)
    }

    pub fn open_string(&self, aad: FieldAad<'_>, sealed: &Sealed) -> Result<Zeroizing<String>, OpenError> {
        let bytes = self.open(aad, sealed)?;
        String::from_utf8(bytes.to_vec()).map(Zeroizing::new).map_err(|_| OpenError)
    }

    /// Deterministic keyed index of a value (128 bits, hex), for equality lookups.
    pub fn blind_index(&self, purpose: &str, value: &str) -> Mac {
        Mac(hmac_hex(&self.index_key, &[purpose.as_bytes(), value.as_bytes()], 16))
    }

    /// Full-length keyed MAC, for codes and devices.
    pub fn mac(&self, purpose: &str, parts: &[&str]) -> Mac {
        let mut all: Vec<&[u8]> = vec![purpose.as_bytes()];
        all.extend(parts.iter().map(|p| p.as_bytes()));
        Mac(hmac_hex(&self.mac_key, &all, 32))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// A deployment-wide blind-index key (the "pepper"), for lookups that cannot
/// be scoped to one data key, such as a client's email at login.
#[derive(Clone)]
pub struct IndexKey(Zeroizing<[u8; 32]>);

impl IndexKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(Zeroizing::new(b))
    }
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn index(&self, purpose: &str, value: &str) -> Mac {
        Mac(hmac_hex(&self.0, &[purpose.as_bytes(), value.as_bytes()], 16))
    }
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IndexKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn aad<'a>(id: &'a str, field: &'static str) -> FieldAad<'a> {
        FieldAad { entity: "project", id, field }
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(plain in proptest::collection::vec(any::<u8>(), 0..256)) {
            let k = DataKey::generate();
            let s = k.seal(aad("prj_1", "secret_key"), &plain);
            prop_assert_eq!(k.open(aad("prj_1", "secret_key"), &s).unwrap().to_vec(), plain);
        }

        #[test]
        fn sealed_value_is_bound_to_its_row_and_field(plain in proptest::collection::vec(any::<u8>(), 1..64)) {
            let k = DataKey::generate();
            let s = k.seal(aad("prj_1", "secret_key"), &plain);
            prop_assert!(k.open(aad("prj_2", "secret_key"), &s).is_err());
            prop_assert!(k.open(aad("prj_1", "webhook_url"), &s).is_err());
            prop_assert!(DataKey::generate().open(aad("prj_1", "secret_key"), &s).is_err());
        }
    }

    #[test]
    fn blind_index_is_deterministic_per_key_and_purpose() {
        let k = DataKey::from_bytes([3; 32]);
        assert_eq!(k.blind_index("user", "alice"), k.blind_index("user", "alice"));
        assert_ne!(k.blind_index("user", "alice"), k.blind_index("dest", "alice"));
        assert_ne!(k.blind_index("user", "alice"), DataKey::from_bytes([4; 32]).blind_index("user", "alice"));
        assert!(!k.blind_index("user", "alice").as_str().contains("alice"));
    }

    #[test]
    fn mac_parts_are_unambiguous() {
        let k = DataKey::from_bytes([5; 32]);
        assert_ne!(k.mac("otp", &["ab", "c"]), k.mac("otp", &["a", "bc"]));
        assert!(k.mac("otp", &["u", "123456"]).ct_eq(&k.mac("otp", &["u", "123456"])));
    }
}
