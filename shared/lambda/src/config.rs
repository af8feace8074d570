//! Configuration from environment variables, read once at cold start. A
//! function that lacks any variable it needs stops at init with one message
//! naming all of them.

use std::num::NonZeroU32;

use secure2fa_core::providers::SesSenders;
use secure2fa_providers::ProviderEndpoints;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variables: {}", .0.join(", "))]
    Missing(Vec<&'static str>),
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(&'static str, String),
    #[error("environment variable {0}")]
    Endpoint(#[from] secure2fa_providers::EndpointError),
}

/// What a function needs from the environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub table: bool,
    pub kms: bool,
    pub delivery_queue: bool,
    pub webhook_queue: bool,
    pub secrets: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub kms_key_id: String,
    pub delivery_queue_url: String,
    pub webhook_queue_url: String,
    /// The queues' dead-letter queues (the management function's queue
    /// health and redrive); `None` where the function has no need of them.
    pub delivery_dlq_url: Option<String>,
    pub webhook_dlq_url: Option<String>,
    /// Secrets Manager id of `{"master": ...}`.
    pub deployment_secret_id: String,
    /// Secrets Manager id of `{"operator_token": ...}`.
    pub operator_token_secret_id: String,
    /// `SES_FROM_ADDRESS` (the default sender, also of account mail) and
    /// `SES_ALLOWED_SENDERS` (further addresses and `@domain`s).
    pub ses_senders: SesSenders,
    pub ses_configuration_set: Option<String>,
    /// Must equal the queue's redrive `maxReceiveCount`.
    pub max_receive_count: u32,
    pub ip_limit_per_minute: Option<NonZeroU32>,
    pub key_cache_ttl_seconds: u64,
    /// How long projects, channels, templates and clients stay in the
    /// function's read cache (0: no cache). A change made through the
    /// management API reaches running OTP functions and workers within it.
    pub read_cache_ttl_seconds: u64,
    /// Accept `http://` webhook URLs (private networks, emulators). Off by default.
    pub allow_http_webhooks: bool,
    /// Let webhooks reach private, loopback and link-local addresses (a
    /// receiver inside the deployer's own network). Off by default: a
    /// client's webhook URL must not reach inside ours.
    pub allow_private_webhooks: bool,
    /// Base URLs of the HTTP email and SMS providers: the real ones unless
    /// the deployment sets `TWILIO_API_URL` and the like (private endpoints,
    /// tests). A client's channel never chooses them.
    pub provider_endpoints: ProviderEndpoints,
    /// The deployment's public base URL (`PUBLIC_URL`, the HTTP API's URL
    /// in the template): where providers post delivery receipts.
    pub public_url: Option<String>,
}

impl Config {
    pub fn from_env(needs: Needs) -> Result<Self, ConfigError> {
        Self::from_lookup(needs, |k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(needs: Needs, get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut missing = Vec::new();
        let mut required = |name: &'static str, needed: bool| -> String {
            match get(name) {
                Some(v) => v,
                None => {
                    if needed {
                        missing.push(name);
                    }
                    String::new()
                }
            }
        };
        let table_name = required("TABLE_NAME", needs.table);
        let kms_key_id = required("KMS_KEY_ID", needs.kms);
        let delivery_queue_url = required("DELIVERY_QUEUE_URL", needs.delivery_queue);
        let webhook_queue_url = required("WEBHOOK_QUEUE_URL", needs.webhook_queue);
        let deployment_secret_id = required("DEPLOYMENT_SECRET_ID", needs.secrets);
        let operator_token_secret_id = required("OPERATOR_TOKEN_SECRET_ID", needs.secrets);
        if !missing.is_empty() {
            return Err(ConfigError::Missing(missing));
        }
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            get(name)
                .map(|v| v.parse().map_err(|_| ConfigError::Invalid(name, "not a whole number".into())))
                .transpose()
                .map(|v| v.unwrap_or(default))
        };
        Ok(Self {
            table_name,
            kms_key_id,
            delivery_queue_url,
            webhook_queue_url,
            delivery_dlq_url: get("DELIVERY_DLQ_URL"),
            webhook_dlq_url: get("WEBHOOK_DLQ_URL"),
            deployment_secret_id,
            operator_token_secret_id,
            ses_senders: SesSenders::new(
                get("SES_FROM_ADDRESS").as_deref(),
                get("SES_ALLOWED_SENDERS").as_deref().unwrap_or(""),
            )
            .map_err(|e| ConfigError::Invalid("SES_FROM_ADDRESS/SES_ALLOWED_SENDERS", e))?,
            ses_configuration_set: get("SES_CONFIGURATION_SET"),
            max_receive_count: number("MAX_RECEIVE_COUNT", 5)?.clamp(1, 1000) as u32,
            // Off unless set: the callers are backends, from few addresses.
            ip_limit_per_minute: NonZeroU32::new(number("IP_LIMIT_PER_MINUTE", 0)?.min(u32::MAX as u64) as u32),
            key_cache_ttl_seconds: number("KEY_CACHE_TTL_SECONDS", 900)?,
            read_cache_ttl_seconds: number("READ_CACHE_TTL_SECONDS", 0)?.min(3600),
            allow_http_webhooks: get("ALLOW_HTTP_WEBHOOKS").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            allow_private_webhooks: get("ALLOW_PRIVATE_WEBHOOKS").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            provider_endpoints: ProviderEndpoints::from_lookup(&get)?,
            public_url: get("PUBLIC_URL")
                .map(|u| secure2fa_core::providers::public_url(&u))
                .transpose()
                .map_err(|e| ConfigError::Invalid("PUBLIC_URL", e.into()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_variable_is_named_at_once() {
        let needs = Needs { table: true, kms: true, delivery_queue: true, ..Default::default() };
        let err = Config::from_lookup(needs, |k| (k == "KMS_KEY_ID").then(|| "alias/x".to_string())).unwrap_err();
        assert_eq!(err.to_string(), "missing environment variables: TABLE_NAME, DELIVERY_QUEUE_URL");
    }

    #[test]
    fn numbers_are_validated_and_defaulted() {
        let cfg = Config::from_lookup(Needs::default(), |_| None).unwrap();
        assert_eq!(cfg.max_receive_count, 5);
        assert_eq!(cfg.ip_limit_per_minute, None, "off unless set");
        let on = Config::from_lookup(Needs::default(), |k| (k == "IP_LIMIT_PER_MINUTE").then(|| "600".into())).unwrap();
        assert_eq!(on.ip_limit_per_minute.map(|n| n.get()), Some(600));
        let err =
            Config::from_lookup(Needs::default(), |k| (k == "MAX_RECEIVE_COUNT").then(|| "five".into())).unwrap_err();
        assert!(err.to_string().contains("MAX_RECEIVE_COUNT"));
        let off = Config::from_lookup(Needs::default(), |k| (k == "IP_LIMIT_PER_MINUTE").then(|| "0".into())).unwrap();
        assert!(off.ip_limit_per_minute.is_none());
    }

    #[test]
    fn provider_endpoints_default_to_the_providers_and_only_the_deployment_overrides_them() {
        let cfg = Config::from_lookup(Needs::default(), |_| None).unwrap();
        assert_eq!(cfg.provider_endpoints, ProviderEndpoints::default());
        let cfg =
            Config::from_lookup(Needs::default(), |k| (k == "TWILIO_API_URL").then(|| "http://127.0.0.1:9/t".into()))
                .unwrap();
        assert_eq!(cfg.provider_endpoints.twilio.as_str(), "http://127.0.0.1:9/t");
        let err =
            Config::from_lookup(Needs::default(), |k| (k == "PLIVO_API_URL").then(|| "ftp://x".into())).unwrap_err();
        assert!(err.to_string().contains("PLIVO_API_URL"), "{err}");
    }

    #[test]
    fn ses_senders_come_from_the_default_and_the_allowed_list() {
        let env = |k: &str| match k {
            "SES_FROM_ADDRESS" => Some("codes@operator.example".to_string()),
            "SES_ALLOWED_SENDERS" => Some("@mail.operator.example".to_string()),
            _ => None,
        };
        let cfg = Config::from_lookup(Needs::default(), env).unwrap();
        assert!(
            cfg.ses_senders.permits("codes@operator.example") && cfg.ses_senders.permits("a@mail.operator.example")
        );
        assert!(!cfg.ses_senders.permits("ceo@operator.example"));
        let err =
            Config::from_lookup(Needs::default(), |k| (k == "SES_ALLOWED_SENDERS").then(|| "ceo".into())).unwrap_err();
        assert!(err.to_string().contains("SES_ALLOWED_SENDERS"), "{err}");
    }
}
