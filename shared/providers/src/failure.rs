//! What a provider's refusal becomes: a [`SendError`] whose reason keeps the provider's status,
//! error code and message, with anything that could be the recipient, the code or a credential
//! taken out (reasons end up in tenant-visible logs), and how long a throttled send waits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use secure2fa_core::ports::SendError;

/// Wait before retrying a 429 that does not say how long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Longest wait a provider's `Retry-After` can impose (a longer one is shortened to this).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

const REDACTED: &str = "[redacted]";
/// Longest provider message kept in a reason.
const MAX_MESSAGE_CHARS: usize = 200;

/// Seconds to wait after a 429: the `Retry-After` delay in seconds, else `fallback` (a provider's
/// own reset header), else [`DEFAULT_RETRY_AFTER`]; at least 1, at most [`MAX_RETRY_AFTER`].
pub(crate) fn retry_after_seconds(headers: &HeaderMap, fallback: Option<u64>) -> u32 {
    let stated = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(fallback)
        .unwrap_or(DEFAULT_RETRY_AFTER.as_secs());
    stated.clamp(1, MAX_RETRY_AFTER.as_secs()) as u32
}

/// Seconds until a Unix timestamp in `header` (SendGrid's `X-RateLimit-Reset`).
pub(crate) fn seconds_until_epoch(headers: &HeaderMap, header: &str) -> Option<u64> {
    let at: u64 = headers.get(header)?.to_str().ok()?.trim().parse().ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(at.saturating_sub(now))
}

/// The error for a non-success HTTP status, by the rules every provider here documents:
/// 429 is throttling, 5xx is worth retrying, anything else (401/403 credentials, 400/422 bad
/// request or recipient, 404, unexpected 3xx as redirects are not followed) is permanent.
pub(crate) fn status_error(status: StatusCode, reason: String, headers: &HeaderMap, reset: Option<u64>) -> SendError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        SendError::Throttled { reason, retry_after_seconds: retry_after_seconds(headers, reset) }
    } else if status.is_server_error() {
        SendError::Transient(reason)
    } else {
        SendError::Permanent(reason)
    }
}

/// Takes from a provider's free-text message what could identify the recipient or carry the code
/// or a credential: each of `known` (the recipient, credential values), every word with an `@`,
/// and every number-like run with four digits or more (phone numbers, codes); control characters
/// become spaces and the result is cut to 200 characters.
pub(crate) fn redact(message: &str, known: &[&str]) -> String {
    let mut text: String = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    for needle in known.iter().filter(|n| n.len() >= 4) {
        text = text.replace(needle, REDACTED);
        // Numbers are often quoted without their `+`.
        if let Some(bare) = needle.strip_prefix('+') {
            text = text.replace(bare, REDACTED);
        }
    }
    let text =
        text.split(' ').map(|word| if word.contains('@') { REDACTED } else { word }).collect::<Vec<_>>().join(" ");
    let text = redact_numbers(&text);
    let text = text.trim();
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A provider's error code or field path (`mj-0013`, `To[0].Email`, `INVALID_RECIPIENT`) kept as
/// it is when it looks like one, so that its digits are not taken for a number to redact;
/// anything else becomes `?`.
pub(crate) fn code_token(code: &str) -> &str {
    let plain = !code.is_empty()
        && code.len() <= 40
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'[' | b']'))
        // A phone number is alphanumeric too.
        && code.split(|c: char| !c.is_ascii_digit()).all(|digits| digits.len() < 7);
    if plain { code } else { "?" }
}

/// Replaces each maximal run of digits and phone punctuation holding four digits or more.
fn redact_numbers(text: &str) -> String {
    fn flush(out: &mut String, run: &mut String, digits: &mut usize) {
        if *digits >= 4 {
            // Keep the spaces around the number so that the sentence still reads.
            let lead = run.len() - run.trim_start().len();
            let trail = run.len() - run.trim_end().len();
            out.push_str(&run[..lead]);
            out.push_str(REDACTED);
            out.push_str(&run[run.len() - trail..]);
        } else {
            out.push_str(run);
        }
        run.clear();
        *digits = 0;
    }
    let (mut out, mut run, mut digits) = (String::with_capacity(text.len()), String::new(), 0);
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            run.push(c);
        } else if matches!(c, '+' | '(' | ')' | '-' | '.' | ' ' | '/') && (!run.is_empty() || c == '+' || c == '(') {
            run.push(c);
        } else {
            flush(&mut out, &mut run, &mut digits);
            out.push(c);
        }
    }
    flush(&mut out, &mut run, &mut digits);
    out
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(retry_after: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = retry_after {
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_is_honoured_defaulted_and_capped() {
        assert_eq!(retry_after_seconds(&headers(Some("7")), None), 7);
        assert_eq!(retry_after_seconds(&headers(None), None), 30);
        assert_eq!(retry_after_seconds(&headers(None), Some(12)), 12);
        assert_eq!(retry_after_seconds(&headers(Some("86400")), None), 900);
        assert_eq!(retry_after_seconds(&headers(Some("0")), None), 1);
        assert_eq!(retry_after_seconds(&headers(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None), 30);
    }

    #[test]
    fn statuses_are_classified_as_documented() {
        let h = headers(Some("5"));
        let reason = || "r".to_owned();
        assert!(matches!(
            status_error(StatusCode::TOO_MANY_REQUESTS, reason(), &h, None),
            SendError::Throttled { retry_after_seconds: 5, .. }
        ));
        for s in [500, 502, 503, 504] {
            assert!(matches!(
                status_error(StatusCode::from_u16(s).unwrap(), reason(), &h, None),
                SendError::Transient(_)
            ));
        }
        for s in [301, 400, 401, 403, 404, 413, 422] {
            assert!(matches!(
                status_error(StatusCode::from_u16(s).unwrap(), reason(), &h, None),
                SendError::Permanent(_)
            ));
        }
    }

    #[test]
    fn codes_are_kept_only_when_they_look_like_codes() {
        assert_eq!(code_token("mj-0013"), "mj-0013");
        assert_eq!(code_token("personalizations.0.to.0.email"), "personalizations.0.to.0.email");
        assert_eq!(code_token("ann@example.com"), "?");
        assert_eq!(code_token("two words"), "?");
        assert_eq!(code_token("14155552671"), "?");
        assert_eq!(code_token(""), "?");
    }

    #[test]
    fn redaction_removes_recipients_codes_and_credentials() {
        assert_eq!(
            redact("The 'To' number 5551234567 is not a valid phone number.", &[]),
            "The 'To' number [redacted] is not a valid phone number."
        );
        assert_eq!(redact("invalid dst +1 (415) 555-2671", &[]), "invalid dst [redacted]");
        assert_eq!(redact("Found inactive addresses: ann@example.com.", &[]), "Found inactive addresses: [redacted]");
        assert_eq!(redact("Your code is 493817", &[]), "Your code is [redacted]");
        assert_eq!(redact("token SG.abc.def is revoked", &["SG.abc.def"]), "token [redacted] is revoked");
        assert_eq!(redact("dst 14155552671 blocked", &["+14155552671"]), "dst [redacted] blocked");
        assert_eq!(redact("line\r\nbreak", &[]), "line  break");
        assert_eq!(redact("Message 1 of 2 failed (code 42)", &[]), "Message 1 of 2 failed (code 42)");
        assert!(redact(&"x".repeat(500), &[]).chars().count() <= 201);
    }
}
