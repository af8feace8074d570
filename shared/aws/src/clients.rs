//! The SDK clients the service uses, built once from one configuration,
//! optionally with a call counter on each; and the emulator configuration
//! (moto) for tests and benchmarks.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

use crate::CallCounter;

pub async fn emulator_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "emulator"))
        .load()
        .await
}

/// Every SDK call is bounded, so that a stalled connection cannot use up a
/// whole invocation (10 s; 20 s for the delivery worker): 1 s to connect, 3 s
/// per attempt, 6 s for the call with its retries. Then the use case answers
/// 503 (or the job is retried) while the function still runs.
pub fn sdk_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(6))
        .build()
}

/// Builds the SDK clients the service uses from one config, each with the
/// counter attached when given, and [`sdk_timeouts`]. A client is built only when asked for, so a
/// function pays at cold start only for the services it calls.
#[derive(Clone)]
pub struct AwsClients {
    config: SdkConfig,
    counter: Option<CallCounter>,
}

macro_rules! client {
    ($name:ident, $krate:ident) => {
        pub fn $name(&self) -> $krate::Client {
            let mut b = $krate::config::Builder::from(&self.config).timeout_config(sdk_timeouts());
            if let Some(c) = &self.counter {
                b = b.interceptor(c.clone());
            }
            $krate::Client::from_conf(b.build())
        }
    };
}

impl AwsClients {
    /// From the default chain: environment (including `AWS_ENDPOINT_URL`),
    /// then the Lambda role.
    pub async fn from_env() -> Self {
        Self::new(&aws_config::load_defaults(BehaviorVersion::latest()).await, None)
    }

    pub fn new(config: &SdkConfig, counter: Option<&CallCounter>) -> Self {
        Self { config: config.clone(), counter: counter.cloned() }
    }

    client!(dynamodb, aws_sdk_dynamodb);
    client!(kms, aws_sdk_kms);
    client!(sqs, aws_sdk_sqs);
    client!(ses, aws_sdk_sesv2);
    client!(secrets, aws_sdk_secretsmanager);
}
