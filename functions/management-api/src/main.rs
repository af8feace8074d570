//! The management JSON API (`/v1/...`) and its OpenAPI document.

use secure2fa_aws::AwsClients;
use secure2fa_http::{base_router, management_router};
use secure2fa_lambda::config::{Config, Needs};
use secure2fa_lambda::wiring::{management, services};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    secure2fa_lambda::init_tracing();
    let needs = Needs { table: true, kms: true, secrets: true, ..Needs::default() };
    let cfg = Config::from_env(needs)?;
    let aws = AwsClients::from_env().await;
    let services = services(&aws, &cfg);
    let (manage, operator_token) = management(&aws, &services, &cfg).await?;
    secure2fa_lambda::http::run(base_router().merge(management_router(manage, operator_token))).await
}
