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

/// Every client the service uses, built from one config, each with the
/// counter attached when given. Clients are cheap to clone.
#[derive(Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kms: aws_sdk_kms::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl AwsClients {
    /// From the default chain: environment (including `AWS_ENDPOINT_URL`),
    /// then the Lambda role.
    pub async fn from_env() -> Self {
        Self::new(&aws_config::load_defaults(BehaviorVersion::latest()).await, None)
    }

    pub fn new(config: &SdkConfig, counter: Option<&CallCounter>) -> Self {
        macro_rules! client {
            ($krate:ident) => {{
                let mut b = $krate::config::Builder::from(config);
                if let Some(c) = counter {
                    b = b.interceptor(c.clone());
                }
                $krate::Client::from_conf(b.build())
            }};
        }
        Self {
            dynamodb: client!(aws_sdk_dynamodb),
            kms: client!(aws_sdk_kms),
            sqs: client!(aws_sdk_sqs),
            ses: client!(aws_sdk_sesv2),
            secrets: client!(aws_sdk_secretsmanager),
        }
    }
}
