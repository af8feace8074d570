//! The published test vectors (`examples/test-vectors.json`): the payload
//! vectors (made with Python's `cryptography`) reproduce exactly and decrypt
//! back; the webhook vectors (made with this crate) still sign the same.

use secure2fa_core::crypto::payload;
use secure2fa_core::otp::sign_webhook;
use secure2fa_core::types::{PublicKey, SecretKey};
use serde_json::Value;

fn published(list: &str) -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/test-vectors.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc[list].as_array().unwrap().clone()
}

fn vectors() -> Vec<Value> {
    published("vectors")
}

#[test]
fn published_vectors_encrypt_byte_for_byte_and_decrypt() {
    let vs = vectors();
    assert!(vs.len() >= 3);
    for v in vs {
        let key = SecretKey::from_base64(v["secret_key"].as_str().unwrap()).unwrap();
        let pk = PublicKey::parse(v["public_key"].as_str().unwrap()).unwrap();
        let nonce: [u8; 12] = hex::decode(v["nonce_hex"].as_str().unwrap()).unwrap().try_into().unwrap();
        let plaintext = v["plaintext"].as_str().unwrap();
        let expected = v["encrypted_data"].as_str().unwrap();
        assert_eq!(payload::seal_with_nonce(&key, &pk, nonce, plaintext.as_bytes()), expected, "{}", v["name"]);
        assert_eq!(payload::open(&key, &pk, expected).unwrap(), plaintext.as_bytes());
    }
}

#[test]
fn published_webhook_vectors_match_sign_webhook() {
    let vs = published("webhook_vectors");
    assert!(vs.len() >= 3);
    assert!(vs.iter().any(|v| !v["body"].as_str().unwrap().is_ascii()), "one vector has a non-ASCII body");
    for v in vs {
        let secret = v["secret"].as_str().unwrap();
        let timestamp = v["timestamp"].as_i64().unwrap();
        let body = v["body"].as_str().unwrap();
        assert_eq!(sign_webhook(secret, timestamp, body.as_bytes()), v["header"].as_str().unwrap(), "{}", v["name"]);
    }
}
