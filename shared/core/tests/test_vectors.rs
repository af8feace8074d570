//! The published payload test vectors (`examples/test-vectors.json`, made
//! with Python's `cryptography`) reproduce exactly and decrypt back.

use secure2fa_core::crypto::payload;
use secure2fa_core::types::{PublicKey, SecretKey};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/test-vectors.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["vectors"].as_array().unwrap().clone()
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
