//! The public OTP API's payload encryption (DESIGN §4):
//! `base64(nonce[12] || ciphertext || tag[16])`, AES-256-GCM under the
//! project's secret key, AAD = the ASCII bytes of the public key.
//!
//! A wrong key, a wrong public key and a tampered byte all fail the same way
//! ([`PayloadError::Unauthentic`]) so callers cannot tell them apart.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::types::{PublicKey, SecretKey};

pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// How far `iat` may be from the server's clock, in seconds.
pub const MAX_IAT_SKEW_SECONDS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("encrypted_data is not valid base64 of nonce || ciphertext || tag")]
    Malformed,
    #[error("encrypted_data could not be authenticated")]
    Unauthentic,
}

/// Encrypts with a fresh random nonce.
pub fn seal(key: &SecretKey, public_key: &PublicKey, plaintext: &[u8]) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    seal_with_nonce(key, public_key, nonce, plaintext)
}

/// Encrypts with a caller-chosen nonce. Only for published test vectors:
/// reusing a nonce under one key breaks GCM.
pub fn seal_with_nonce(key: &SecretKey, public_key: &PublicKey, nonce: [u8; NONCE_LEN], plaintext: &[u8]) -> String {
    let cipher = Aes256Gcm::new(key.expose().into());
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: public_key.as_str().as_bytes() })
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    STANDARD.encode(out)
}

pub fn open(key: &SecretKey, public_key: &PublicKey, encrypted_b64: &str) -> Result<Vec<u8>, PayloadError> {
    let raw = STANDARD.decode(encrypted_b64.trim()).map_err(|_| PayloadError::Malformed)?;
    if raw.len() < NONCE_LEN + TAG_LEN {
        return Err(PayloadError::Malformed);
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    Aes256Gcm::new(key.expose().into())
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: public_key.as_str().as_bytes() })
        .map_err(|_| PayloadError::Unauthentic)
}

/// Whether a request's `iat` is within the allowed skew of `now`.
pub fn iat_is_fresh(iat: i64, now: i64) -> bool {
    // abs_diff: `iat - now` can be i64::MIN, whose abs() overflows.
    iat.abs_diff(now) <= MAX_IAT_SKEW_SECONDS.unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn iat_freshness_holds_at_the_extremes_without_overflow() {
        let now = 1_800_000_000;
        assert!(iat_is_fresh(now - MAX_IAT_SKEW_SECONDS, now) && iat_is_fresh(now + MAX_IAT_SKEW_SECONDS, now));
        assert!(!iat_is_fresh(now - MAX_IAT_SKEW_SECONDS - 1, now));
        // iat - now == i64::MIN: the old `checked_sub(..).abs()` panicked here.
        assert!(!iat_is_fresh(i64::MIN + now, now));
        assert!(!iat_is_fresh(i64::MIN, now) && !iat_is_fresh(i64::MAX, now) && !iat_is_fresh(i64::MAX, -1));
    }

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_bytes([seed; 32])
    }
    fn pk(s: &str) -> PublicKey {
        PublicKey::parse(s).unwrap()
    }

    proptest! {
        #[test]
        fn round_trip(plain in proptest::collection::vec(any::<u8>(), 0..512), seed in any::<u8>()) {
            let k = key(seed);
            let p = pk("pk_roundtrip");
            let sealed = seal(&k, &p, &plain);
            prop_assert_eq!(open(&k, &p, &sealed).unwrap(), plain);
        }

        #[test]
        fn any_flipped_byte_is_rejected(plain in proptest::collection::vec(any::<u8>(), 0..128), idx in any::<prop::sample::Index>(), bit in 0u8..8) {
            let k = key(7);
            let p = pk("pk_tamper");
            let mut raw = STANDARD.decode(seal(&k, &p, &plain)).unwrap();
            let i = idx.index(raw.len());
            raw[i] ^= 1 << bit;
            prop_assert_eq!(open(&k, &p, &STANDARD.encode(raw)), Err(PayloadError::Unauthentic));
        }

        #[test]
        fn wrong_key_is_rejected(plain in proptest::collection::vec(any::<u8>(), 0..128), a in any::<u8>(), b in any::<u8>()) {
            prop_assume!(a != b);
            let p = pk("pk_wrongkey");
            let sealed = seal(&key(a), &p, &plain);
            prop_assert_eq!(open(&key(b), &p, &sealed), Err(PayloadError::Unauthentic));
        }

        #[test]
        fn wrong_public_key_is_rejected(plain in proptest::collection::vec(any::<u8>(), 0..128), suffix in "[a-z0-9]{1,20}") {
            let k = key(9);
            let sealed = seal(&k, &pk("pk_original"), &plain);
            let other = pk(&format!("pk_other{suffix}"));
            prop_assert_eq!(open(&k, &other, &sealed), Err(PayloadError::Unauthentic));
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
            let _ = open(&key(1), &pk("pk_fuzz"), &s);
        }
    }

    #[test]
    fn truncated_or_non_base64_input_is_malformed() {
        let (k, p) = (key(1), pk("pk_x"));
        assert_eq!(open(&k, &p, "%%%"), Err(PayloadError::Malformed));
        assert_eq!(open(&k, &p, &STANDARD.encode([0u8; 27])), Err(PayloadError::Malformed));
    }

    #[test]
    fn iat_window_is_300_seconds_each_way() {
        assert!(iat_is_fresh(1000, 1300));
        assert!(iat_is_fresh(1300, 1000));
        assert!(!iat_is_fresh(1000, 1301));
        assert!(!iat_is_fresh(1301, 1000));
        assert!(!iat_is_fresh(i64::MIN, 1000));
    }
}
