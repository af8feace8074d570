use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use secure2fa_core::model::ProviderKind;
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage};

use crate::endpoints::ProviderEndpoints;
use crate::http_client::{HttpTimeouts, provider_http_client};
use crate::smtp::{SmtpOptions, SmtpSender, SmtpSetupError};
use crate::{ClicksendSender, MailjetSender, PlivoSender, PostmarkSender, SendgridSender, TwilioSender};

/// How the deployment configures the providers built into this crate.
#[derive(Debug, Clone, Default)]
pub struct ProvidersConfig {
    /// Base URL of each HTTP provider (the real ones by default).
    pub endpoints: ProviderEndpoints,
    /// Timeouts of the one HTTP client the HTTP providers share.
    pub http_timeouts: HttpTimeouts,
    /// The SMTP provider's deployment settings.
    pub smtp: SmtpOptions,
}

/// The providers could not be set up from the deployment's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ProviderSetupError {
    #[error("provider HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("smtp: {0}")]
    Smtp(#[from] SmtpSetupError),
}

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

    /// A registry with every provider of this crate (SMTP, Postmark, SendGrid, Mailjet, Twilio,
    /// Plivo, ClickSend), the HTTP ones sharing one client. The entry point adds its own
    /// (SES on AWS, the outbox locally) with [`Self::with`].
    pub fn with_providers(config: &ProvidersConfig) -> Result<Self, ProviderSetupError> {
        let http = provider_http_client(config.http_timeouts)?;
        let e = &config.endpoints;
        Ok(Self::new()
            .with(ProviderKind::Smtp, Arc::new(SmtpSender::new(config.smtp.clone())?))
            .with(ProviderKind::Postmark, Arc::new(PostmarkSender::new(http.clone(), e.postmark.clone())))
            .with(ProviderKind::Sendgrid, Arc::new(SendgridSender::new(http.clone(), e.sendgrid.clone())))
            .with(ProviderKind::Mailjet, Arc::new(MailjetSender::new(http.clone(), e.mailjet.clone())))
            .with(ProviderKind::Twilio, Arc::new(TwilioSender::new(http.clone(), e.twilio.clone())))
            .with(ProviderKind::Plivo, Arc::new(PlivoSender::new(http.clone(), e.plivo.clone())))
            .with(ProviderKind::Clicksend, Arc::new(ClicksendSender::new(http, e.clicksend.clone()))))
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
