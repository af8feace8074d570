//! Amazon SES (v2 API) as an email provider. The sender address comes from
//! the channel's credentials (`{"from": "..."}`) or, failing that, from the
//! deployment default; either must be one the deployment allows
//! ([`SesSenders`]) and a verified SES identity.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use secure2fa_core::model::{ProviderKind, TemplateFormat};
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage};
use secure2fa_core::providers::SesSenders;
use secure2fa_core::types::Recipient;

#[derive(Clone)]
pub struct SesSender {
    client: Client,
    senders: SesSenders,
    configuration_set: Option<String>,
}

impl SesSender {
    pub fn new(client: Client, senders: SesSenders, configuration_set: Option<String>) -> Self {
        Self { client, senders, configuration_set }
    }
}

fn content(text: &str) -> Result<Content, SendError> {
    Content::builder().data(text).charset("UTF-8").build().map_err(|e| SendError::Permanent(e.to_string()))
}

#[async_trait]
impl MessageSender for SesSender {
    async fn send(
        &self,
        provider: ProviderKind,
        creds: &ProviderCredentials,
        m: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        if provider != ProviderKind::Ses {
            return Err(SendError::Permanent(format!("SES cannot send for provider {}", provider.as_str())));
        }
        let Recipient::Email(to) = &m.to else {
            return Err(SendError::Permanent("SES sends email only".into()));
        };
        // Checked again at each send: a channel saved before the allowed
        // senders changed may no longer use its address.
        let from = self.senders.sender(&creds.0).map_err(|e| SendError::Permanent(format!("SES sender {e}")))?;
        let body = match m.format {
            TemplateFormat::Html => Body::builder().html(content(&m.body)?).build(),
            TemplateFormat::Text => Body::builder().text(content(&m.body)?).build(),
        };
        let message = Message::builder().subject(content(&m.subject)?).body(body).build();
        let result = self
            .client
            .send_email()
            .from_email_address(from)
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(out) => Ok(SentMessage { provider_message_id: out.message_id }),
            Err(SdkError::ServiceError(e)) => Err(classify(e.err())),
            Err(SdkError::TimeoutError(_)) | Err(SdkError::DispatchFailure(_)) | Err(SdkError::ResponseError(_)) => {
                Err(SendError::Transient("SES unreachable".into()))
            }
            Err(_) => Err(SendError::Transient("SES request failed".into())),
        }
    }
}

/// Seconds before a send SES refused for its sending rate is tried again:
/// the rate is per second, so the next seconds have room.
const SES_RATE_BACKOFF_SECONDS: u32 = 2;
/// ... and for a limit that takes longer to free (SES gives no `Retry-After`).
const SES_LIMIT_BACKOFF_SECONDS: u32 = 30;

/// What a refusal by SES means for the delivery. Only the error code is
/// kept: SES messages can quote the address.
fn classify(err: &SendEmailError) -> SendError {
    let code = err.meta().code().unwrap_or("Unknown");
    match err {
        // The account's sending rate: SES throttling, retried on its own
        // (longer) backoff, not as a failure.
        SendEmailError::TooManyRequestsException(_) => {
            SendError::Throttled { reason: format!("SES {code}"), retry_after_seconds: SES_RATE_BACKOFF_SECONDS }
        }
        SendEmailError::LimitExceededException(_) => {
            SendError::Throttled { reason: format!("SES {code}"), retry_after_seconds: SES_LIMIT_BACKOFF_SECONDS }
        }
        _ => SendError::Permanent(format!("SES {code}")),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sesv2::types::error::{LimitExceededException, MessageRejected, TooManyRequestsException};

    use super::*;

    #[test]
    fn ses_throttling_is_retried_after_a_pause_and_a_rejection_is_final() {
        let rate = SendEmailError::TooManyRequestsException(TooManyRequestsException::builder().build());
        assert!(matches!(classify(&rate), SendError::Throttled { retry_after_seconds: 2, .. }));
        let limit = SendEmailError::LimitExceededException(LimitExceededException::builder().build());
        assert!(matches!(classify(&limit), SendError::Throttled { retry_after_seconds: 30, .. }));
        let rejected = SendEmailError::MessageRejected(MessageRejected::builder().message("to a@b.c").build());
        match classify(&rejected) {
            SendError::Permanent(reason) => assert!(!reason.contains("a@b.c"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    /// A channel saved with a sender the deployment does not (or no longer)
    /// allow is refused before SES is called: the client below has no
    /// credentials, so a call would fail as a transient error, not as this
    /// refusal.
    #[tokio::test]
    async fn a_sender_the_deployment_does_not_allow_is_refused_at_send_time() {
        let config = aws_sdk_sesv2::Config::builder()
            .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
            .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
            .build();
        let senders = SesSenders::new(Some("codes@operator.example"), "").unwrap();
        let ses = SesSender::new(Client::from_conf(config), senders, None);
        let message = OutgoingMessage {
            to: Recipient::Email(secure2fa_core::types::Email::parse("user@example.com").unwrap()),
            subject: "Code".into(),
            body: "123456".into(),
            format: TemplateFormat::Text,
            tracking: None,
        };
        let spoofed = ProviderCredentials(serde_json::json!({ "from": "ceo@operator.example" }));
        match ses.send(ProviderKind::Ses, &spoofed, &message).await {
            Err(SendError::Permanent(reason)) => assert!(reason.starts_with("SES sender from:"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
