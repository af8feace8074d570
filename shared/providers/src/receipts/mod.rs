//! Delivery receipts: the status callbacks the providers post about the messages they accepted,
//! checked for authenticity as each provider documents and normalized to [`ProviderReceipt`]s.
//!
//! | provider | callback URL | authenticity | reference read from | module |
//! |---|---|---|---|---|
//! | Twilio | per message: `StatusCallback` = the tracking's `status_callback` | `X-Twilio-Signature` (HMAC-SHA1, the channel's auth token) | `ref` query parameter | `twilio.rs` |
//! | Plivo | per message: `url` = the tracking's `status_callback`, `method` POST | `X-Plivo-Signature-V3` or `-Ma-V3` (HMAC-SHA256, the auth token, with a nonce) | `ref` query parameter | `plivo.rs` |
//! | SendGrid | set by the client: Event Webhook URL, signing on | `X-Twilio-Email-Event-Webhook-Signature` (ECDSA P-256, the channel's `event_webhook_public_key`), timestamp within 10 minutes | `s2fa_ref` custom argument | `sendgrid.rs` |
//! | Postmark | set by the client: `https://s2fa:<receipt secret>@host/...` | HTTP basic auth, user `s2fa`, the channel's receipt secret | `Metadata.s2fa_ref` | `postmark.rs` |
//! | Mailjet | set by the client: `https://s2fa:<receipt secret>@host/...` | HTTP basic auth, as Postmark | `Payload` (the message's `EventPayload`) | `mailjet.rs` |
//! | ClickSend | set by the client: `https://host/...?token=<receipt secret>` | `token` query parameter, the channel's receipt secret | `custom_string` | `clicksend.rs` |
//! | SMTP, SES, outbox | none here | | | [`ReceiptError::Unsupported`] |
//!
//! SMTP carries no reference at all (no `X-S2FA-Ref` header either): nothing would read it back,
//! and a header would hand the recipient's mail provider our identifiers for nothing.
//!
//! Every request is bounded ([`MAX_BODY_BYTES`], [`MAX_EVENTS`], [`MAX_FORM_FIELDS`]); unknown
//! fields are ignored, and so are events that are no delivery outcome (queued, processed,
//! deferred, opened, clicked, ...). A [`ProviderReceipt::reason`] keeps the provider's error code
//! and words with anything that looks like an address or a number taken out; nothing here logs
//! a recipient.

use http::HeaderMap;
use secure2fa_core::clock::UnixTime;
use secure2fa_core::model::ProviderKind;
use secure2fa_core::ports::ProviderCredentials;
use secure2fa_core::providers::{present, validate_credentials};
use serde_json::{Map, Value};

mod clicksend;
mod mailjet;
mod plivo;
mod postmark;
mod request;
mod sendgrid;
mod twilio;

/// The largest callback body read: the receipts endpoint's own bound.
pub const MAX_BODY_BYTES: usize = secure2fa_core::otp::MAX_RECEIPT_BODY;
/// The most events one callback may carry: what the receipts use case stores of one.
pub const MAX_EVENTS: usize = secure2fa_core::otp::MAX_RECEIPTS_PER_CALLBACK;
/// The most fields a form-encoded callback may carry.
pub const MAX_FORM_FIELDS: usize = 200;

/// A provider's callback as the HTTP layer received it.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptRequest<'a> {
    /// The full public URL the provider called (scheme, host, path and query), as configured
    /// for the deployment.
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

// One delivery outcome, and why a callback was refused: the core's types (its receipts port).
pub use secure2fa_core::otp::{ProviderReceipt, ReceiptError};
pub use twilio::signature as twilio_signature;

/// Verifies the request's authenticity as the provider documents, then normalizes its events.
/// Events that are not a delivery outcome (queued, accepted, opened, clicked, ...) are skipped
/// (not returned).
///
/// `receipt_secret` is the channel's random secret that the client puts in the callback URL of
/// the providers that do not sign their callbacks (Postmark, Mailjet, ClickSend); `now` bounds
/// the age of a signed timestamp (SendGrid).
pub fn read_receipts(
    provider: ProviderKind,
    credentials: &ProviderCredentials,
    receipt_secret: &str,
    request: &ReceiptRequest<'_>,
    now: UnixTime,
) -> Result<Vec<ProviderReceipt>, ReceiptError> {
    let name = provider.as_str();
    let read: fn(&Channel<'_>, &ReceiptRequest<'_>, UnixTime) -> Result<Vec<ProviderReceipt>, ReceiptError> =
        match provider {
            ProviderKind::Twilio => twilio::read,
            ProviderKind::Plivo => plivo::read,
            ProviderKind::Sendgrid => sendgrid::read,
            ProviderKind::Postmark => postmark::read,
            ProviderKind::Mailjet => mailjet::read,
            ProviderKind::Clicksend => clicksend::read,
            ProviderKind::Smtp | ProviderKind::Ses | ProviderKind::Outbox => {
                return Err(ReceiptError::Unsupported(name));
            }
        };
    if request.body.len() > MAX_BODY_BYTES {
        return Err(ReceiptError::Malformed(format!("body larger than {MAX_BODY_BYTES} bytes")));
    }
    // A channel saved before a rule existed cannot vouch for anything.
    if let Err(e) = validate_credentials(provider, &credentials.0) {
        tracing::warn!(provider = name, error = %e, "receipt refused: the channel's credentials fail their schema");
        return Err(ReceiptError::Unauthentic);
    }
    let channel = Channel {
        credentials: credentials.0.as_object().expect("validated credentials are an object"),
        receipt_secret,
    };
    let receipts = read(&channel, request, now).inspect_err(|e| {
        tracing::info!(provider = name, error = %e, "receipt refused");
    })?;
    tracing::debug!(provider = name, receipts = receipts.len(), "receipts read");
    Ok(receipts)
}

/// What a reader may use of the channel.
struct Channel<'a> {
    credentials: &'a Map<String, Value>,
    receipt_secret: &'a str,
}

impl Channel<'_> {
    /// A credential (absent, `null` and `""` alike).
    fn credential(&self, name: &str) -> Option<&str> {
        present(self.credentials, name).and_then(Value::as_str)
    }
}
