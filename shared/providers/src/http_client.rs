//! The one HTTP client every HTTP provider shares, and how a call to a provider is made: bounded
//! in time, never redirected, its answer read up to a fixed size.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use secure2fa_core::ports::SendError;

/// Timeouts of the shared provider client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// Opening the TCP and TLS connection.
    pub connect: Duration,
    /// A whole call: connect, request, and the answer read to its end.
    pub total: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(5), total: Duration::from_secs(10) }
    }
}

/// Largest provider answer read; the rest is dropped (every documented answer is far smaller).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The client the HTTP providers share: one connection pool, the given timeouts, no redirects
/// (a provider that redirects is misconfigured, and a redirect would carry our credentials to
/// wherever it points).
pub fn provider_http_client(timeouts: HttpTimeouts) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Secure2FA/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A provider's answer, whatever its status.
pub(crate) struct ProviderResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ProviderResponse {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends `request` and reads the answer. Transport failures are transient (the message may or
/// may not have left; the provider's idempotency is not ours to assume, and a lost code costs
/// the user a resend, a doubled one nothing), with a fixed reason.
pub(crate) async fn execute(provider: &'static str, request: RequestBuilder) -> Result<ProviderResponse, SendError> {
    let mut response = request.send().await.map_err(|e| transport_error(provider, &e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(provider, &e))? {
        let room = MAX_RESPONSE_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_RESPONSE_BYTES {
            break;
        }
    }
    Ok(ProviderResponse { status, headers, body })
}

fn transport_error(provider: &'static str, e: &reqwest::Error) -> SendError {
    if e.is_builder() {
        // Only reachable with credentials that cannot go in a header: retrying cannot help.
        return SendError::Permanent(format!(
            "{provider}: the request could not be built from the channel credentials"
        ));
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    SendError::Transient(format!("{provider}: {what}"))
}
