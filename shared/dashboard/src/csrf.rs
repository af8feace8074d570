//! Cross-site request forgery: every form carries the value of a
//! `__Host-` cookie (double submit; the prefix keeps a sibling subdomain
//! from planting its own), and every POST must present both, equal. A POST
//! that a page of another origin sent (`Origin` or `Sec-Fetch-Site` say so)
//! is refused before that. The check is one layer over every page route, so
//! no handler can forget it.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secure2fa_core::model::OpaqueSecret;
use subtle::ConstantTimeEq;

use crate::MAX_FORM_BYTES;
use crate::page::PageError;

/// The cookie holding the form token.
pub const CSRF_COOKIE: &str = "__Host-s2fa_csrf";

/// The form token of this browser, for the page's forms.
#[derive(Clone, Debug)]
pub(crate) struct CsrfToken(pub String);

/// The browser's form token if it is one we could have issued.
fn presented_cookie(headers: &HeaderMap) -> Option<&str> {
    secure2fa_http::request_cookie(headers, CSRF_COOKIE).filter(|v| {
        (32..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Whether a browser says this request comes from a page of another site:
/// `Sec-Fetch-Site` when sent (every current browser), else `Origin`
/// against `Host` (`null`, sent by sandboxed frames, counts as another).
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !(site.as_bytes() == b"same-origin" || site.as_bytes() == b"none");
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => false,
        Some("null") => true,
        Some(origin) => origin.split_once("://").map(|(_, rest)| rest) != host,
    }
}

fn refused(message: &str) -> Response {
    PageError::new(StatusCode::FORBIDDEN, "Form refused", message).into_response()
}

pub(crate) async fn guard(req: Request, next: Next) -> Response {
    let cookie = presented_cookie(req.headers()).map(str::to_owned);
    let mut req = if req.method() == Method::POST {
        if cross_site(req.headers()) {
            return refused("This form was sent from another site.");
        }
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
            return PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "Form too large", "The form is larger than 64 KiB.")
                .into_response();
        };
        let presented = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
        let matches = match (&cookie, &presented) {
            (Some(c), Some(p)) => bool::from(c.as_bytes().ct_eq(p.as_bytes())),
            _ => false,
        };
        if !matches {
            return refused("This form expired or was not sent from this dashboard. Reload the page and try again.");
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        req
    };
    let (token, fresh) = match cookie {
        Some(c) => (c, false),
        None => (OpaqueSecret::generate().expose().to_owned(), true),
    };
    req.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(req).await;
    if fresh {
        let cookie = format!("{CSRF_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Lax");
        response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("base64url"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn another_origin_or_a_cross_site_fetch_is_cross_site() {
        assert!(!cross_site(&headers(&[("host", "a.example"), ("origin", "https://a.example")])));
        assert!(!cross_site(&headers(&[("host", "a.example")])));
        assert!(cross_site(&headers(&[("host", "a.example"), ("origin", "https://evil.example")])));
        assert!(cross_site(&headers(&[("host", "a.example"), ("origin", "null")])));
        assert!(cross_site(&headers(&[("host", "a.example"), ("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&headers(&[("host", "a.example"), ("sec-fetch-site", "same-site")])));
        assert!(!cross_site(&headers(&[("host", "a.example"), ("sec-fetch-site", "same-origin")])));
        // A same-origin form under a strict referrer policy says `Origin: null`.
        assert!(!cross_site(&headers(&[("host", "a.example"), ("origin", "null"), ("sec-fetch-site", "same-origin")])));
    }

    #[test]
    fn only_a_well_formed_cookie_counts() {
        let good = "a".repeat(43);
        assert_eq!(presented_cookie(&headers(&[("cookie", &format!("x=1; {CSRF_COOKIE}={good}"))])), Some(&*good));
        assert_eq!(presented_cookie(&headers(&[("cookie", &format!("{CSRF_COOKIE}=short"))])), None);
        assert_eq!(presented_cookie(&headers(&[("cookie", &format!("{CSRF_COOKIE}={}\"", "a".repeat(40)))])), None);
    }
}
