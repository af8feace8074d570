//! Postmark, email: "Send a single email" of the Email API.
//!
//! Sources:
//! - <https://postmarkapp.com/developer/user-guide/send-email-with-api> (request, example)
//! - <https://postmarkapp.com/developer/api/overview> (authentication, HTTP codes, error codes)
//! - <https://postmarkapp.com/support/article/troubleshooting-422-unprocessable-entity-errors>
//! - <https://postmarkapp.com/support/article/1125-custom-metadata-faq> (`Metadata`, echoed in webhooks)
//!
//! | | |
//! |---|---|
//! | method, path | `POST {base}/email` (base `https://api.postmarkapp.com`) |
//! | auth | header `X-Postmark-Server-Token: <server token>` |
//! | content type | `application/json`, with `Accept: application/json` |
//! | required fields | `From` (verified sender signature or domain; `Name <addr>` allowed), `To`, `Subject`, `TextBody` or `HtmlBody` |
//! | optional used | `MessageStream` (`outbound` is the default transactional stream); `Metadata: {"s2fa_ref": …}` when the message is tracked (echoed in the Delivery, Bounce and SpamComplaint webhooks, see [`crate::receipts`]) |
//! | success | `200 {"To":…,"SubmittedAt":…,"MessageID":"<uuid>","ErrorCode":0,"Message":"OK"}` → id = `MessageID` |
//! | errors | `{"ErrorCode":n,"Message":"…"}`; 401 missing/bad token (ErrorCode 10); 422 invalid request: 300 invalid email request, 400 sender signature not found, 401 sender signature not confirmed, 405 not allowed to send, 406 inactive recipient, 412 account pending, 413 account may not send; 429 rate limit exceeded; 500 internal error; 503 maintenance |
//!
//! Classification: 401 and 422 (and any other 4xx) are permanent, with the ErrorCode and the
//! redacted message kept (Postmark's messages quote addresses); 429 throttles honouring
//! `Retry-After`; 5xx and transport failures are transient.

use async_trait::async_trait;
use secure2fa_core::model::{ProviderKind, TemplateFormat};
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage, Tracking};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::credentials::{Credentials, email_recipient};
use crate::endpoints::join;
use crate::failure::{redact, status_error};
use crate::http_client::execute;
use crate::mailbox::display_address;

const KIND: ProviderKind = ProviderKind::Postmark;

/// Sends email through Postmark's `/email` endpoint.
#[derive(Clone)]
pub struct PostmarkSender {
    http: reqwest::Client,
    base: Url,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(rename = "MessageID")]
    message_id: Option<String>,
    error_code: Option<i64>,
    message: Option<String>,
}

impl PostmarkSender {
    pub fn new(http: reqwest::Client, base: Url) -> Self {
        Self { http, base }
    }
}

#[async_trait]
impl MessageSender for PostmarkSender {
    async fn send(
        &self,
        provider: ProviderKind,
        credentials: &ProviderCredentials,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        let creds = Credentials::check(KIND, provider, credentials)?;
        let to = email_recipient(KIND, message)?;
        let token = creds.require("server_token")?;
        let from = display_address(creds.require("from")?, creds.get("from_name"));
        let body_field = match message.format {
            TemplateFormat::Text => "TextBody",
            TemplateFormat::Html => "HtmlBody",
        };
        let mut payload = json!({
            "From": from,
            "To": to.as_str(),
            "Subject": message.subject,
            body_field: message.body,
            "MessageStream": creds.get("message_stream").unwrap_or("outbound"),
        });
        if let Some(tracking) = &message.tracking {
            payload["Metadata"] = json!({ Tracking::FIELD: tracking.reference });
        }
        let request = self
            .http
            .post(join(&self.base, "/email"))
            .header("Accept", "application/json")
            .header("X-Postmark-Server-Token", token)
            .json(&payload);
        let response = execute("postmark", request).await?;
        let answer: Option<Answer> = response.json();
        if response.status.is_success() {
            return match answer {
                Some(Answer { error_code: Some(code), .. }) if code != 0 => {
                    Err(SendError::Permanent(format!("postmark HTTP {} ErrorCode {code}", response.status.as_u16())))
                }
                // Accepted: without an id the message still left, so it is not sent again.
                answer => Ok(SentMessage { provider_message_id: answer.and_then(|a| a.message_id) }),
            };
        }
        let mut known = creds.values();
        known.push(to.as_str());
        let detail = match answer {
            Some(Answer { error_code: Some(code), message, .. }) => {
                format!(" ErrorCode {code}: {}", redact(message.as_deref().unwrap_or(""), &known))
            }
            _ => String::new(),
        };
        let reason = format!("postmark HTTP {}{detail}", response.status.as_u16());
        Err(status_error(response.status, reason, &response.headers, None))
    }
}
