//! SDK configuration for emulators (moto) in tests and benchmarks: static
//! test credentials, a fixed region, the given endpoint, and optionally a
//! call counter on every client.

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
/// counter attached when given.
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kms: aws_sdk_kms::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Clients {
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
