//! HTTP for Secure-2FA: axum routers that translate requests into use cases
//! in `secure2fa-core` and their results back into JSON. The very same
//! routers are handed to `lambda_http::run` and served by the local server.
//!
//! Must not depend on AWS or on any storage adapter.

mod account;
mod client_ip;
mod error;
mod management;
mod openapi;
mod otp;
mod rate_limit;
mod receipts;
mod records;
mod routes;

use axum::Router;
use error::ErrorBody;

pub use account::{SESSION_COOKIE, account_router, request_cookie, session_cookie, session_set_cookie};
pub use client_ip::ClientIp;
pub use error::{ApiError, RateLimitReason};
pub use management::{management_router, operator_only};
pub use openapi::{openapi, openapi_json};
pub use otp::{EncryptedRequest, MAX_BODY_BYTES, OtpRoutes, otp_router};
pub use rate_limit::IpRateLimit;
pub use receipts::receipts_router;

/// Marks an answer that shows a secret once (a key, a token, backup codes,
/// a session cookie) as never to be cached.
pub(crate) fn uncached(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// `GET /health` and JSON answers for unknown routes and methods; merge the
/// feature routers into this.
pub fn base_router() -> Router {
    base_routes().into_router().fallback(|| async { ApiError::NotFound("no such route".into()) })
}

fn base_routes() -> routes::Routes<()> {
    routes::Routes::new().at(utoipa_axum::routes!(health))
}

/// `GET /health`'s answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    #[schema(schema_with = ok_only)]
    status: &'static str,
}

fn ok_only() -> utoipa::openapi::Object {
    openapi::string_enum(&["ok"])
}

#[utoipa::path(
    get, path = "/health", tag = "Service", summary = "Liveness", security(),
    responses((status = 200, description = "OK", body = Health), (status = "default", response = ErrorBody)),
)]
async fn health() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Every route table of this crate, each with its documentation: the
/// routers are built from these very tables.
fn route_tables() -> Vec<(Vec<(String, http::Method)>, utoipa::openapi::OpenApi)> {
    vec![
        base_routes().into_parts(),
        otp::routes(OtpRoutes::Both).into_parts(),
        management::public_routes().into_parts(),
        management::routes().into_parts(),
        account::routes().into_parts(),
        receipts::routes().into_parts(),
    ]
}

/// Every route the routers of this crate serve (path template, method).
pub fn served_routes() -> Vec<(String, http::Method)> {
    route_tables().into_iter().flat_map(|(served, _)| served).collect()
}

/// The layers every served router gets, Lambda or local: error answers in
/// the JSON error format whatever produced them (see [`json_errors`]), and
/// request tracing without bodies or query strings (they may hold personal
/// data): method, route, status, latency.
pub fn with_edge_layers(router: Router) -> Router {
    use tower_http::trace::{DefaultOnResponse, TraceLayer};
    router
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn(count_server_errors))
        .layer(
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

/// Counts every 5xx answer by route ([`secure2fa_core::metrics::SERVER_ERRORS`]):
/// a store or key-vault outage answers 503 from an invocation that succeeds,
/// which Lambda's own `Errors` metric never sees.
async fn count_server_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    if response.status().is_server_error() {
        secure2fa_core::metrics::count(secure2fa_core::metrics::SERVER_ERRORS, &route);
    }
    response
}

/// Rewrites an error answer that is not JSON (axum's own rejections: a
/// query string or path that does not parse, a body over the limit) into
/// `{"error": {"code", "message"}}` with the same status. The original
/// text is dropped: it may quote the submitted value.
async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = response.status();
    let content_type =
        response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    // JSON already, or one of the dashboard's error pages (HTML on purpose).
    let formatted = content_type.starts_with("application/json") || content_type.starts_with("text/html");
    if !(status.is_client_error() || status.is_server_error()) || formatted {
        return response;
    }
    let error = match status.as_u16() {
        404 => ApiError::NotFound("no such route".into()),
        405 => ApiError::MethodNotAllowed,
        413 => ApiError::PayloadTooLarge,
        415 => ApiError::UnsupportedMediaType,
        400..=499 => ApiError::InvalidRequest("the request's path, query string or body is invalid".into()),
        _ => ApiError::Internal(format!("non-JSON error answer with status {status}")),
    };
    let mut json = error.into_response();
    *json.status_mut() = status;
    json
}

#[cfg(test)]
mod route_table {
    use std::collections::BTreeSet;

    /// The served OpenAPI document describes exactly the operations the
    /// route tables hand to axum: none is lost merging the tables'
    /// documents or serializing them, none documented that is not served.
    /// (`shared/server`'s `every_documented_path_is_served` calls each
    /// documented operation on a running server.)
    #[test]
    fn every_served_route_is_documented_and_every_documented_one_served() {
        let served: BTreeSet<(String, String)> =
            super::served_routes().into_iter().map(|(p, m)| (p, m.as_str().to_lowercase())).collect();
        let doc: serde_json::Value = serde_json::from_str(super::openapi_json()).unwrap();
        let mut documented = BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    documented.insert((path.clone(), method.clone()));
                }
            }
        }
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(undocumented.is_empty() && unserved.is_empty(), "undocumented {undocumented:?}, unserved {unserved:?}");
        assert_eq!(served.len(), 52);
    }
}
