//! Delivers codes: consumes the delivery queue, sends through the channel's provider.

use secure2fa_aws::AwsClients;
use secure2fa_lambda::config::{Config, Needs};
use secure2fa_lambda::sqs::{SqsWorker, run};
use secure2fa_lambda::wiring::{services, worker};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    secure2fa_lambda::init_tracing();
    // The webhook queue receives delivery.failed events.
    let needs = Needs { table: true, kms: true, delivery_queue: true, webhook_queue: true, ..Needs::default() };
    let cfg = Config::from_env(needs)?;
    let aws = AwsClients::from_env().await;
    let worker = worker(&aws, &services(&aws, &cfg), &cfg)?;
    run(SqsWorker {
        worker,
        sqs: aws.sqs(),
        queue_url: cfg.delivery_queue_url.clone(),
        max_receive_count: cfg.max_receive_count,
    })
    .await
}
