//! Lambda glue for Secure-2FA: configuration from the environment, the AWS
//! adapters wired into the core services, the HTTP entry point (an axum
//! router handed to `lambda_http`) and the SQS batch entry point (partial
//! batch failures). Function binaries are a few lines on top of this.

pub mod config;
pub mod http;
pub mod sqs;
pub mod wiring;

pub use config::{Config, ConfigError};

/// JSON logs to stdout (CloudWatch), filtered by `RUST_LOG` or `info`.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| {
            tracing_subscriber::EnvFilter::try_new(
                std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "info".into()).to_lowercase(),
            )
        })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_ansi(false)
        .with_target(false)
        .init();
}
