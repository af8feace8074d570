//! Posts signed webhook events: consumes the webhook queue.

use secure2fa_aws::AwsClients;
use secure2fa_lambda::config::{Config, Needs};
use secure2fa_lambda::sqs::run;
use secure2fa_lambda::wiring::sqs_worker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    secure2fa_lambda::init_tracing();
    let cfg = Config::from_env(Needs { table: true, kms: true, webhook_queue: true, ..Needs::default() })?;
    let aws = AwsClients::from_env().await;
    run(sqs_worker(&aws, &cfg, &cfg.webhook_queue_url)?).await
}
