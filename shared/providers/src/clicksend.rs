//! ClickSend, SMS: "Send SMS" of the REST API v3.
//!
//! Sources:
//! - <https://developers.clicksend.com/docs/messaging/sms> (Send SMS: request body, messages)
//! - <https://integrations.sh/openapi/clicksend-com/> (ClickSend REST API v3 reference: base URL,
//!   basic authentication with username and API key, status codes)
//! - <https://205ozaq3qt.apidog.io/api-3524049> (the v3 reference's request and response examples)
//! - <https://help.clicksend.com/article/cb98hv79pw-post-application-status-codes> (per-message status)
//! - <https://developers.clicksend.com/docs/messaging/sms/other/view-specific-sms-receipt> (the
//!   receipt echoes `custom_string`)
//!
//! | | |
//! |---|---|
//! | method, path | `POST {base}/v3/sms/send` (base `https://rest.clicksend.com`) |
//! | auth | HTTP basic, API username : API key |
//! | content type | `application/json` |
//! | required fields | `messages[]` with `body` and `to` (E.164); optional `from` (sender ID; the account default when absent), `source` (the sending method, here `secure2fa`), `custom_string` (the reference when the message is tracked, echoed in its delivery receipt, see [`crate::receipts`]) |
//! | success | `200 {"http_code":200,"response_code":"SUCCESS","response_msg":…,"data":{"messages":[{"message_id":"…","status":"SUCCESS",…}]}}` → id = `data.messages[0].message_id` |
//! | per-message status | `SUCCESS`; `INVALID_RECIPIENT`, `INSUFFICIENT_CREDIT`, `MISSING_REQUIRED_FIELDS`, `INVALID_RETURN_ADDRESS`, … (the message was not queued) |
//! | errors | `{"http_code":n,"response_code":"…","response_msg":"…"}`; 400 BAD_REQUEST, 401 UNAUTHORIZED, 403 FORBIDDEN, 404 NOT_FOUND, 405 METHOD_NOT_FOUND, 429 TOO_MANY_REQUESTS, 500 INTERNAL_SERVER_ERROR |
//!
//! Classification: 4xx, and a 200 whose message status is not `SUCCESS`, are permanent with the
//! response code or status kept; 429 throttles for `Retry-After`; 5xx and transport failures are
//! transient.

use async_trait::async_trait;
use secure2fa_core::model::ProviderKind;
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::credentials::{Credentials, phone_recipient};
use crate::endpoints::join;
use crate::failure::{code_token, redact, status_error};
use crate::http_client::execute;
use crate::sms::log_sms_length;

const KIND: ProviderKind = ProviderKind::Clicksend;

/// Sends SMS through ClickSend's v3 `sms/send`.
#[derive(Clone)]
pub struct ClicksendSender {
    http: reqwest::Client,
    base: Url,
}

#[derive(Deserialize)]
struct Answer {
    response_code: Option<String>,
    response_msg: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    messages: Vec<MessageResult>,
}

#[derive(Deserialize)]
struct MessageResult {
    message_id: Option<String>,
    status: Option<String>,
}

impl ClicksendSender {
    pub fn new(http: reqwest::Client, base: Url) -> Self {
        Self { http, base }
    }
}

#[async_trait]
impl MessageSender for ClicksendSender {
    async fn send(
        &self,
        provider: ProviderKind,
        credentials: &ProviderCredentials,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        let creds = Credentials::check(KIND, provider, credentials)?;
        let to = phone_recipient(KIND, message)?;
        let mut sms = json!({ "source": "secure2fa", "body": message.body, "to": to.as_str() });
        if let Some(from) = creds.get("from") {
            sms["from"] = json!(from);
        }
        if let Some(tracking) = &message.tracking {
            sms["custom_string"] = json!(tracking.reference);
        }
        log_sms_length(KIND, &message.body);
        let request = self
            .http
            .post(join(&self.base, "/v3/sms/send"))
            .basic_auth(creds.require("username")?, Some(creds.require("api_key")?))
            .json(&json!({ "messages": [sms] }));
        let response = execute("clicksend", request).await?;
        let answer: Option<Answer> = response.json();
        let status = response.status.as_u16();
        if response.status.is_success() {
            let first = answer.and_then(|a| a.data).and_then(|d| d.messages.into_iter().next());
            return match first {
                Some(MessageResult { status: Some(s), .. }) if s != "SUCCESS" => {
                    Err(SendError::Permanent(format!("clicksend HTTP {status} message status {}", code_token(&s))))
                }
                first => Ok(SentMessage { provider_message_id: first.and_then(|m| m.message_id) }),
            };
        }
        let mut known = creds.values();
        known.push(to.as_str());
        let detail = match answer {
            Some(Answer { response_code: Some(code), response_msg, .. }) => {
                format!(" {}: {}", code_token(&code), redact(response_msg.as_deref().unwrap_or(""), &known))
            }
            _ => String::new(),
        };
        Err(status_error(response.status, format!("clicksend HTTP {status}{detail}"), &response.headers, None))
    }
}
