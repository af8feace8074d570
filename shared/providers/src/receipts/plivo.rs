//! Plivo message status callbacks: a form POST to the message's `url` on every status change.
//!
//! Sources:
//! - <https://www.plivo.com/docs/messaging/api/message/message-status-callbacks> (fields, statuses)
//! - <https://docs.plivo.com/docs/voice/xml/request/validation> (`X-Plivo-Signature-V3`,
//!   `X-Plivo-Signature-V3-Nonce`; `url`, the message callback, among the signed URLs)
//! - Plivo's SDKs, which define the string to sign (plivo-python `utils/signature_v3.py`,
//!   plivo-node `utils/v3Security.js`), and plivo-go's tests, whose vectors are the known
//!   answers in the tests below
//!
//! String to sign for a POST (V3): `scheme://host/path`, then `?` and the URL's query fields
//! sorted as `name=value` joined by `&` (decoded), then `.` if both the query and the body have
//! fields, then each body field sorted as `namevalue`, then `.` and the nonce. The signature is
//! base64(HMAC-SHA256(auth token, that string)); the header may list several, comma-separated
//! (one per active token). `X-Plivo-Signature-Ma-V3` is the same signed with the main account's
//! token: either header may match the channel's token.
//!
//! Plivo's messaging pages still describe V2 (`X-Plivo-Signature-V2`: the URL and the nonce
//! only). V2 signs neither the body nor the query, so a captured signature would vouch for any
//! status: callbacks without a V3 signature are refused.
//!
//! | field | use |
//! |---|---|
//! | `MessageUUID` | message id, as the sender kept it (`message_uuid[0]`) |
//! | `Status` | status, below |
//! | `ErrorCode` | reason of `failed` / `undelivered` / `rejected` (`plivo ErrorCode 30`; `000` on success) |
//! | `ref` in the callback URL's query | the reference (the deployment built the URL) |
//! | `To`, `From`, `TotalRate`, ... | ignored, never logged |
//!
//! | `Status` | receipt |
//! |---|---|
//! | `sent` | sent |
//! | `delivered`, `read` | delivered |
//! | `failed`, `undelivered`, `rejected` | failed |
//! | `queued`, other | skipped |

use base64::Engine;
use hmac::{Hmac, Mac};
use secure2fa_core::clock::UnixTime;
use secure2fa_core::model::ReceiptStatus;
use sha2::Sha256;
use url::{Position, Url};

use super::request::{field, form, header, malformed, message_id, query, reason, reference, same};
use super::{Channel, ProviderReceipt, ReceiptError, ReceiptRequest};
use crate::failure::code_token;

/// The longest nonce read (Plivo's are twenty digits).
const MAX_NONCE: usize = 100;

pub(super) fn read(
    channel: &Channel<'_>,
    request: &ReceiptRequest<'_>,
    _now: UnixTime,
) -> Result<Vec<ProviderReceipt>, ReceiptError> {
    let token = channel.credential("auth_token").ok_or(ReceiptError::Unauthentic)?;
    let nonce = header(request, "x-plivo-signature-v3-nonce")
        .filter(|n| !n.is_empty() && n.len() <= MAX_NONCE)
        .ok_or(ReceiptError::Unauthentic)?;
    let given: Vec<&str> = ["x-plivo-signature-v3", "x-plivo-signature-ma-v3"]
        .iter()
        .filter_map(|name| header(request, name))
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .collect();
    let url = Url::parse(request.url).map_err(|_| malformed("the callback URL is not a URL"))?;
    let fields = form(request.body)?;
    let expected = signature(token, &url, &fields, nonce);
    // Every candidate is compared, so the time does not say which one matched.
    let matched = given.iter().fold(false, |found, g| same(expected.as_bytes(), g.as_bytes()) | found);
    if !matched {
        return Err(ReceiptError::Unauthentic);
    }
    let status = match field(&fields, "Status").ok_or_else(|| malformed("no Status"))? {
        "sent" => ReceiptStatus::Sent,
        "delivered" | "read" => ReceiptStatus::Delivered,
        "failed" | "undelivered" | "rejected" => ReceiptStatus::Failed,
        _ => return Ok(Vec::new()),
    };
    let reason = field(&fields, "ErrorCode")
        .filter(|code| status.is_failure() && code.bytes().any(|b| b != b'0'))
        .map(|code| reason(format!("plivo ErrorCode {}", code_token(code)), None));
    Ok(vec![ProviderReceipt {
        message_id: message_id(field(&fields, "MessageUUID").map(str::to_owned))?,
        reference: reference(query(request.url, "ref").as_deref()),
        status,
        reason,
    }])
}

/// `X-Plivo-Signature-V3` of a POST to `url` with `fields` and `nonce`.
fn signature(token: &str, url: &Url, fields: &[(String, String)], nonce: &str) -> String {
    let mut query: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    query.sort();
    let query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let mut signed = url[..Position::AfterPath].to_owned();
    if !query.is_empty() || !fields.is_empty() {
        signed.push('?');
        signed.push_str(&query);
    }
    if !query.is_empty() && !fields.is_empty() {
        signed.push('.');
    }
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
        signed.push_str(name);
        signed.push_str(value);
    }
    signed.push('.');
    signed.push_str(nonce);
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4";
    const NONCE: &str = "31627761595286130198";

    fn published_fields() -> Vec<(String, String)> {
        [
            ("Direction", "outbound"),
            ("From", "19792014278"),
            ("ALegUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
            ("CallStatus", "in-progress"),
            ("BillRate", "0.002"),
            ("ParentAuthID", "MANWVLYTK4ZWU1YTY4QA"),
            ("To", "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com"),
            ("ALegRequestUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
            ("CallUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
            ("RequestUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
            ("SIP-H-To", "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1"),
            ("SessionStart", "2020-04-08 11:34:33.238707"),
            ("Event", "StartApp"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    /// plivo-go's `TestValidateSignatureV3Pass1` and `Pass3`: a POST with and without a query.
    #[test]
    fn the_sdk_vectors_sign_to_their_published_signatures() {
        let with_query =
            Url::parse("https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml/?a=b&c=d").unwrap();
        assert_eq!(
            signature(TOKEN, &with_query, &published_fields(), NONCE),
            "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c="
        );
        let without = Url::parse("https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml").unwrap();
        assert_eq!(
            signature(TOKEN, &without, &published_fields(), NONCE),
            "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="
        );
        assert_ne!(
            signature(TOKEN, &without, &published_fields(), "31627761595286130199"),
            "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="
        );
    }
}
