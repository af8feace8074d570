//! The HTTP entry point: the shared axum router behind `lambda_http`, with
//! the caller's IP taken from API Gateway's request context.

use std::net::IpAddr;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use secure2fa_http::ClientIp;

fn source_ip(req: &Request) -> Option<IpAddr> {
    let ip = match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.clone(),
        RequestContext::ApiGatewayV1(ctx) => ctx.identity.source_ip.clone(),
        _ => None,
    }?;
    ip.parse().ok()
}

async fn client_ip(mut req: Request, next: Next) -> axum::response::Response {
    if let Some(ip) = source_ip(&req) {
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

/// Adds request tracing and the client IP to a router.
pub fn prepare(router: Router) -> Router {
    secure2fa_http::with_edge_layers(router.layer(middleware::from_fn(client_ip)))
}

/// Serves `router` as this Lambda's handler.
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(prepare(router)).await
}
