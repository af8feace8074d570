use std::time::Duration;

use async_trait::async_trait;
use secure2fa_core::ports::WebhookPoster;

/// Posts webhook bodies with reqwest: 10 s timeout, no redirects (a redirect
/// could send the signed event somewhere the client did not configure).
#[derive(Clone)]
pub struct HttpWebhookPoster {
    http: reqwest::Client,
}

impl HttpWebhookPoster {
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Secure2FA-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http })
    }
}

#[async_trait]
impl WebhookPoster for HttpWebhookPoster {
    async fn post(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String> {
        let mut req = self.http.post(url).body(body.to_vec());
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        match req.send().await {
            Ok(resp) => Ok(resp.status().as_u16()),
            // Only the error kind: the URL may carry a token.
            Err(e) if e.is_timeout() => Err("timed out".into()),
            Err(e) if e.is_connect() => Err("connection failed".into()),
            Err(_) => Err("request failed".into()),
        }
    }
}
