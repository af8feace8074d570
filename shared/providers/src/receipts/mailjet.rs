//! Mailjet Event API: a JSON event (or, with `Version` 2 of the callback, an array of them)
//! POSTed to the URL the client sets for the `sent`, `bounce`, `blocked` and `spam` events.
//!
//! Sources:
//! - <https://documentation.mailjet.com/hc/en-us/articles/360043578154-Event-Tracking-API> and
//!   mailjet's api-documentation `guides/_event-api.md` (fields of each event, grouping, error
//!   table; no signature: "use a secure (HTTPS) URL in combination with a basic authentification",
//!   `https://username:password@www.example.com/mailjet_triggers.php`)
//!   The same page: every event carries `Payload` and `CustomID`, "when provided at send time"
//!   (Send API v3.1 `EventPayload` and `CustomID`).
//!
//! Authenticity: `Authorization: Basic` with user `s2fa` and the channel's receipt secret, which
//! the client writes into the callback URL (`https://s2fa:<secret>@host/...`).
//!
//! | field | use |
//! |---|---|
//! | `Message_GUID`, else `MessageID` | message id: the GUID is the `MessageUUID` the sender kept; `MessageID` is a number above 2^53, read as written |
//! | `event` | status, below |
//! | `Payload` | the reference (the message's `EventPayload`) |
//! | `error_related_to`, `error`, `hard_bounce`, `source` | reason (`mailjet bounce hard recipient: user unknown`, `mailjet spam JMRPP`) |
//! | `email`, `smtp_reply`, `ip`, `agent`, ... | ignored, never logged (`smtp_reply` quotes the recipient's server) |
//!
//! | `event` | receipt |
//! |---|---|
//! | `sent` (the receiving server accepted the message) | delivered |
//! | `bounce` | bounced |
//! | `blocked` (Mailjet did not send: preblocked recipient, spam content, ...) | failed |
//! | `spam` | complained |
//! | `open`, `click`, `unsub`, other | skipped |

use secure2fa_core::clock::UnixTime;
use secure2fa_core::model::ReceiptStatus;
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
    for event in json_events(request.body)? {
        let (status, head) = match text(&event, "event").as_deref() {
            Some("sent") => (ReceiptStatus::Delivered, None),
            Some("bounce") => {
                let hard = event.get("hard_bounce").and_then(Value::as_bool);
                let head = match hard {
                    Some(true) => "mailjet bounce hard",
                    Some(false) => "mailjet bounce soft",
                    None => "mailjet bounce",
                };
                (ReceiptStatus::Bounced, Some(head))
            }
            Some("blocked") => (ReceiptStatus::Failed, Some("mailjet blocked")),
            Some("spam") => (ReceiptStatus::Complained, None),
            _ => continue,
        };
        let reason = match head {
            Some(head) => {
                let related =
                    text(&event, "error_related_to").map(|r| format!(" {}", code_token(&r))).unwrap_or_default();
                Some(reason(format!("{head}{related}"), text(&event, "error").as_deref()))
            }
            None => text(&event, "source").map(|source| format!("mailjet spam {}", code_token(&source))),
        };
        let id = text(&event, "Message_GUID").or_else(|| text(&event, "MessageID"));
        receipts.push(ProviderReceipt {
            message_id: message_id(id)?,
            reference: reference(text(&event, "Payload").as_deref()),
            status,
            reason,
        });
    }
    Ok(receipts)
}
