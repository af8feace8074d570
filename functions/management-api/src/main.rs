//! The management JSON API (`/v1/...`), its OpenAPI document, and the
//! dashboard's pages (`/`).

use secure2fa_aws::AwsClients;
use secure2fa_dashboard::{DashboardOptions, dashboard_router};
use secure2fa_http::{account_router, base_router, management_router};
use secure2fa_lambda::config::{Config, Needs};
use secure2fa_lambda::wiring::{management, services};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    secure2fa_lambda::init_tracing();
    let needs = Needs { table: true, kms: true, secrets: true, delivery_queue: true, webhook_queue: true };
    let cfg = Config::from_env(needs)?;
    let aws = AwsClients::from_env().await;
    let services = services(&aws, &cfg);
    let (manage, accounts, operator_token) = management(&aws, &services, &cfg).await?;
    // API Gateway serves https only.
    let pages = DashboardOptions { https: true, api_base_url: cfg.public_url.clone() };
    let router = base_router()
        .merge(management_router(manage.clone(), accounts.clone(), operator_token))
        .merge(account_router(accounts.clone()))
        .merge(dashboard_router(manage, accounts, pages));
    secure2fa_lambda::http::run(router).await
}
