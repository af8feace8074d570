//! Where each HTTP provider's API lives. The real base URLs are fixed here; only the deployment
//! (the operator's configuration or environment, for tests and private endpoints) may replace
//! them. A client's channel credentials never choose a URL: a tenant who could would point the
//! service, holding its credentials, at any host it likes.

use std::fmt;

use secure2fa_core::model::ProviderKind;
use url::Url;

/// The base URL of every HTTP provider's API. [`Default`] is the providers' real endpoints.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderEndpoints {
    pub postmark: Url,
    pub sendgrid: Url,
    pub mailjet: Url,
    pub twilio: Url,
    pub plivo: Url,
    pub clicksend: Url,
}

/// A deployment override that is not a usable base URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct EndpointError {
    /// The configuration key (e.g. `TWILIO_API_URL`).
    pub name: String,
    pub reason: &'static str,
}

impl ProviderEndpoints {
    /// The configuration key of each overridable base URL. An entry point may prefix them (the
    /// local server reads `SECURE2FA_TWILIO_API_URL`, the Lambda functions `TWILIO_API_URL`).
    pub const KEYS: [(ProviderKind, &'static str); 6] = [
        (ProviderKind::Postmark, "POSTMARK_API_URL"),
        (ProviderKind::Sendgrid, "SENDGRID_API_URL"),
        (ProviderKind::Mailjet, "MAILJET_API_URL"),
        (ProviderKind::Twilio, "TWILIO_API_URL"),
        (ProviderKind::Plivo, "PLIVO_API_URL"),
        (ProviderKind::Clicksend, "CLICKSEND_API_URL"),
    ];

    /// The defaults, with every key of [`Self::KEYS`] that `lookup` answers (non-empty) applied
    /// as an override: `ProviderEndpoints::from_lookup(|k| std::env::var(k).ok())`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EndpointError> {
        let mut endpoints = Self::default();
        for (kind, key) in Self::KEYS {
            if let Some(value) = lookup(key).filter(|v| !v.trim().is_empty()) {
                endpoints.set(kind, value.trim()).map_err(|reason| EndpointError { name: key.to_owned(), reason })?;
            }
        }
        Ok(endpoints)
    }

    /// Replaces one provider's base URL: `http` or `https`, with a host, without credentials,
    /// query or fragment (a path prefix is kept).
    pub fn set(&mut self, kind: ProviderKind, base: &str) -> Result<(), &'static str> {
        let url = Url::parse(base).map_err(|_| "not a valid URL")?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL");
        }
        if url.host().is_none() {
            return Err("must name a host");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or fragment");
        }
        let slot = self.slot(kind).ok_or("this provider has no HTTP endpoint")?;
        *slot = url;
        Ok(())
    }

    /// The base URL of `kind`, for the HTTP providers.
    pub fn base(&self, kind: ProviderKind) -> Option<&Url> {
        match kind {
            ProviderKind::Postmark => Some(&self.postmark),
            ProviderKind::Sendgrid => Some(&self.sendgrid),
            ProviderKind::Mailjet => Some(&self.mailjet),
            ProviderKind::Twilio => Some(&self.twilio),
            ProviderKind::Plivo => Some(&self.plivo),
            ProviderKind::Clicksend => Some(&self.clicksend),
            ProviderKind::Outbox | ProviderKind::Ses | ProviderKind::Smtp => None,
        }
    }

    fn slot(&mut self, kind: ProviderKind) -> Option<&mut Url> {
        match kind {
            ProviderKind::Postmark => Some(&mut self.postmark),
            ProviderKind::Sendgrid => Some(&mut self.sendgrid),
            ProviderKind::Mailjet => Some(&mut self.mailjet),
            ProviderKind::Twilio => Some(&mut self.twilio),
            ProviderKind::Plivo => Some(&mut self.plivo),
            ProviderKind::Clicksend => Some(&mut self.clicksend),
            ProviderKind::Outbox | ProviderKind::Ses | ProviderKind::Smtp => None,
        }
    }
}

impl Default for ProviderEndpoints {
    fn default() -> Self {
        let url = |s: &str| Url::parse(s).expect("built-in provider URL");
        Self {
            postmark: url("https://api.postmarkapp.com"),
            sendgrid: url("https://api.sendgrid.com"),
            mailjet: url("https://api.mailjet.com"),
            twilio: url("https://api.twilio.com"),
            plivo: url("https://api.plivo.com"),
            clicksend: url("https://rest.clicksend.com"),
        }
    }
}

impl fmt::Debug for ProviderEndpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ProviderEndpoints");
        for (kind, _) in Self::KEYS {
            d.field(kind.as_str(), &self.base(kind).map(Url::as_str));
        }
        d.finish()
    }
}

/// `base` followed by `path` (which starts with `/`), keeping any path prefix of `base`.
pub(crate) fn join(base: &Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_providers_https_endpoints() {
        let e = ProviderEndpoints::default();
        for (kind, _) in ProviderEndpoints::KEYS {
            assert_eq!(e.base(kind).unwrap().scheme(), "https", "{kind:?}");
        }
        assert_eq!(join(&e.twilio, "/2010-04-01/Accounts"), "https://api.twilio.com/2010-04-01/Accounts");
    }

    #[test]
    fn overrides_come_only_from_the_named_keys() {
        let e = ProviderEndpoints::from_lookup(|k| match k {
            "TWILIO_API_URL" => Some("http://127.0.0.1:4010/twilio/".into()),
            "PLIVO_API_URL" => Some("  ".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(join(&e.twilio, "/2010-04-01/x"), "http://127.0.0.1:4010/twilio/2010-04-01/x");
        assert_eq!(e.plivo, ProviderEndpoints::default().plivo);
    }

    #[test]
    fn unusable_overrides_are_refused_with_their_key() {
        for bad in ["ftp://x", "not a url", "https://user:pw@api.example.com", "https://a.example.com/?q=1"] {
            let err =
                ProviderEndpoints::from_lookup(|k| (k == "SENDGRID_API_URL").then(|| bad.to_owned())).unwrap_err();
            assert_eq!(err.name, "SENDGRID_API_URL", "{bad}");
        }
        assert!(ProviderEndpoints::default().set(ProviderKind::Smtp, "https://x.example.com").is_err());
    }
}
