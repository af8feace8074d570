//! Twilio SendGrid, email: the v3 Mail Send endpoint.
//!
//! Sources:
//! - <https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send> (request body)
//! - <https://www.twilio.com/docs/sendgrid/for-developers/sending-email/personalizations.md>
//! - <https://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html> (status codes, field errors)
//! - <https://static1.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/responses>
//! - <https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/rate-limits>
//! - <https://sendgrid.com/docs/glossary/x-message-id/> (the message id)
//! - <https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event> (custom arguments
//!   come back as top-level fields of each event)
//!
//! | | |
//! |---|---|
//! | method, path | `POST {base}/v3/mail/send` (base `https://api.sendgrid.com`) |
//! | auth | `Authorization: Bearer <API key>` |
//! | content type | `application/json` |
//! | required fields | `personalizations[].to[].email` (at least one), `from.email` (a verified Sender Identity), `subject`, `content[]` of `{type, value}` (`text/plain` or `text/html`) |
//! | optional used | `personalizations[].custom_args: {"s2fa_ref": …}` when the message is tracked (per recipient; echoed in each event webhook event, see [`crate::receipts`]) |
//! | success | `202 Accepted`, empty body, header `X-Message-Id` → id (`200` only in sandbox mode) |
//! | errors | `{"errors":[{"message":…,"field":…,"help":…}]}`; 400 bad request (field errors), 401 bad key, 403 from address not a verified Sender Identity / temporarily blocked, 413 payload too large, 429 too many requests (`X-RateLimit-Reset`: Unix time), 500 server unavailable, 503 API not available |
//!
//! Classification: 4xx permanent with each error's `field` and redacted `message`; 429 throttles
//! for `Retry-After`, else until `X-RateLimit-Reset`; 5xx and transport failures are transient.

use async_trait::async_trait;
use secure2fa_core::model::{ProviderKind, TemplateFormat};
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage, Tracking};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::credentials::{Credentials, email_recipient};
use crate::endpoints::join;
use crate::failure::{code_token, redact, seconds_until_epoch, status_error};
use crate::http_client::execute;

const KIND: ProviderKind = ProviderKind::Sendgrid;

/// Sends email through SendGrid's v3 Mail Send endpoint.
#[derive(Clone)]
pub struct SendgridSender {
    http: reqwest::Client,
    base: Url,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    errors: Vec<FieldError>,
}

#[derive(Deserialize)]
struct FieldError {
    message: Option<String>,
    field: Option<String>,
}

impl SendgridSender {
    pub fn new(http: reqwest::Client, base: Url) -> Self {
        Self { http, base }
    }
}

#[async_trait]
impl MessageSender for SendgridSender {
    async fn send(
        &self,
        provider: ProviderKind,
        credentials: &ProviderCredentials,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        let creds = Credentials::check(KIND, provider, credentials)?;
        let to = email_recipient(KIND, message)?;
        let mut from = json!({ "email": creds.require("from")? });
        if let Some(name) = creds.get("from_name") {
            from["name"] = json!(name);
        }
        let content_type = match message.format {
            TemplateFormat::Text => "text/plain",
            TemplateFormat::Html => "text/html",
        };
        let mut personalization = json!({ "to": [{ "email": to.as_str() }] });
        if let Some(tracking) = &message.tracking {
            personalization["custom_args"] = json!({ Tracking::FIELD: tracking.reference });
        }
        let payload = json!({
            "personalizations": [personalization],
            "from": from,
            "subject": message.subject,
            "content": [{ "type": content_type, "value": message.body }],
        });
        let request =
            self.http.post(join(&self.base, "/v3/mail/send")).bearer_auth(creds.require("api_key")?).json(&payload);
        let response = execute("sendgrid", request).await?;
        if response.status.is_success() {
            let id = response.headers.get("x-message-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
            return Ok(SentMessage { provider_message_id: id });
        }
        let mut known = creds.values();
        known.push(to.as_str());
        let details: Vec<String> = response
            .json::<ErrorAnswer>()
            .map(|a| a.errors)
            .unwrap_or_default()
            .iter()
            .take(3)
            .map(|e| {
                let field = e.field.as_deref().map(|f| format!("{} ", code_token(f))).unwrap_or_default();
                format!("{field}{}", redact(e.message.as_deref().unwrap_or(""), &known))
            })
            .collect();
        let status = response.status.as_u16();
        let reason = if details.is_empty() {
            format!("sendgrid HTTP {status}")
        } else {
            format!("sendgrid HTTP {status}: {}", details.join("; "))
        };
        let reset = seconds_until_epoch(&response.headers, "x-ratelimit-reset");
        Err(status_error(response.status, reason, &response.headers, reset))
    }
}
