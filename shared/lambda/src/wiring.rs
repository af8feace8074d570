//! Builds the core services over the AWS adapters, once per cold start.

use std::sync::Arc;
use std::time::Duration;

use secure2fa_aws::secrets::{load_deployment_secrets, load_operator_token};
use secure2fa_aws::{AwsClients, DynamoQuotas, DynamoStore, KmsKeyVault, SesSender, SqsJobQueue, SqsQueueAdmin};
use secure2fa_core::accounts::{Accounts, SystemMailer};
use secure2fa_core::clock::SystemClock;
use secure2fa_core::crypto::DataKeyCache;
use secure2fa_core::manage::Management;
use secure2fa_core::model::ProviderKind;
use secure2fa_core::otp::{OtpService, Receipts, Worker};
use secure2fa_core::ports::MessageSender;
use secure2fa_core::secrets::OperatorToken;
use secure2fa_core::services::{ServiceConfig, Services as CoreServices};
use secure2fa_providers::{
    AddressPolicy, HttpWebhookPoster, ProviderReceiptReader, ProviderRegistry, ProvidersConfig, SmtpOptions,
};

use crate::Config;
use crate::sqs::SqsWorker;

/// The AWS adapters, and the use cases assembled over them by the one
/// constructor every entry point uses ([`secure2fa_core::services::Services`]).
pub struct Services {
    pub store: Arc<DynamoStore>,
    pub keys: Arc<DataKeyCache>,
    pub queue: Arc<SqsJobQueue>,
    pub core: CoreServices,
}

pub fn services(aws: &AwsClients, cfg: &Config) -> Services {
    let vault = KmsKeyVault::new(aws.kms(), &cfg.kms_key_id);
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), &cfg.table_name));
    let queue = Arc::new(SqsJobQueue::new(aws.sqs(), &cfg.delivery_queue_url, &cfg.webhook_queue_url));
    let config = ServiceConfig {
        key_cache_ttl: Duration::from_secs(cfg.key_cache_ttl_seconds),
        read_cache_ttl: (cfg.read_cache_ttl_seconds > 0).then(|| Duration::from_secs(cfg.read_cache_ttl_seconds)),
        public_url: cfg.public_url.clone(),
        ses_senders: cfg.ses_senders.clone(),
        ..Default::default()
    };
    // A project's calls spread over many instances: its quota is counted in
    // the table, shared by all of them.
    let quotas = Arc::new(DynamoQuotas::new(store.as_ref().clone()));
    let core = CoreServices::new(store.clone(), Arc::new(vault), queue.clone(), Arc::new(SystemClock), quotas, &config);
    Services { store, keys: core.keys.clone(), queue, core }
}

pub fn otp_service(s: &Services) -> OtpService {
    s.core.otp()
}

type SetupError = Box<dyn std::error::Error + Send + Sync>;

fn address_policy(cfg: &Config) -> AddressPolicy {
    if cfg.allow_private_webhooks { AddressPolicy::AllowPrivate } else { AddressPolicy::PublicOnly }
}

/// SES from the deployment's allowed senders, with its configuration set:
/// the channels' and the account mail's.
fn ses_sender(aws: &AwsClients, cfg: &Config) -> SesSender {
    SesSender::new(aws.ses(), cfg.ses_senders.clone(), cfg.ses_configuration_set.clone())
}

/// SES and every provider of `secure2fa-providers`, for the channels.
fn senders(aws: &AwsClients, cfg: &Config) -> Result<Arc<dyn MessageSender>, SetupError> {
    let ses = ses_sender(aws, cfg);
    let providers = ProvidersConfig {
        endpoints: cfg.provider_endpoints.clone(),
        smtp: SmtpOptions { address_policy: address_policy(cfg), ..Default::default() },
        ..Default::default()
    };
    Ok(Arc::new(ProviderRegistry::with_providers(&providers)?.with(ProviderKind::Ses, Arc::new(ses))))
}

/// The background worker: the channels' providers, signed webhooks over HTTPS.
pub fn worker(aws: &AwsClients, s: &Services, cfg: &Config) -> Result<Worker, SetupError> {
    let webhooks = HttpWebhookPoster::new(address_policy(cfg), HttpWebhookPoster::DEFAULT_TIMEOUT)?;
    Ok(s.core.worker(senders(aws, cfg)?, Arc::new(webhooks)))
}

/// The delivery receipts use case (the management function serves it).
pub fn receipts(s: &Services) -> Receipts {
    s.core.receipts(Arc::new(ProviderReceiptReader))
}

/// A worker Lambda's SQS consumer for `queue_url`, sharing the job queue's
/// SQS client (to set retry backoff) rather than building a second one.
pub fn sqs_worker(aws: &AwsClients, cfg: &Config, queue_url: &str) -> Result<SqsWorker, SetupError> {
    let s = services(aws, cfg);
    Ok(SqsWorker {
        worker: worker(aws, &s, cfg)?,
        sqs: s.queue.client().clone(),
        queue_url: queue_url.to_owned(),
        max_receive_count: cfg.max_receive_count,
    })
}

/// The management API's dependencies, with both secrets read from Secrets
/// Manager now (cold start) and kept for the life of the instance; test
/// messages go through the same providers as the delivery worker's.
pub async fn management(
    aws: &AwsClients,
    s: &Services,
    cfg: &Config,
) -> Result<(Management, Accounts, OperatorToken), SetupError> {
    let sm = aws.secrets();
    let (secrets, token) = tokio::try_join!(
        load_deployment_secrets(&sm, &cfg.deployment_secret_id),
        load_operator_token(&sm, &cfg.operator_token_secret_id)
    )?;
    let mut manage =
        s.core.management(secrets.index_key.clone(), cfg.allow_http_webhooks).with_sender(senders(aws, cfg)?);
    // Queue health and redrive, where the function is given the queues.
    if let (Some(delivery_dlq), Some(webhook_dlq)) = (&cfg.delivery_dlq_url, &cfg.webhook_dlq_url) {
        let queues = vec![
            ("delivery", cfg.delivery_queue_url.clone(), delivery_dlq.clone()),
            ("webhook", cfg.webhook_queue_url.clone(), webhook_dlq.clone()),
        ];
        manage = manage.with_queue_admin(Arc::new(SqsQueueAdmin::new(aws.sqs(), queues)));
    }
    // Account mail (sign-up, reset) through SES from the deployment's sender.
    let mailer = SystemMailer {
        sender: Arc::new(ses_sender(aws, cfg)),
        provider: ProviderKind::Ses,
        credentials: Arc::new(serde_json::json!({})),
    };
    let accounts = s.core.accounts(secrets.index_key.clone(), mailer, cfg.public_url.as_deref());
    Ok((manage, accounts, token))
}
