//! Deployment secrets from Secrets Manager, read once at cold start.

use aws_sdk_secretsmanager::Client;
use secure2fa_core::secrets::{DeploymentSecrets, OperatorToken};

#[derive(Debug, thiserror::Error)]
pub enum SecretsLoadError {
    #[error("cannot read secret {id}: {cause}")]
    Read { id: String, cause: String },
    #[error("secret {id} has no string value")]
    Empty { id: String },
    #[error("secret {id}: {cause}")]
    Invalid { id: String, cause: String },
}

async fn secret_string(client: &Client, id: &str) -> Result<String, SecretsLoadError> {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| SecretsLoadError::Read { id: id.to_owned(), cause: crate::describe(&e) })?;
    out.secret_string.ok_or_else(|| SecretsLoadError::Empty { id: id.to_owned() })
}

/// `{"master": "..."}` → blind-index pepper and session key.
pub async fn load_deployment_secrets(client: &Client, id: &str) -> Result<DeploymentSecrets, SecretsLoadError> {
    let text = secret_string(client, id).await?;
    DeploymentSecrets::from_json(&text)
        .map_err(|e| SecretsLoadError::Invalid { id: id.to_owned(), cause: e.to_string() })
}

/// `{"operator_token": "..."}` → the management API's bearer token.
pub async fn load_operator_token(client: &Client, id: &str) -> Result<OperatorToken, SecretsLoadError> {
    let text = secret_string(client, id).await?;
    OperatorToken::from_json(&text).map_err(|e| SecretsLoadError::Invalid { id: id.to_owned(), cause: e.to_string() })
}
