//! The key-vault contract.

use std::sync::Arc;

use secure2fa_core::crypto::{FieldAad, KeyContext, KeyVault, WrappedKey};

pub async fn data_key_round_trips_through_the_vault(vault: Arc<dyn KeyVault>) {
    let ctx = KeyContext::project("prj_contract");
    let (key, wrapped) = vault.generate_data_key(&ctx).await.unwrap();
    let aad = FieldAad { entity: "project", id: "prj_contract", field: "x" };
    let sealed = key.seal(aad, b"hello");
    let again = vault.unwrap_data_key(&ctx, &wrapped).await.unwrap();
    assert_eq!(again.open(aad, &sealed).unwrap().as_slice(), b"hello");
    assert!(!wrapped.as_bytes().windows(32).any(|w| w == key.expose_raw()), "wrapped form must not contain the key");
}

pub async fn data_key_only_unwraps_for_its_own_context(vault: Arc<dyn KeyVault>) {
    let (_, wrapped) = vault.generate_data_key(&KeyContext::project("prj_one")).await.unwrap();
    assert!(vault.unwrap_data_key(&KeyContext::project("prj_two"), &wrapped).await.is_err());
    assert!(vault.unwrap_data_key(&KeyContext::client("prj_one"), &wrapped).await.is_err());
}

pub async fn tampered_wrapped_key_is_rejected(vault: Arc<dyn KeyVault>) {
    let ctx = KeyContext::client("cli_contract");
    let (_, wrapped) = vault.generate_data_key(&ctx).await.unwrap();
    let mut bytes = wrapped.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert!(vault.unwrap_data_key(&ctx, &WrappedKey::from_bytes(bytes)).await.is_err());
    assert!(vault.unwrap_data_key(&ctx, &WrappedKey::from_bytes(vec![])).await.is_err());
}
