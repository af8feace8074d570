//! Local-mode only: `GET /dev/outbox`, the messages the outbox delivered.

use axum::extract::{Query, Request, State};
use axum::http::header::HOST;
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use secure2fa_http::ApiError;
use secure2fa_local::{Outbox, OutboxMessage};
use serde::Deserialize;

#[derive(Deserialize)]
struct Params {
    limit: Option<usize>,
}

pub fn router(outbox: Outbox) -> Router {
    Router::new().route("/dev/outbox", get(list)).with_state(outbox)
}

/// Only requests addressed to this machine by a loopback name: a web page
/// the developer visits could otherwise rebind its own host name to
/// 127.0.0.1 (DNS rebinding) and read the outbox from the browser, since
/// the browser then deems the request same-origin.
pub fn loopback_host_only(router: Router) -> Router {
    router.layer(middleware::from_fn(|request: Request, next: Next| async move {
        let host = request.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if is_loopback_host(host) {
            next.run(request).await
        } else {
            ApiError::Forbidden("the outbox answers only to localhost, 127.0.0.1 or [::1]".into()).into_response()
        }
    }))
}

/// `localhost`, `127.0.0.1` (any 127/8 address) or `[::1]`, with or without
/// a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Newest first; `?limit=` (default 50, at most 1000).
async fn list(State(outbox): State<Outbox>, Query(p): Query<Params>) -> Result<Json<Vec<OutboxMessage>>, ApiError> {
    let limit = p.limit.unwrap_or(50).clamp(1, 1000);
    outbox.list(limit).await.map(Json).map_err(|e| ApiError::Internal(format!("outbox read failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_loopback_names_pass() {
        for ok in ["localhost", "LOCALHOST:3000", "127.0.0.1", "127.0.0.1:3000", "127.1.2.3:80", "[::1]", "[::1]:3000"]
        {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:3000",
            "localhost.evil.example",
            "10.0.0.1:3000",
            "[::2]:3000",
            "127.0.0.1.evil.example",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
