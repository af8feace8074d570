//! Reading a callback request, the same way for every provider: its bounded form or JSON body,
//! its query, a secret it carries (compared in constant time), and the values every receipt
//! keeps (message id, reference, reason).

use base64::Engine;
use secure2fa_core::model::DeliveryRef;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use url::Url;

use super::{MAX_EVENTS, MAX_FORM_FIELDS, ReceiptError, ReceiptRequest};
use crate::failure::redact;

/// The user name of the basic authentication in a callback URL the client configures.
pub(super) const BASIC_USER: &str = "s2fa";
/// The longest provider message id kept.
const MAX_MESSAGE_ID: usize = 200;

pub(super) fn malformed(what: &str) -> ReceiptError {
    ReceiptError::Malformed(what.to_owned())
}

/// A header's value as text, when present and visible ASCII.
pub(super) fn header<'a>(request: &ReceiptRequest<'a>, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The fields of a form-encoded body, in their order.
pub(super) fn form(body: &[u8]) -> Result<Vec<(String, String)>, ReceiptError> {
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .take(MAX_FORM_FIELDS + 1)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if fields.len() > MAX_FORM_FIELDS {
        return Err(ReceiptError::Malformed(format!("more than {MAX_FORM_FIELDS} form fields")));
    }
    Ok(fields)
}

/// The first value of `name` among form fields.
pub(super) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// The events of a JSON body: an array of objects (at most [`MAX_EVENTS`]) or one object.
pub(super) fn json_events(body: &[u8]) -> Result<Vec<Map<String, Value>>, ReceiptError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| malformed("the body is not JSON"))?;
    let items = match value {
        Value::Object(event) => return Ok(vec![event]),
        Value::Array(items) => items,
        _ => return Err(malformed("the body is neither a JSON object nor an array")),
    };
    if items.len() > MAX_EVENTS {
        return Err(ReceiptError::Malformed(format!("more than {MAX_EVENTS} events")));
    }
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(event) => Ok(event),
            _ => Err(malformed("an event is not a JSON object")),
        })
        .collect()
}

