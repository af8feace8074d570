//! Plivo, SMS: "Send a message" of the Message API.
//!
//! Sources:
//! - <https://www.plivo.com/docs/sms/detailed-reference/api/message/send-a-message/> (arguments)
//! - <http://plivo.com/docs/api/message/> (URI, 202 response)
//! - <https://docs.plivo.com/docs/messaging/api/response> (success body, HTTP codes, error body)
//! - <https://www.plivo.com/docs/messaging/api/messages/> (the message object, `message_uuid`)
//! - <https://www.plivo.com/docs/messaging/api/message/message-status-callbacks> (`url`, `method`)
//!
//! | | |
//! |---|---|
//! | method, path | `POST {base}/v1/Account/{auth_id}/Message/` (base `https://api.plivo.com`) |
//! | auth | HTTP basic, auth ID : auth token |
//! | content type | `application/json` |
//! | required fields | `dst` (country code first; `+` and punctuation are stripped by Plivo, so it is sent without), `text`, and `src` (number, short code or alphanumeric sender ID) or `powerpack_uuid` |
//! | optional used | `url` (the deployment's receipts URL for the message, when it has one) with `method: "POST"`: Plivo posts each status change there, signed, see [`crate::receipts`] |
//! | success | `202 {"api_id":…,"message":"message(s) queued","message_uuid":["…"]}` (and `invalid_number` listing refused destinations) → id = `message_uuid[0]` |
//! | errors | `{"api_id":…,"error":"…"}`; 400 missing or invalid parameter (e.g. invalid `dst`/`src`), 401 authentication failed, 404 not found, 405 method not allowed, 429 rate limit exceeded, 500 server error |
//!
//! Classification: 4xx permanent with Plivo's redacted `error` (it may quote the numbers); a 202
//! that queued nothing because the destination is in `invalid_number` is permanent too; 429
//! throttles for `Retry-After`; 5xx and transport failures are transient.

use async_trait::async_trait;
use secure2fa_core::model::ProviderKind;
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::credentials::{Credentials, phone_recipient};
use crate::endpoints::join;
use crate::failure::{redact, status_error};
use crate::http_client::execute;
use crate::sms::log_sms_length;

const KIND: ProviderKind = ProviderKind::Plivo;

/// Sends SMS through Plivo's Message API.
#[derive(Clone)]
pub struct PlivoSender {
    http: reqwest::Client,
    base: Url,
}

#[derive(Deserialize)]
struct Queued {
    #[serde(default)]
    message_uuid: Vec<String>,
    #[serde(default)]
    invalid_number: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: Option<serde_json::Value>,
}

impl PlivoSender {
    pub fn new(http: reqwest::Client, base: Url) -> Self {
        Self { http, base }
    }
}

#[async_trait]
impl MessageSender for PlivoSender {
    async fn send(
        &self,
        provider: ProviderKind,
        credentials: &ProviderCredentials,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        let creds = Credentials::check(KIND, provider, credentials)?;
        let to = phone_recipient(KIND, message)?;
        // The schema allows only letters, digits, '-', '_' and '.': safe in a path.
        let auth_id = creds.require("auth_id")?;
        let mut payload = json!({ "dst": to.as_str().trim_start_matches('+'), "text": message.body });
        match creds.get("powerpack_uuid") {
            Some(powerpack) => payload["powerpack_uuid"] = json!(powerpack),
            None => payload["src"] = json!(creds.require("src")?.trim_start_matches('+')),
        }
        if let Some(callback) = message.tracking.as_ref().and_then(|t| t.status_callback.as_deref()) {
            payload["url"] = json!(callback);
            payload["method"] = json!("POST");
        }
        log_sms_length(KIND, &message.body);
        let request = self
            .http
            .post(join(&self.base, &format!("/v1/Account/{auth_id}/Message/")))
            .basic_auth(auth_id, Some(creds.require("auth_token")?))
            .json(&payload);
        let response = execute("plivo", request).await?;
        if response.status.is_success() {
            let queued = response.json::<Queued>();
            return match queued {
                Some(q) if q.message_uuid.is_empty() && !q.invalid_number.is_empty() => {
                    Err(SendError::Permanent(format!("plivo HTTP {}: invalid_number", response.status.as_u16())))
                }
                q => Ok(SentMessage { provider_message_id: q.and_then(|q| q.message_uuid.into_iter().next()) }),
            };
        }
        let mut known = creds.values();
        known.push(to.as_str());
        let detail = match response.json::<ErrorAnswer>().and_then(|a| a.error) {
            Some(serde_json::Value::String(text)) => format!(": {}", redact(&text, &known)),
            Some(other) => format!(": {}", redact(&other.to_string(), &known)),
            None => String::new(),
        };
        let reason = format!("plivo HTTP {}{detail}", response.status.as_u16());
        Err(status_error(response.status, reason, &response.headers, None))
    }
}
