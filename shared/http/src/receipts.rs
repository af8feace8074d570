//! `POST /receipts/{provider}/{client_id}/{channel_id}`: delivery receipts
//! (status callbacks) from the providers. No bearer token: each callback is
//! authenticated by the provider's own scheme (a signature over the URL and
//! body, or the channel's receipts secret as HTTP basic auth), checked in
//! the receipts use case. Bodies over [`MAX_RECEIPT_BODY`] are refused
//! before they are read.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use secure2fa_core::otp::{MAX_RECEIPT_BODY, ReceiptCallback, Receipts};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ApiError;
use crate::error::ErrorBody;
use crate::routes::Routes;

#[derive(Clone)]
pub(crate) struct Ctx {
    receipts: Receipts,
    public_url: Option<String>,
}

/// The receipts endpoint. `public_url` is the deployment's public base URL
/// (what the providers were told to call, and what Twilio and Plivo sign);
/// without one, `https://<Host header>` stands in for it.
pub(crate) fn routes() -> Routes<Ctx> {
    Routes::new().at(utoipa_axum::routes!(receive))
}

/// What a callback changed.
#[derive(Serialize, ToSchema)]
#[schema(as = ReceiptsOutcome)]
struct Outcome {
    /// Receipts that moved a delivery forward.
    recorded: usize,
    /// Duplicates, late lesser receipts, or about no current code of this channel's client.
    ignored: usize,
}

/// The providers that post receipts (the others have no receipts endpoint).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents the path parameter, which the use case parses
enum ReceiptsProvider {
    Twilio,
    Plivo,
    Sendgrid,
    Postmark,
    Mailjet,
    Clicksend,
}

pub fn receipts_router(receipts: Receipts, public_url: Option<String>) -> Router {
    let public_url = public_url.map(|u| u.trim_end_matches('/').to_owned());
    routes()
        .into_router()
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_RECEIPT_BODY))
        .with_state(Ctx { receipts, public_url })
}

#[utoipa::path(
    post, path = "/receipts/{provider}/{client_id}/{channel_id}", tag = "Receipts", security(),
    summary = "A provider's delivery receipts (status callback)",
    description = "Called by the providers, not by clients: authenticated by the provider's own scheme (Twilio \
                   X-Twilio-Signature, Plivo V3 signature, SendGrid signed event webhook, HTTP basic auth with the \
                   channel's receipts secret for Postmark and Mailjet, the token query parameter for ClickSend). 401 \
                   when that check fails, 404 for an unknown provider, client or channel. Receipts only move a \
                   delivery forward; duplicates and late lesser ones are ignored.",
    params(
        ("provider" = inline(ReceiptsProvider), Path),
        ("client_id" = String, Path),
        ("channel_id" = String, Path),
    ),
    request_body(
        description = "The provider's callback, as it sends it",
        content(
            (Object = "application/x-www-form-urlencoded"),
            (serde_json::Value = "application/json"),
        ),
    ),
    responses((status = 200, description = "OK", body = Outcome), (status = "default", response = ErrorBody)),
)]
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
    Ok(axum::Json(Outcome { recorded: outcome.recorded, ignored: outcome.ignored }).into_response())
}
