//! The SDK clients the service uses, built once from one configuration,
//! optionally with a call counter on each; and the emulator configuration
//! (moto) for tests and benchmarks.

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

/// Builds the SDK clients the service uses from one config, each with the
/// counter attached when given. A client is built only when asked for, so a
/// function pays at cold start only for the services it calls.
#[derive(Clone)]
pub struct AwsClients {
    config: SdkConfig,
    counter: Option<CallCounter>,
}

macro_rules! client {
    ($name:ident, $krate:ident) => {
        pub fn $name(&self) -> $krate::Client {
            let mut b = $krate::config::Builder::from(&self.config);
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
