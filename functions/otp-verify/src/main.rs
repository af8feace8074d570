//! `POST /otp/verify` behind API Gateway.

use secure2fa_aws::AwsClients;
use secure2fa_http::{IpRateLimit, OtpRoutes, base_router, otp_router};
use secure2fa_lambda::config::{Config, Needs};
use secure2fa_lambda::wiring::{otp_service, services};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    secure2fa_lambda::init_tracing();
    // Verify queues webhook events only.
    let cfg = Config::from_env(Needs { table: true, kms: true, webhook_queue: true, ..Needs::default() })?;
    let services = services(&AwsClients::from_env().await, &cfg);
    let ip_limit = cfg.ip_limit_per_minute.map(IpRateLimit::per_minute);
    let router = base_router().merge(otp_router(otp_service(&services), OtpRoutes::Verify, ip_limit));
    secure2fa_lambda::http::run(router).await
}
