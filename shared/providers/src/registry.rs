use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use secure2fa_core::model::ProviderKind;
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage};

/// Routes each message to the sender registered for its provider. A channel
/// whose provider this deployment has no sender for fails permanently, with
/// a reason that names the provider, and is logged on the project.
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    senders: HashMap<ProviderKind, Arc<dyn MessageSender>>,
}

impl ProviderRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, provider: ProviderKind, sender: Arc<dyn MessageSender>) -> Self {
        self.senders.insert(provider, sender);
        self
    }

    pub fn supports(&self, provider: ProviderKind) -> bool {
        self.senders.contains_key(&provider)
    }
}

#[async_trait]
impl MessageSender for ProviderRegistry {
    async fn send(
        &self,
        provider: ProviderKind,
        credentials: &ProviderCredentials,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        match self.senders.get(&provider) {
            Some(sender) => sender.send(provider, credentials, message).await,
            None => {
                Err(SendError::Permanent(format!("provider {} is not available in this deployment", provider.as_str())))
            }
        }
    }
}
