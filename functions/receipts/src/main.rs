//! The providers' delivery receipts (`POST /receipts/...`): a function of
//! its own, because its callers are the providers, unauthenticated until
//! the provider's signature or the channel's secret checks. Its role reads
//! clients, channels and projects, writes end users' receipts and logs, and
//! queues `delivery.failed` events; nothing of the management API's reach.

use secure2fa_aws::AwsClients;
use secure2fa_http::{base_router, receipts_router};
use secure2fa_lambda::config::{Config, Needs};
use secure2fa_lambda::wiring::{receipts, services};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    secure2fa_lambda::init_tracing();
    // The webhook queue: a failed delivery's receipt emits `delivery.failed`.
    let needs = Needs { table: true, kms: true, webhook_queue: true, ..Needs::default() };
    let cfg = Config::from_env(needs)?;
    let aws = AwsClients::from_env().await;
    let services = services(&aws, &cfg);
    let router = base_router().merge(receipts_router(receipts(&services), cfg.public_url.clone()));
    secure2fa_lambda::http::run(router).await
}
