//! `POST /receipts/{provider}/{client_id}/{channel_id}`: delivery receipts
//! (status callbacks) from the providers. No bearer token: each callback is
//! authenticated by the provider's own scheme (a signature over the URL and
//! body, or the channel's receipts secret as HTTP basic auth), checked in
//! the receipts use case. Bodies over [`MAX_RECEIPT_BODY`] are refused
//! before they are read.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use secure2fa_core::otp::{MAX_RECEIPT_BODY, ReceiptCallback, Receipts};
use serde_json::json;

use crate::ApiError;
use crate::routes::Routes;

#[derive(Clone)]
struct Ctx {
    receipts: Receipts,
    public_url: Option<String>,
}

/// The receipts endpoint. `public_url` is the deployment's public base URL
/// (what the providers were told to call, and what Twilio and Plivo sign);
/// without one, `https://<Host header>` stands in for it.
fn routes() -> Routes<Ctx> {
    Routes::new().at(Method::POST, "/receipts/{provider}/{client_id}/{channel_id}", receive)
}

/// The receipts route, for the route-table test.
pub(crate) fn served() -> Vec<(&'static str, Method)> {
    routes().served().to_vec()
}

pub fn receipts_router(receipts: Receipts, public_url: Option<String>) -> Router {
    let public_url = public_url.map(|u| u.trim_end_matches('/').to_owned());
    routes()
        .into_router()
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_RECEIPT_BODY))
        .with_state(Ctx { receipts, public_url })
}

async fn receive(
    State(ctx): State<Ctx>,
    Path((provider, client_id, channel_id)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let base = match &ctx.public_url {
        Some(base) => base.clone(),
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("https://{host}")
        }
    };
    let callback = ReceiptCallback {
        url: format!("{base}{path_and_query}"),
        headers: headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    };
    let outcome = ctx.receipts.ingest(&provider, &client_id, &channel_id, &callback).await?;
    Ok(axum::Json(json!({ "recorded": outcome.recorded, "ignored": outcome.ignored })).into_response())
}
