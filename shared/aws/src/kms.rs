//! KMS envelope encryption: `GenerateDataKey` (AES-256) with an encryption
//! context naming the entity, `Decrypt` with the same context. KMS refuses a
//! wrapped key presented under any other context. The plaintext keys are
//! cached by `DataKeyCache` in front of this vault.

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use secure2fa_core::crypto::{DataKey, KeyContext, KeyError, KeyVault, WrappedKey};
use zeroize::Zeroizing;

#[derive(Clone)]
pub struct KmsKeyVault {
    client: Client,
    key_id: String,
}

impl KmsKeyVault {
    /// `key_id`: a key ARN, id or alias (`alias/secure2fa`).
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }
}

fn context(ctx: &KeyContext) -> [(String, String); 2] {
    [("entity".to_owned(), ctx.entity.to_owned()), ("id".to_owned(), ctx.id.clone())]
}

#[async_trait]
impl KeyVault for KmsKeyVault {
    async fn generate_data_key(&self, ctx: &KeyContext) -> Result<(DataKey, WrappedKey), KeyError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context(ctx).into_iter().collect()))
            .send()
            .await
            .map_err(|e| KeyError::Unavailable(crate::describe(&e)))?;
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        let raw: [u8; 32] = plaintext
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Unavailable("KMS returned a data key that is not 32 bytes".into()))?;
        let wrapped = out.ciphertext_blob.ok_or_else(|| KeyError::Unavailable("KMS returned no ciphertext".into()))?;
        Ok((DataKey::from_bytes(raw), WrappedKey::from_bytes(wrapped.into_inner())))
    }

    async fn unwrap_data_key(&self, ctx: &KeyContext, wrapped: &WrappedKey) -> Result<DataKey, KeyError> {
        let unwrap_err = || KeyError::Unwrap { entity: ctx.entity, id: ctx.id.clone() };
        if wrapped.as_bytes().is_empty() {
            return Err(unwrap_err());
        }
        let result = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.as_bytes()))
            .set_encryption_context(Some(context(ctx).into_iter().collect()))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    DecryptError::InvalidCiphertextException(_)
                        | DecryptError::IncorrectKeyException(_)
                        | DecryptError::InvalidKeyUsageException(_)
                ) =>
            {
                return Err(unwrap_err());
            }
            Err(e) => return Err(KeyError::Unavailable(crate::describe(&e))),
        };
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        let raw: [u8; 32] = plaintext.as_slice().try_into().map_err(|_| unwrap_err())?;
        Ok(DataKey::from_bytes(raw))
    }
}
