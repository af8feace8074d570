//! The webhook poster, guarded against server-side request forgery.
//!
//! A tenant chooses the webhook URL, so without a guard it could make this service POST to
//! loopback, a private network or the cloud metadata service (169.254.169.254) and learn from the
//! outcome. The guard refuses every non-public address (see [`AddressPolicy`]) at connect time,
//! in the DNS resolver reqwest uses to open connections, so that a DNS answer that changes after
//! a check (rebinding) is refused too; IP literals, which reqwest never resolves, are checked
//! before sending. Redirects are not followed, proxies are not used (a proxy would resolve the
//! name itself, out of our reach), and the response body is never read. Errors are fixed strings:
//! a receiver's status text, body or address would turn the tenant-visible log into a port
//! scanner.

mod address;
mod resolver;

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Name, Resolve};
use secure2fa_core::ports::WebhookPoster;
use url::{Host, Url};

pub use address::AddressPolicy;
use resolver::{DestinationRefused, GuardedResolver, SystemResolver};

/// Posts webhook bodies with reqwest to the destinations an [`AddressPolicy`] allows.
#[derive(Clone)]
pub struct HttpWebhookPoster {
    http: reqwest::Client,
    resolver: Arc<GuardedResolver>,
    policy: AddressPolicy,
    timeout: Duration,
}

/// Why a post failed. Fieldless on purpose: the message is all that leaves this module.
#[derive(Debug, thiserror::Error)]
enum PostError {
    #[error("invalid webhook url")]
    InvalidUrl,
    #[error("destination address not allowed")]
    Refused,
    #[error("timed out")]
    TimedOut,
    #[error("connection failed")]
    ConnectFailed,
    #[error("request failed")]
    RequestFailed,
}

impl HttpWebhookPoster {
    /// The total time a post may take, from resolution to response headers, unless told otherwise:
    /// half the webhook worker's 10 s timeout, so that a receiver that hangs fails its own event
    /// and the rest of the batch (other tenants' events, posted at once) is still answered.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
    /// Bounds what an HTTP/2 receiver can push at us before we drop the unread body.
    const HTTP2_WINDOW: u32 = 64 * 1024;

    /// A poster that resolves names with the operating system's resolver. `timeout` bounds a
    /// whole post (resolution, connect, request, response headers).
    pub fn new(policy: AddressPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        Self::with_resolver(policy, timeout, Arc::new(SystemResolver))
    }

    /// A poster that resolves names with `resolver` (tests, or a custom DNS client). Its answers
    /// are still filtered by `policy`, at check time and at connect time.
    pub fn with_resolver(
        policy: AddressPolicy,
        timeout: Duration,
        resolver: Arc<dyn Resolve>,
    ) -> Result<Self, reqwest::Error> {
        let resolver = Arc::new(GuardedResolver::new(resolver, policy));
        let http = reqwest::Client::builder()
            .dns_resolver(resolver.clone())
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(Self::CONNECT_TIMEOUT)
            .http2_initial_stream_window_size(Self::HTTP2_WINDOW)
            .http2_initial_connection_window_size(Self::HTTP2_WINDOW)
            .user_agent(concat!("Secure2FA-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, resolver, policy, timeout })
    }

    async fn deliver(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<u16, PostError> {
        let url = Url::parse(url).map_err(|_| PostError::InvalidUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PostError::InvalidUrl);
        }
        self.check_destination(&url).await?;
        let mut req = self.http.post(url).body(body.to_vec());
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        match req.send().await {
            // Only the status is needed: the body is dropped unread, so a receiver cannot make us
            // spend time or memory on it.
            Ok(resp) => Ok(resp.status().as_u16()),
            Err(e) if refused_at_connect(&e) => Err(PostError::Refused),
            Err(e) if e.is_timeout() => Err(PostError::TimedOut),
            Err(e) if e.is_connect() => Err(PostError::ConnectFailed),
            Err(_) => Err(PostError::RequestFailed),
        }
    }

    /// Refuses IP literals the policy does not allow (reqwest connects to those without calling
    /// the resolver) and names that resolve to no allowed address. For names this check only
    /// fails early: the resolver enforces the policy again on the addresses actually connected to.
    async fn check_destination(&self, url: &Url) -> Result<(), PostError> {
        let allowed = |ip: IpAddr| if self.policy.allows(ip) { Ok(()) } else { Err(PostError::Refused) };
        match url.host() {
            Some(Host::Ipv4(ip)) => allowed(ip.into()),
            Some(Host::Ipv6(ip)) => allowed(ip.into()),
            // The URL parser already turns every IPv4 spelling into Host::Ipv4; parsing again
            // catches whatever hyper might still read as an address without resolving it.
            Some(Host::Domain(domain)) => match domain.parse::<IpAddr>() {
                Ok(ip) => allowed(ip),
                Err(_) => {
                    let name = Name::from_str(domain).map_err(|_| PostError::InvalidUrl)?;
                    self.resolver.resolve(name).await.map(drop).map_err(|_| PostError::Refused)
                }
            },
            None => Err(PostError::InvalidUrl),
        }
    }
}

/// Whether the guarded resolver refused the connection (the error travels up through hyper's
/// and reqwest's error types as a source).
fn refused_at_connect(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<DestinationRefused>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[async_trait]
impl WebhookPoster for HttpWebhookPoster {
    async fn post(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String> {
        // reqwest's own timeout does not cover the resolution in `check_destination`.
        match tokio::time::timeout(self.timeout, self.deliver(url, headers, body)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(PostError::TimedOut.to_string()),
        }
    }
}
