//! Delivers codes: consumes the delivery queue, sends through the channel's provider.

use secure2fa_aws::AwsClients;
use secure2fa_lambda::config::{Config, Needs};
use secure2fa_lambda::sqs::run;
use secure2fa_lambda::wiring::sqs_worker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    secure2fa_lambda::init_tracing();
    // The webhook queue receives delivery.failed events.
    let cfg = Config::from_env(Needs {
        table: true,
        kms: true,
        delivery_queue: true,
        webhook_queue: true,
        ..Needs::default()
    })?;
    let aws = AwsClients::from_env().await;
    run(sqs_worker(&aws, &cfg, &cfg.delivery_queue_url)?).await
}
