//! Lambda glue for Secure-2FA: configuration from the environment, the AWS
//! adapters wired into the core services, the HTTP entry point (an axum
//! router handed to `lambda_http`) and the SQS batch entry point (partial
//! batch failures). Function binaries are a few lines on top of this.

pub mod config;
pub mod http;
pub mod sqs;
pub mod wiring;

pub use config::{Config, ConfigError};

pub mod emf;

/// JSON logs to stdout (CloudWatch), filtered by `RUST_LOG` or `info`, and
/// the metric events of [`secure2fa_core::metrics`] as embedded-metric-format
/// lines instead of log lines ([`emf::EmfLayer`]).
pub fn init_tracing() {
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| {
            tracing_subscriber::EnvFilter::try_new(
                std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "info".into()).to_lowercase(),
            )
        })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter_fn(|m| m.target() != secure2fa_core::metrics::TARGET));
    let service = std::env::var("METRICS_SERVICE").unwrap_or_else(|_| "secure2fa".into());
    tracing_subscriber::registry().with(filter).with(logs).with(emf::EmfLayer::stdout(service)).init();
}
