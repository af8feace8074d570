//! SendGrid Event Webhook: a JSON array of events, POSTed to the URL the client sets in
//! SendGrid (Mail Settings, Event Webhook) with the Signed Event Webhook turned on.
//!
//! Sources:
//! - <https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features>
//!   (ECDSA signature in `X-Twilio-Email-Event-Webhook-Signature` over the
//!   `X-Twilio-Email-Event-Webhook-Timestamp` value followed by the raw body; the verification
//!   key is base64 of its DER SubjectPublicKeyInfo)
//! - sendgrid-python `helpers/eventwebhook` and its tests (the same construction; the tests'
//!   key, payload and signature are the known answer in `tests/receipts.rs`)
//! - <https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event> (event types and
//!   fields; custom arguments come back as top-level fields of each event)
//!
//! SendGrid documents no freshness window: a timestamp more than 10 minutes away from now is
//! refused, so a captured request cannot be replayed later.
//!
//! | field | use |
//! |---|---|
//! | `sg_message_id` | message id: its part before the first `.` is the `X-Message-Id` the sender kept |
//! | `event` | status, below |
//! | `s2fa_ref` | the reference (the message's custom argument) |
//! | `type`, `status`, `reason` | reason of `bounce` (`sendgrid bounce blocked 5.1.1: …`) and `dropped` (`sendgrid dropped: Bounced Address`) |
//! | `email`, `ip`, `useragent`, `url`, ... | ignored, never logged |
//!
//! | `event` | receipt |
//! |---|---|
//! | `delivered` | delivered |
//! | `bounce` (`type` `bounce` or `blocked`) | bounced |
//! | `dropped` | failed |
//! | `spamreport` | complained |
//! | `processed`, `deferred`, `open`, `click`, `unsubscribe`, `group_unsubscribe`, `group_resubscribe`, other | skipped |

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use secure2fa_core::clock::UnixTime;
use secure2fa_core::model::ReceiptStatus;
use secure2fa_core::ports::Tracking;
use secure2fa_core::providers::p256_public_key;

use super::request::{header, json_events, message_id, reason, reference, text};
use super::{Channel, ProviderReceipt, ReceiptError, ReceiptRequest};
use crate::failure::code_token;

/// How far a signed timestamp may be from now, either way.
const MAX_CLOCK_SKEW_SECONDS: u64 = 10 * 60;

pub(super) fn read(
    channel: &Channel<'_>,
    request: &ReceiptRequest<'_>,
    now: UnixTime,
) -> Result<Vec<ProviderReceipt>, ReceiptError> {
    let key =
        channel.credential("event_webhook_public_key").and_then(p256_public_key).ok_or(ReceiptError::Unauthentic)?;
    verify(&key, request, now)?;
    let mut receipts = Vec::new();
    for event in json_events(request.body)? {
        let (status, head) = match text(&event, "event").as_deref() {
            Some("delivered") => (ReceiptStatus::Delivered, None),
            Some("bounce") => (ReceiptStatus::Bounced, Some("sendgrid bounce")),
            Some("dropped") => (ReceiptStatus::Failed, Some("sendgrid dropped")),
            Some("spamreport") => (ReceiptStatus::Complained, None),
            _ => continue,
        };
        let id = text(&event, "sg_message_id").map(|id| id.split('.').next().unwrap_or_default().to_owned());
        let reason = head.map(|head| {
            let codes: String = ["type", "status"]
                .iter()
                .filter_map(|name| text(&event, name))
                .map(|code| format!(" {}", code_token(&code)))
                .collect();
            reason(format!("{head}{codes}"), text(&event, "reason").as_deref())
        });
        receipts.push(ProviderReceipt {
            message_id: message_id(id.filter(|id| !id.is_empty()))?,
            reference: reference(text(&event, Tracking::FIELD).as_deref()),
            status,
            reason,
        });
    }
    Ok(receipts)
}

/// Checks the signature of the timestamp and the raw body, and the timestamp's freshness.
fn verify(key: &VerifyingKey, request: &ReceiptRequest<'_>, now: UnixTime) -> Result<(), ReceiptError> {
    let timestamp = header(request, "x-twilio-email-event-webhook-timestamp").ok_or(ReceiptError::Unauthentic)?;
    let at: i64 = (timestamp.len() <= 12 && timestamp.bytes().all(|b| b.is_ascii_digit()))
        .then(|| timestamp.parse().ok())
        .flatten()
        .ok_or(ReceiptError::Unauthentic)?;
    if now.abs_diff(at) > MAX_CLOCK_SKEW_SECONDS {
        return Err(ReceiptError::Unauthentic);
    }
    let signature = header(request, "x-twilio-email-event-webhook-signature")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|der| Signature::from_der(&der).ok())
        .ok_or(ReceiptError::Unauthentic)?;
    let mut signed = Vec::with_capacity(timestamp.len() + request.body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(request.body);
    key.verify(&signed, &signature).map_err(|_| ReceiptError::Unauthentic)
}
