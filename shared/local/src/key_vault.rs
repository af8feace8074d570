//! Local key vault: data keys wrapped with AES-256-GCM under a 32-byte master
//! key kept in a 0600 file. The wrapping AAD is the key context, the local
//! counterpart of KMS's encryption context. Field sealing is identical on
//! both sides; only the wrapping differs.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use rand::RngCore;
use secure2fa_core::crypto::{DataKey, KeyContext, KeyError, KeyVault, WrappedKey};
use zeroize::Zeroizing;

use crate::files;

const MAGIC: &[u8; 2] = b"L1";

pub struct LocalKeyVault {
    cipher: Aes256Gcm,
}

fn aad(ctx: &KeyContext) -> Vec<u8> {
    format!("s2fa:dek:v1:{}:{}", ctx.entity, ctx.id).into_bytes()
}

impl LocalKeyVault {
    pub fn from_master_key(master: &[u8; 32]) -> Self {
        Self { cipher: Aes256Gcm::new(master.into()) }
    }

    /// Loads the master key file, creating it (0600) on first use.
    pub fn open_or_create(path: &Path) -> std::io::Result<Self> {
        let bytes = files::read_or_create_private(path, || {
            let mut k = Zeroizing::new(vec![0u8; 32]);
            rand::rngs::OsRng.fill_bytes(&mut k);
            k
        })?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| std::io::Error::other(format!("{} must hold exactly 32 bytes", path.display())))?;
        Ok(Self::from_master_key(&key))
    }

    fn wrap(&self, ctx: &KeyContext, key: &DataKey) -> WrappedKey {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: key.expose_raw(), aad: &aad(ctx) })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        WrappedKey::from_bytes([MAGIC.as_slice(), &nonce, &ct].concat())
    }
}

#[async_trait]
impl KeyVault for LocalKeyVault {
    async fn generate_data_key(&self, ctx: &KeyContext) -> Result<(DataKey, WrappedKey), KeyError> {
        let key = DataKey::generate();
        let wrapped = self.wrap(ctx, &key);
        Ok((key, wrapped))
    }

    async fn unwrap_data_key(&self, ctx: &KeyContext, wrapped: &WrappedKey) -> Result<DataKey, KeyError> {
        let err = || KeyError::Unwrap { entity: ctx.entity, id: ctx.id.clone() };
        let b = wrapped.as_bytes();
        if b.len() != 2 + 12 + 32 + 16 || &b[..2] != MAGIC {
            return Err(err());
        }
        let raw = self
            .cipher
            .decrypt(Nonce::from_slice(&b[2..14]), Payload { msg: &b[14..], aad: &aad(ctx) })
            .map(Zeroizing::new)
            .map_err(|_| err())?;
        let arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| err())?;
        Ok(DataKey::from_bytes(arr))
    }
}
