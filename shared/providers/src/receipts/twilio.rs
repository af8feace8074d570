//! Twilio status callbacks: a form POST to the message's `StatusCallback` on every status change.
//!
//! Sources:
//! - <https://www.twilio.com/docs/usage/webhooks/webhooks-security> (`X-Twilio-Signature`: the full
//!   URL, then each POST field name and value sorted by name, HMAC-SHA1 keyed with the account's
//!   auth token, base64)
//! - <https://www.twilio.com/docs/usage/security#validating-requests> (as mirrored by the
//!   twilio-php validation guide: the example whose signature is the known answer in the tests)
//! - <https://www.twilio.com/docs/messaging/guides/track-outbound-message-status> and
//!   <https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks>
//!   (form fields, which status changes are posted)
//! - <https://www.twilio.com/docs/messaging/api/message-resource> (the status values)
//!
//! | field | use |
//! |---|---|
//! | `MessageSid` (`SmsSid` in older callbacks) | message id, as the sender kept it (`sid`) |
//! | `MessageStatus` | status, below |
//! | `ErrorCode` | reason of `failed` / `undelivered` (`twilio ErrorCode 30003`) |
//! | `ref` in the callback URL's query | the reference (the deployment built the URL) |
//! | `To`, `From`, `Body`, ... | ignored, never logged |
//!
//! | `MessageStatus` | receipt |
//! |---|---|
//! | `sent` | sent |
//! | `delivered`, `read` | delivered |
//! | `undelivered`, `failed` | failed |
//! | `queued`, `accepted`, `scheduled`, `sending`, `canceled`, `partially_delivered`, `receiving`, `received`, other | skipped |
//!
//! Only the auth token signs callbacks: a channel that sends with an API key must keep its auth
//! token too (the schema allows both) to receive receipts; without it every callback is refused
//! as unauthentic.

use base64::Engine;
use hmac::{Hmac, Mac};
use secure2fa_core::clock::UnixTime;
use secure2fa_core::model::ReceiptStatus;
use sha1::Sha1;

use super::request::{field, form, header, malformed, message_id, query, reason, reference, same};
use super::{Channel, ProviderReceipt, ReceiptError, ReceiptRequest};
use crate::failure::code_token;

pub(super) fn read(
    channel: &Channel<'_>,
    request: &ReceiptRequest<'_>,
    _now: UnixTime,
) -> Result<Vec<ProviderReceipt>, ReceiptError> {
    let token = channel.credential("auth_token").ok_or(ReceiptError::Unauthentic)?;
    let given = header(request, "x-twilio-signature").ok_or(ReceiptError::Unauthentic)?;
    let fields = form(request.body)?;
    if !same(signature(token, request.url, &fields).as_bytes(), given.as_bytes()) {
        return Err(ReceiptError::Unauthentic);
    }
    let status = match field(&fields, "MessageStatus").ok_or_else(|| malformed("no MessageStatus"))? {
        "sent" => ReceiptStatus::Sent,
        "delivered" | "read" => ReceiptStatus::Delivered,
        "undelivered" | "failed" => ReceiptStatus::Failed,
        _ => return Ok(Vec::new()),
    };
    let id = field(&fields, "MessageSid").or_else(|| field(&fields, "SmsSid")).map(str::to_owned);
    let reason = field(&fields, "ErrorCode")
        .filter(|_| status.is_failure())
        .map(|code| reason(format!("twilio ErrorCode {}", code_token(code)), None));
    Ok(vec![ProviderReceipt {
        message_id: message_id(id)?,
        reference: reference(query(request.url, "ref").as_deref()),
        status,
        reason,
    }])
}

/// `X-Twilio-Signature` of a POST to `url` with `fields`: what Twilio sends, and what a test
/// standing in for Twilio signs its callbacks with.
pub fn signature(token: &str, url: &str, fields: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    /// Twilio's published example (the request validation guide): token `12345`, this URL and
    /// these fields sign to `RSOYDt4T1cUTdK1PDd93/VVr8B8=`.
    #[test]
    fn the_documented_example_signs_to_its_published_signature() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let published = fields(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(signature("12345", url, &published), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        // Field order on the wire does not matter; names are sorted.
        let mut shuffled = published.clone();
        shuffled.reverse();
        assert_eq!(signature("12345", url, &shuffled), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert_ne!(signature("12346", url, &published), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert_ne!(
            signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", &published),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }
}
