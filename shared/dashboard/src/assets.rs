//! The stylesheet and the script, embedded in the binary and served under
//! a name carrying a hash of their content: cached for a year, and a new
//! release's pages name new files.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

struct Asset {
    /// `style.<hash>.css`
    name: String,
    content_type: &'static str,
    body: &'static str,
}

fn asset(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Asset {
    let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    Asset { name: format!("{stem}.{hash}.{ext}"), content_type, body }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        asset("style", "css", "text/css; charset=utf-8", include_str!("../static/style.css")),
        asset("app", "js", "text/javascript; charset=utf-8", include_str!("../static/app.js")),
    ]
});

/// The stylesheet's path, for the pages.
pub(crate) fn stylesheet() -> String {
    format!("/static/{}", ASSETS[0].name)
}

/// The script's path, for the pages.
pub(crate) fn script() -> String {
    format!("/static/{}", ASSETS[1].name)
}

async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => {
            let mut response = a.body.into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
            response
        }
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

pub(crate) fn router() -> Router {
    Router::new().route("/static/{name}", get(serve))
}
