//! Postmark webhooks: one JSON record per POST, to the URL the client sets on the message
//! stream's webhook (Delivery, Bounce and Spam Complaint triggers).
//!
//! Sources:
//! - <https://postmarkapp.com/developer/webhooks/webhooks-overview> (no signature: protect the
//!   URL with HTTP basic authentication, `https://<username>:<password>@example.com/webhook`)
//! - <https://postmarkapp.com/developer/webhooks/delivery-webhook>,
//!   <https://postmarkapp.com/developer/webhooks/spam-complaint-webhook> and the Bounce and
//!   Delivery examples on <https://postmarkapp.com/email-webhooks> (`RecordType`, fields)
//! - postmark.js `models/bounces/Bounce.d.ts` (`RecordType: "Bounce"`, every bounce `Type` and
//!   its `TypeCode`)
//! - <https://postmarkapp.com/support/article/1125-custom-metadata-faq> (`Metadata` is echoed)
//!
//! Authenticity: `Authorization: Basic` with user `s2fa` and the channel's receipt secret, which
//! the client writes into the webhook URL (`https://s2fa:<secret>@host/...`).
//!
//! | field | use |
//! |---|---|
//! | `MessageID` | message id, as the sender kept it |
//! | `RecordType` | status, below |
//! | `Metadata.s2fa_ref` | the reference |
//! | `Type`, `Description` | reason of a bounce (`postmark HardBounce: The server was unable to deliver your message …`) |
//! | `Recipient`, `Email`, `Details`, `Content`, `Subject`, ... | ignored, never logged (`Details` quotes the recipient's server) |
//!
//! | `RecordType` (`Type`) | receipt |
//! |---|---|
//! | `Delivery` | delivered |
//! | `Bounce` (`HardBounce`, `SoftBounce`, `DnsError`, `BadEmailAddress`, `Blocked`, `DMARCPolicy`, `VirusNotification`) | bounced |
//! | `Bounce` (`ManuallyDeactivated`, `Unconfirmed`, `SMTPApiError`, `TemplateRenderingFailed`: Postmark did not send) | failed |
//! | `Bounce` (`SpamComplaint`), `SpamComplaint` | complained |
//! | `Bounce` (`Transient`, `AutoResponder`, `Unsubscribe`, `Subscribe`, `AddressChange`, `SpamNotification`, `OpenRelayTest`, `ChallengeVerification`, `InboundError`, `Unknown`: no verdict on delivery) | skipped |
//! | `Open`, `Click`, `SubscriptionChange`, other | skipped |

use secure2fa_core::clock::UnixTime;
use secure2fa_core::model::ReceiptStatus;
use secure2fa_core::ports::Tracking;
use serde_json::Value;

use super::request::{check_basic_auth, json_events, message_id, reason, reference, text};
use super::{Channel, ProviderReceipt, ReceiptError, ReceiptRequest};
use crate::failure::code_token;

pub(super) fn read(
    channel: &Channel<'_>,
    request: &ReceiptRequest<'_>,
    _now: UnixTime,
) -> Result<Vec<ProviderReceipt>, ReceiptError> {
    check_basic_auth(request, channel.receipt_secret)?;
    let mut receipts = Vec::new();
    for record in json_events(request.body)? {
        let bounce_type = text(&record, "Type");
        let status = match (text(&record, "RecordType").as_deref(), bounce_type.as_deref()) {
            (Some("Delivery"), _) => ReceiptStatus::Delivered,
            (Some("SpamComplaint"), _) | (Some("Bounce"), Some("SpamComplaint")) => ReceiptStatus::Complained,
            (Some("Bounce"), Some(kind)) => match bounce_status(kind) {
                Some(status) => status,
                None => continue,
            },
            _ => continue,
        };
        let reason = status.is_failure().then(|| {
            let kind = code_token(bounce_type.as_deref().unwrap_or(""));
            reason(format!("postmark {kind}"), text(&record, "Description").as_deref())
        });
        let metadata = record.get("Metadata").and_then(Value::as_object);
        receipts.push(ProviderReceipt {
            message_id: message_id(text(&record, "MessageID"))?,
            reference: reference(metadata.and_then(|m| m.get(Tracking::FIELD)).and_then(Value::as_str)),
            status,
            reason,
        });
    }
    Ok(receipts)
}

/// What a bounce record of this `Type` says about delivery, if anything.
fn bounce_status(kind: &str) -> Option<ReceiptStatus> {
    match kind {
        "HardBounce" | "SoftBounce" | "DnsError" | "BadEmailAddress" | "Blocked" | "DMARCPolicy"
        | "VirusNotification" => Some(ReceiptStatus::Bounced),
        "ManuallyDeactivated" | "Unconfirmed" | "SMTPApiError" | "TemplateRenderingFailed" => {
            Some(ReceiptStatus::Failed)
        }
        _ => None,
    }
}
