//! ClickSend SMS delivery receipts: pushed, one per request, to the URL of the account's SMS
//! delivery receipt rule (form fields, or a JSON object).
//!
//! Sources:
//! - <https://developers.clicksend.com/docs/messaging/sms/other/view-specific-sms-receipt> and the
//!   ClickSend v3 SDKs' `CreateTestSmsReceiptData` (receipt fields: `timestamp_send`, `timestamp`,
//!   `message_id`, `status_code`, `status_text`, `error_code`, `error_text`, `custom_string`,
//!   `subaccount_id`, `message_type`)
//! - <https://help.clicksend.com/article/8cc479qlbb-list-of-sms-gateway-error-codes> (status codes:
//!   200 queued, scheduled or sent to the network; 201 delivered to the handset; 300 temporary,
//!   retried; 301 failed or cancelled; error codes 1 to 20)
//!
//! ClickSend signs nothing and documents no basic authentication for the URL it pushes to, so
//! the client puts the channel's receipt secret in the URL's query:
//! `https://host/...?token=<receipt secret>`.
//!
//! | field | use |
//! |---|---|
//! | `message_id` | message id, as the sender kept it |
//! | `status_code` | status, below |
//! | `custom_string` | the reference (the message's `custom_string`) |
//! | `error_code`, `error_text` (else `status_text`) | reason of a failure (`clicksend 301 error 8: Unknown subscriber…`) |
//! | `to`, `from`, `body`, ... | ignored, never logged |
//!
//! | `status_code` | receipt |
//! |---|---|
//! | `201` | delivered |
//! | `301` | failed |
//! | `200` (queued, scheduled or sent: not told apart), `300` (retried), other | skipped |

use secure2fa_core::clock::UnixTime;
use secure2fa_core::model::ReceiptStatus;
use serde_json::{Map, Value};

use super::request::{check_query_secret, form, header, json_events, malformed, message_id, reason, reference, text};
use super::{Channel, ProviderReceipt, ReceiptError, ReceiptRequest};
use crate::failure::code_token;

/// The query parameter that carries the receipt secret.
const TOKEN: &str = "token";

pub(super) fn read(
    channel: &Channel<'_>,
    request: &ReceiptRequest<'_>,
    _now: UnixTime,
) -> Result<Vec<ProviderReceipt>, ReceiptError> {
    check_query_secret(request, TOKEN, channel.receipt_secret)?;
    let mut receipts = Vec::new();
    for receipt in events(request)? {
        let status = match text(&receipt, "status_code").as_deref() {
            Some("201") => ReceiptStatus::Delivered,
            Some("301") => ReceiptStatus::Failed,
            Some(_) => continue,
            None => return Err(malformed("no status_code")),
        };
        let reason = status.is_failure().then(|| {
            let code = text(&receipt, "error_code").map(|c| format!(" error {}", code_token(&c))).unwrap_or_default();
            let words = text(&receipt, "error_text").or_else(|| text(&receipt, "status_text"));
            reason(format!("clicksend 301{code}"), words.as_deref())
        });
        receipts.push(ProviderReceipt {
            message_id: message_id(text(&receipt, "message_id"))?,
            reference: reference(text(&receipt, "custom_string").as_deref()),
            status,
            reason,
        });
    }
    Ok(receipts)
}

/// The receipts of a JSON body (an object, or an array of them) or of form fields.
fn events(request: &ReceiptRequest<'_>) -> Result<Vec<Map<String, Value>>, ReceiptError> {
    let json = match header(request, "content-type") {
        Some(kind) => kind.to_ascii_lowercase().contains("json"),
        None => request.body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| matches!(b, b'{' | b'[')),
    };
    if json {
        return json_events(request.body);
    }
    let fields = form(request.body)?;
    if fields.is_empty() {
        return Err(malformed("no receipt fields"));
    }
    let mut receipt = Map::new();
    for (name, value) in fields {
        receipt.entry(name).or_insert(Value::String(value));
    }
    Ok(vec![receipt])
}