/// A JSON field as text: a string, or a number written out (ids and codes come as either).
pub(super) fn text(event: &Map<String, Value>, name: &str) -> Option<String> {
    match event.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first value of `name` in the query of `url`.
pub(super) fn query(url: &str, name: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Whether two secrets or signatures are equal, in time independent of where they differ.
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Checks `Authorization: Basic` against user [`BASIC_USER`] and the channel's receipt secret.
pub(super) fn check_basic_auth(request: &ReceiptRequest<'_>, secret: &str) -> Result<(), ReceiptError> {
    let given = header(request, "authorization")
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
        .ok_or(ReceiptError::Unauthentic)?;
    let expected = format!("{BASIC_USER}:{secret}");
    if secret.is_empty() || !same(&given, expected.as_bytes()) {
        return Err(ReceiptError::Unauthentic);
    }
    Ok(())
}

/// Checks a secret carried in the callback URL's query against the channel's receipt secret.
pub(super) fn check_query_secret(request: &ReceiptRequest<'_>, name: &str, secret: &str) -> Result<(), ReceiptError> {
    let given = query(request.url, name).ok_or(ReceiptError::Unauthentic)?;
    if secret.is_empty() || !same(given.as_bytes(), secret.as_bytes()) {
        return Err(ReceiptError::Unauthentic);
    }
    Ok(())
}

/// A provider's message id: printable, at most 200 bytes.
pub(super) fn message_id(id: Option<String>) -> Result<String, ReceiptError> {
    match id {
        Some(id) if id.len() <= MAX_MESSAGE_ID && !id.chars().any(char::is_control) => Ok(id),
        Some(_) => Err(malformed("the message id is not a provider message id")),
        None => Err(malformed("an outcome event has no message id")),
    }
}

/// The reference a message carried, when it is one of ours.
pub(super) fn reference(value: Option<&str>) -> Option<DeliveryRef> {
    value.and_then(DeliveryRef::parse)
}

/// A receipt's reason: `head` (the provider's name and codes, each passed through
/// [`code_token`](crate::failure::code_token) by the caller) and the provider's words, redacted
/// of anything that looks like an address or a number.
pub(super) fn reason(head: String, words: Option<&str>) -> String {
    match words.map(|w| redact(w, &[])).filter(|w| !w.is_empty()) {
        Some(words) => format!("{head}: {words}"),
        None => head,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;

    fn request<'a>(url: &'a str, headers: &'a HeaderMap, body: &'a [u8]) -> ReceiptRequest<'a> {
        ReceiptRequest { url, headers, body }
    }

    #[test]
    fn basic_auth_must_name_the_user_and_the_secret() {
        let secret = "s3cr3t-0123456789";
        let with = |user_pass: &str| {
            let mut h = HeaderMap::new();
            let b64 = base64::engine::general_purpose::STANDARD.encode(user_pass);
            h.insert("authorization", format!("Basic {b64}").parse().unwrap());
            h
        };
        let ok = with(&format!("s2fa:{secret}"));
        assert_eq!(check_basic_auth(&request("https://x/", &ok, b""), secret), Ok(()));
        for bad in
            [with(&format!("admin:{secret}")), with("s2fa:wrong"), with(&format!("s2fa:{secret}x")), HeaderMap::new()]
        {
            assert_eq!(check_basic_auth(&request("https://x/", &bad, b""), secret), Err(ReceiptError::Unauthentic));
        }
        // An empty secret (a channel without one) never matches, even an empty password.
        assert_eq!(check_basic_auth(&request("https://x/", &with("s2fa:"), b""), ""), Err(ReceiptError::Unauthentic));
    }

    #[test]
    fn a_query_secret_must_match_exactly() {
        let h = HeaderMap::new();
        let check = |url: &str| check_query_secret(&request(url, &h, b""), "token", "abc_DEF-123");
        assert_eq!(check("https://x/r?token=abc_DEF-123"), Ok(()));
        assert_eq!(check("https://x/r?a=1&token=abc_DEF-123&b=2"), Ok(()));
        for bad in ["https://x/r", "https://x/r?token=abc_DEF-12", "https://x/r?token=ABC_DEF-123", "not a url"] {
            assert_eq!(check(bad), Err(ReceiptError::Unauthentic), "{bad}");
        }
    }

    #[test]
    fn bodies_are_bounded() {
        let many = format!("[{}]", vec!["{}"; MAX_EVENTS + 1].join(","));
        assert!(matches!(json_events(many.as_bytes()), Err(ReceiptError::Malformed(_))));
        assert_eq!(
            json_events(format!("[{}]", vec!["{}"; MAX_EVENTS].join(",")).as_bytes()).unwrap().len(),
            MAX_EVENTS
        );
        for bad in [&b"[1]"[..], b"\"x\"", b"", b"{", b"null"] {
            assert!(matches!(json_events(bad), Err(ReceiptError::Malformed(_))), "{bad:?}");
        }
        let fields = vec!["a=1"; MAX_FORM_FIELDS + 1].join("&");
        assert!(matches!(form(fields.as_bytes()), Err(ReceiptError::Malformed(_))));
        assert_eq!(form(b"a=1&b=x+y%21").unwrap(), vec![("a".into(), "1".into()), ("b".into(), "x y!".into())]);
    }

    #[test]
    fn message_ids_are_bounded_and_printable() {
        assert_eq!(message_id(Some("SM123".into())), Ok("SM123".into()));
        assert!(message_id(Some("x".repeat(201))).is_err());
        assert!(message_id(Some("a\nb".into())).is_err());
        assert!(message_id(None).is_err());
    }

    #[test]
    fn reasons_keep_codes_and_drop_recipients() {
        assert_eq!(reason("twilio ErrorCode 30003".into(), None), "twilio ErrorCode 30003");
        let r = reason("sendgrid bounce 5.1.1".into(), Some("550 unknown user ann@example.com at +1 415 555 2671"));
        assert!(r.starts_with("sendgrid bounce 5.1.1: ") && !r.contains("ann@") && !r.contains("555"), "{r}");
        assert_eq!(reason("x".into(), Some(" ")), "x");
    }
}
