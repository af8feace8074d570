//! Mailjet, email: Send API v3.1.
//!
//! Sources:
//! - <https://dev.mailjet.com/docs/email-api/send_api_v31/send_basic_email> (request, mandatory properties)
//! - <https://dev.mailjet.com/reference/email/send-emails/> (Send API v3.1 reference, response)
//! - <https://dev.mailjet.com/docs/email-api/email_api_overview/status_codes> (HTTP codes)
//! - <https://documentation.mailjet.com/hc/en-us/articles/360043578154-Event-Tracking-API> (events
//!   echo the message's `EventPayload` as `Payload` and its `CustomID`)
//!
//! | | |
//! |---|---|
//! | method, path | `POST {base}/v3.1/send` (base `https://api.mailjet.com`) |
//! | auth | HTTP basic, API key : secret key |
//! | content type | `application/json` |
//! | required fields | `Messages[]` with `From.Email` (validated, active sender), `To[].Email`, and `TextPart` and/or `HTMLPart` (or a `TemplateID`); `Subject` |
//! | optional used | `EventPayload` = the reference when the message is tracked: every event echoes it as `Payload` (chosen over `CustomID`, which Mailjet also uses to look messages up and which a client may want for itself) |
//! | success | `200 {"Messages":[{"Status":"success","To":[{"Email":…,"MessageUUID":…,"MessageID":n,"MessageHref":…}]}]}` → id = `MessageUUID` (the event webhook's `Message_GUID`; `MessageID` exceeds 2^53) |
//! | errors | per message: `{"Messages":[{"Status":"error","Errors":[{"ErrorIdentifier":…,"ErrorCode":"mj-00nn","StatusCode":400,"ErrorMessage":…,"ErrorRelatedTo":["To[0].Email"]}]}]}` with HTTP 400; whole request: `{"ErrorIdentifier":…,"StatusCode":401,"ErrorMessage":…}`; 401 bad key pair, 403 forbidden, 429 too many calls per minute, 500 internal error (with `ErrorIdentifier`) |
//!
//! Classification: 4xx permanent with each error's code, related field and redacted message;
//! 429 throttles for `Retry-After`; 5xx and transport failures are transient.

use async_trait::async_trait;
use secure2fa_core::model::{ProviderKind, TemplateFormat};
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::credentials::{Credentials, email_recipient};
use crate::endpoints::join;
use crate::failure::{code_token, redact, status_error};
use crate::http_client::execute;

const KIND: ProviderKind = ProviderKind::Mailjet;

/// Sends email through Mailjet's Send API v3.1.
#[derive(Clone)]
pub struct MailjetSender {
    http: reqwest::Client,
    base: Url,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    messages: Vec<MessageResult>,
    error_code: Option<String>,
    error_message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MessageResult {
    status: Option<String>,
    #[serde(default)]
    to: Vec<Recipient>,
    #[serde(default)]
    errors: Vec<MessageError>,
}

#[derive(Deserialize)]
struct Recipient {
    #[serde(rename = "MessageUUID")]
    message_uuid: Option<String>,
    #[serde(rename = "MessageID")]
    message_id: Option<serde_json::Number>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MessageError {
    error_code: Option<String>,
    error_message: Option<String>,
    #[serde(default)]
    error_related_to: Vec<String>,
}

impl MailjetSender {
    pub fn new(http: reqwest::Client, base: Url) -> Self {
        Self { http, base }
    }
}

#[async_trait]
impl MessageSender for MailjetSender {
    async fn send(
        &self,
        provider: ProviderKind,
        credentials: &ProviderCredentials,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        let creds = Credentials::check(KIND, provider, credentials)?;
        let to = email_recipient(KIND, message)?;
        let mut from = json!({ "Email": creds.require("from")? });
        if let Some(name) = creds.get("from_name") {
            from["Name"] = json!(name);
        }
        let part = match message.format {
            TemplateFormat::Text => "TextPart",
            TemplateFormat::Html => "HTMLPart",
        };
        let mut mail = json!({
            "From": from,
            "To": [{ "Email": to.as_str() }],
            "Subject": message.subject,
            part: message.body,
        });
        if let Some(tracking) = &message.tracking {
            mail["EventPayload"] = json!(tracking.reference);
        }
        let payload = json!({ "Messages": [mail] });
        let request = self
            .http
            .post(join(&self.base, "/v3.1/send"))
            .basic_auth(creds.require("api_key")?, Some(creds.require("api_secret")?))
            .json(&payload);
        let response = execute("mailjet", request).await?;
        let answer: Option<Answer> = response.json();
        let first = answer.as_ref().and_then(|a| a.messages.first());
        if response.status.is_success() && first.is_none_or(|m| m.status.as_deref() != Some("error")) {
            let id = first.and_then(|m| m.to.first()).and_then(|r| {
                r.message_uuid.clone().or_else(|| r.message_id.as_ref().map(serde_json::Number::to_string))
            });
            return Ok(SentMessage { provider_message_id: id });
        }
        let mut known = creds.values();
        known.push(to.as_str());
        let mut details: Vec<String> = first
            .map(|m| m.errors.as_slice())
            .unwrap_or_default()
            .iter()
            .take(3)
            .map(|e| {
                let related = e.error_related_to.iter().map(|r| code_token(r)).collect::<Vec<_>>().join(",");
                format!(
                    "{} ({related}): {}",
                    code_token(e.error_code.as_deref().unwrap_or("")),
                    redact(e.error_message.as_deref().unwrap_or(""), &known)
                )
            })
            .collect();
        if let Some(Answer { error_message: Some(text), error_code, .. }) = &answer {
            let code = error_code.as_deref().map(|c| format!("{} ", code_token(c))).unwrap_or_default();
            details.push(format!("{code}{}", redact(text, &known)));
        }
        let status = response.status.as_u16();
        let reason = if details.is_empty() {
            format!("mailjet HTTP {status}")
        } else {
            format!("mailjet HTTP {status}: {}", details.join("; "))
        };
        if response.status.is_success() {
            // A 2xx whose message says "error": the message did not leave.
            return Err(SendError::Permanent(reason));
        }
        Err(status_error(response.status, reason, &response.headers, None))
    }
}
