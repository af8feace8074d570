//! Twilio, SMS: create a Message resource (Programmable Messaging, API 2010-04-01).
//!
//! Sources:
//! - <https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource>
//!   (as mirrored at <https://bump.sh/paul-gh/hub/twilio/doc/api/operation/operation-createmessage>
//!   and <https://toolcog.com/c9r/crm/operations/twilio/CreateMessage>: path, form fields, 201 body)
//! - <https://www.twilio.com/docs/usage/twilios-response> (JSON with `.json`, error body)
//! - <https://www.twilio.com/docs/api/errors> (error codes: 20003, 20429, 21211, 21606, 21610, 21612, 21614)
//! - <https://twilio.com/en-us/blog/better-twilio-authentication-csharp-twilio-api-keys> (API keys)
//! - <https://www.twilio.com/docs/messaging/guides/track-outbound-message-status> (`StatusCallback`)
//!
//! | | |
//! |---|---|
//! | method, path | `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` (base `https://api.twilio.com`) |
//! | auth | HTTP basic: Account SID : auth token, or API key SID : API key secret (the account SID stays in the path) |
//! | content type | `application/x-www-form-urlencoded` |
//! | required fields | `To` (E.164); `From` (Twilio number, short code or alphanumeric sender ID) or `MessagingServiceSid` (MG…); `Body` (up to 1600 characters) or media/content |
//! | optional used | `StatusCallback`: the deployment's receipts URL for the message, when it has one (Twilio posts each status change there, signed, see [`crate::receipts`]) |
//! | success | `201 {"sid":"SM…","status":"queued"|"accepted","num_segments":…,…}` → id = `sid` |
//! | errors | `{"code":n,"message":…,"more_info":…,"status":s}`; 401 code 20003 (authentication); 400 code 21211 (invalid `To`), 21606 (`From` not SMS-capable), 21610 (unsubscribed recipient), 21612 / 21614 (unreachable / not mobile), 21408 (region not enabled); 404 unknown account; 429 code 20429 (too many requests); 5xx server error |
//!
//! Classification: 4xx permanent with Twilio's error code and redacted message (its messages
//! quote the number); 429 throttles for `Retry-After`; 5xx and transport failures are transient.

use async_trait::async_trait;
use secure2fa_core::model::ProviderKind;
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage};
use serde::Deserialize;
use url::Url;

use crate::credentials::{Credentials, phone_recipient};
use crate::endpoints::join;
use crate::failure::{redact, status_error};
use crate::http_client::execute;
use crate::sms::log_sms_length;

const KIND: ProviderKind = ProviderKind::Twilio;

/// Sends SMS through Twilio's Messages resource.
#[derive(Clone)]
pub struct TwilioSender {
    http: reqwest::Client,
    base: Url,
}

#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    code: Option<u32>,
    message: Option<String>,
}

impl TwilioSender {
    pub fn new(http: reqwest::Client, base: Url) -> Self {
        Self { http, base }
    }
}

#[async_trait]
impl MessageSender for TwilioSender {
    async fn send(
        &self,
        provider: ProviderKind,
        credentials: &ProviderCredentials,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        let creds = Credentials::check(KIND, provider, credentials)?;
        let to = phone_recipient(KIND, message)?;
        // The schema allows only AC + 32 hex digits: safe in a path.
        let account = creds.require("account_sid")?;
        let (user, password) = match creds.get("api_key_sid") {
            Some(key) => (key, creds.require("api_key_secret")?),
            None => (account, creds.require("auth_token")?),
        };
        let sender = match creds.get("messaging_service_sid") {
            Some(service) => ("MessagingServiceSid", service),
            None => ("From", creds.require("from")?),
        };
        log_sms_length(KIND, &message.body);
        let mut form = vec![("To", to.as_str()), sender, ("Body", message.body.as_str())];
        if let Some(callback) = message.tracking.as_ref().and_then(|t| t.status_callback.as_deref()) {
            form.push(("StatusCallback", callback));
        }
        let url = join(&self.base, &format!("/2010-04-01/Accounts/{account}/Messages.json"));
        let request = self.http.post(url).basic_auth(user, Some(password)).form(&form);
        let response = execute("twilio", request).await?;
        if response.status.is_success() {
            let sid = response.json::<Created>().and_then(|c| c.sid);
            return Ok(SentMessage { provider_message_id: sid });
        }
        let mut known = creds.values();
        known.push(to.as_str());
        let detail = match response.json::<ErrorAnswer>() {
            Some(ErrorAnswer { code: Some(code), message }) => {
                format!(" code {code}: {}", redact(message.as_deref().unwrap_or(""), &known))
            }
            _ => String::new(),
        };
        let reason = format!("twilio HTTP {}{detail}", response.status.as_u16());
        Err(status_error(response.status, reason, &response.headers, None))
    }
}
