//! HTTP for Secure-2FA: axum routers that translate requests into use cases
//! in `secure2fa-core` and their results back into JSON. The very same
//! routers are handed to `lambda_http::run` and served by the local server.
//!
//! Must not depend on AWS or on any storage adapter.

mod client_ip;
mod error;
mod management;
mod otp;
mod rate_limit;

use axum::Router;
use axum::routing::get;

pub use client_ip::ClientIp;
pub use error::ErrorResponse;
pub use management::{OPENAPI_JSON, management_router};
pub use otp::{MAX_BODY_BYTES, OtpRoutes, otp_router};
pub use rate_limit::IpRateLimit;

/// `GET /health` and JSON answers for unknown routes and methods; merge the
/// feature routers into this.
pub fn base_router() -> Router {
    Router::new()
        .route("/health", get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }))
        .fallback(|| async { ErrorResponse(secure2fa_core::ApiError::NotFound("no such route".into())) })
}

/// Request tracing without bodies or query strings (they may hold personal
/// data): method, route, status, latency.
pub fn with_tracing(router: Router) -> Router {
    use tower_http::trace::{DefaultOnResponse, TraceLayer};
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(|req: &http::Request<_>| {
                let route = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "unmatched".into());
                tracing::info_span!("http", method = %req.method(), route)
            })
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
    )
}
