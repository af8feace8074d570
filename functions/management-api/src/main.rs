//! The management JSON API (`/v1/...`) and its OpenAPI document, and the
//! providers' delivery receipts (`/receipts/...`).

use secure2fa_aws::AwsClients;
use secure2fa_http::{base_router, management_router, receipts_router};
use secure2fa_lambda::config::{Config, Needs};
use secure2fa_lambda::wiring::{management, receipts, services};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    secure2fa_lambda::init_tracing();
    // The webhook queue: a failed delivery's receipt emits `delivery.failed`.
    let needs = Needs { table: true, kms: true, secrets: true, webhook_queue: true, ..Needs::default() };
    let cfg = Config::from_env(needs)?;
    let aws = AwsClients::from_env().await;
    let services = services(&aws, &cfg);
    let (manage, operator_token) = management(&aws, &services, &cfg).await?;
    let router = base_router()
        .merge(management_router(manage, operator_token))
        .merge(receipts_router(receipts(&services), cfg.public_url.clone()));
    secure2fa_lambda::http::run(router).await
}
