//! The management JSON API (`/v1/...`): clients, channels, templates,
//! projects, logs and API tokens. Every route but the OpenAPI document
//! requires `Authorization: Bearer` with either the deployment's operator
//! token ([`Principal::Operator`], for automation: every client) or a
//! client's API token, or a signed-in session's cookie ([`Principal::Client`]:
//! its own records; an admin client also lists and registers clients; API
//! tokens are created and revoked by the operator or a signed-in session). Each handler parses the request
//! and calls one management operation with the principal, which authorizes
//! (no handler touches a store); another client's ids answer 404.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use secure2fa_core::accounts::Accounts;
use secure2fa_core::ids::{ChannelId, ClientId, LogId, ProjectId, TemplateId, TokenId};
use secure2fa_core::manage::{
    Management, NewProject, Principal, ProjectEdit, RECEIPTS_USERNAME, TemplateEdit, TestSendOutcome,
};
use secure2fa_core::model::{
    Channel, ChannelMethod, Client, Fallback, LogFilter, LogLevel, ProjectSettings, ProviderKind, Quota,
    TemplateFormat, TemplateVersion,
};
use secure2fa_core::otp::receipts_path;
use secure2fa_core::ports::Redrive;
use secure2fa_core::secrets::OperatorToken;
use secure2fa_core::types::{CodeLength, Email, Lang};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::error::ErrorBody;
use crate::records;
use crate::routes::Routes;
use crate::{ApiError, uncached};

#[derive(Clone)]
pub(crate) struct Ctx {
    manage: Management,
    accounts: Accounts,
    token: OperatorToken,
}

type Result<T> = std::result::Result<T, ApiError>;

/// The management API's routes (all behind [`authenticate`]).
pub(crate) fn routes() -> Routes<Ctx> {
    use utoipa_axum::routes;
    Routes::new()
        .at(routes!(list_clients))
        .at(routes!(create_client))
        .at(routes!(queue_health))
        .at(routes!(redrive))
        .at(routes!(disable_client))
        .at(routes!(enable_client))
        .at(routes!(list_channels))
        .at(routes!(create_channel))
        .at(routes!(get_channel))
        .at(routes!(update_channel))
        .at(routes!(delete_channel))
        .at(routes!(test_channel))
        .at(routes!(rotate_receipt_secret))
        .at(routes!(list_templates))
        .at(routes!(create_template))
        .at(routes!(get_template))
        .at(routes!(update_template))
        .at(routes!(delete_template))
        .at(routes!(set_template_version))
        .at(routes!(remove_template_version))
        .at(routes!(list_projects))
        .at(routes!(create_project))
        .at(routes!(get_project))
        .at(routes!(update_project))
        .at(routes!(delete_project))
        .at(routes!(list_end_users))
        .at(routes!(rotate_secret_key))
        .at(routes!(end_key_overlap))
        .at(routes!(rotate_webhook_secret))
        .at(routes!(list_logs))
        .at(routes!(list_tokens))
        .at(routes!(create_token))
        .at(routes!(revoke_token))
}

/// The queues a redrive may name.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents the path parameter, which the use case parses
enum Queue {
    Delivery,
    Webhook,
}

/// The routes that need no credentials: the document itself.
pub(crate) fn public_routes() -> Routes<Ctx> {
    Routes::new().at(utoipa_axum::routes!(openapi_document))
}

#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "Service", summary = "This document", security(),
    responses((status = 200, description = "OpenAPI 3.1")),
)]
async fn openapi_document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi_json()).into_response()
}

pub fn management_router(manage: Management, accounts: Accounts, token: OperatorToken) -> Router {
    let ctx = Ctx { manage, accounts, token };
    let protected = routes()
        .into_router()
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .route_layer(middleware::from_fn_with_state(ctx.clone(), authenticate))
        .route_layer(middleware::from_fn(crate::account::same_origin_only))
        .with_state(ctx.clone());
    public_routes().into_router().with_state(ctx).merge(protected)
}

/// Puts every route of `router` behind `Authorization: Bearer <operator
/// token>` (401 with `WWW-Authenticate: Bearer` otherwise).
pub fn operator_only(router: Router, token: OperatorToken) -> Router {
    router.route_layer(middleware::from_fn_with_state(token, require_operator))
}

fn bearer(req: &Request) -> &str {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
}

fn unauthorized() -> Response {
    let mut resp = ApiError::Unauthorized.into_response();
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

async fn require_operator(State(token): State<OperatorToken>, req: Request, next: Next) -> Response {
    if !token.matches(bearer(&req)) {
        return unauthorized();
    }
    next.run(req).await
}

/// Who the caller is: the operator (its bearer token), the client that owns
/// a bearer API token, or the client signed in with the session cookie
/// (bearer first). Anything else is a 401.
async fn authenticate(State(ctx): State<Ctx>, mut req: Request, next: Next) -> Response {
    let presented = bearer(&req);
    let session = crate::account::session_cookie(req.headers());
    let principal = if presented.is_empty()
        && let Some(cookie) = session
    {
        match ctx.accounts.signed_in(cookie).await {
            Ok((session, client)) => Some(Principal::Client {
                id: client.id,
                is_admin: client.is_admin,
                recent_sign_in: ctx.accounts.is_recent(&session),
                by_token: false,
            }),
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else if ctx.token.matches(presented) {
        Some(Principal::Operator)
    } else {
        match ctx.manage.authenticate_token(presented).await {
            Ok(p) => p,
            Err(e) => return ApiError::from(e).into_response(),
        }
    };
    let Some(principal) = principal else { return unauthorized() };
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// JSON body parsing whose errors name the position, never the value.
pub(crate) fn body<T: DeserializeOwned>(bytes: &Bytes) -> std::result::Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => "is not valid JSON",
            Category::Data => "does not match the schema",
        };
        ApiError::InvalidBody(format!("request body {what} (line {}, column {})", e.line(), e.column()))
    })
}

fn id<T: std::str::FromStr>(s: &str, what: &str) -> std::result::Result<T, ApiError> {
    s.parse().map_err(|_| ApiError::NotFound(format!("no such {what}")))
}

async fn client_of(ctx: &Ctx, caller: &Principal, raw: &str) -> std::result::Result<Client, ApiError> {
    let id: ClientId = id(raw, "client")?;
    Ok(ctx.manage.authorize(caller, id).await?)
}

async fn client_record(ctx: &Ctx, c: &Client) -> std::result::Result<records::Client, ApiError> {
    Ok(records::Client {
        id: c.id,
        email: ctx.manage.client_email(c).await?,
        is_admin: c.is_admin,
        confirmed: c.confirmed_at.is_some(),
        disabled: c.disabled,
        created_at: c.created_at,
    })
}

/// Where `channel`'s provider posts receipts, with the receipts secret.
fn receipts_record(ctx: &Ctx, channel: &Channel, secret: Option<&str>) -> records::Receipts {
    let path = receipts_path(channel.provider, channel.client_id, channel.id);
    records::Receipts {
        url: ctx.manage.public_url.as_ref().map(|base| format!("{base}{path}")),
        path,
        username: RECEIPTS_USERNAME,
        password: secret.map(str::to_owned),
    }
}

fn created(v: impl Serialize) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewClient)]
struct NewClientBody {
    #[schema(format = Email)]
    email: String,
}

#[utoipa::path(
    post, path = "/v1/clients", tag = "Management",
    summary = "Register a client (the first one is the admin)",
    request_body = NewClientBody,
    responses((status = 201, description = "Created", body = records::Client), (status = "default", response = ErrorBody)),
)]
async fn create_client(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    bytes: Bytes,
) -> Result<Response> {
    let b: NewClientBody = body(&bytes)?;
    let email = Email::parse(&b.email).map_err(ApiError::from)?;
    let client = ctx.manage.create_client(&caller, &email).await?;
    Ok(created(client_record(&ctx, &client).await?))
}

#[utoipa::path(
    get, path = "/v1/admin/queues", tag = "Admin",
    summary = "Health of the background queues",
    description = "Ready, in flight, delayed and dead-lettered jobs of the delivery and webhook queues. The operator and the admin only (403 otherwise). Served by the local server; on AWS not yet (404).",
    responses((status = 200, description = "OK", body = records::QueueHealthList), (status = "default", response = ErrorBody)),
)]
async fn queue_health(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
) -> Result<Json<records::QueueHealthList>> {
    let queues = ctx.manage.queue_health(&caller).await?.into_iter().map(Into::into).collect();
    Ok(Json(records::QueueHealthList { queues }))
}

#[utoipa::path(
    post, path = "/v1/admin/queues/{queue}/redrive", tag = "Admin",
    summary = "Move a queue's dead letters back to it",
    description = "The operator and the admin only.",
    params(("queue" = inline(Queue), Path)),
    responses((status = 200, description = "OK", body = records::Redriven), (status = "default", response = ErrorBody)),
)]
async fn redrive(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(queue): Path<String>,
) -> Result<Json<records::Redriven>> {
    Ok(Json(match ctx.manage.redrive(&caller, &queue).await? {
        Redrive::Moved(n) => records::Redriven { queue, moved: Some(n), task: None },
        Redrive::Started(task) => records::Redriven { queue, moved: None, task: Some(task) },
    }))
}

#[utoipa::path(
    post, path = "/v1/clients/{client_id}/disable", tag = "Management",
    summary = "Disable a client",
    description = "Disable a client: its sessions end, its API tokens, API keys and projects stop answering (401, like unknown keys). The operator and the admin signed in within the last 15 minutes (not an API token; 403 otherwise); the admin cannot be disabled (409).",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::Client), (status = "default", response = ErrorBody)),
)]
async fn disable_client(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<records::Client>> {
    let client = ctx.manage.set_client_disabled(&caller, id(&client_id, "client")?, true).await?;
    Ok(Json(client_record(&ctx, &client).await?))
}

#[utoipa::path(
    post, path = "/v1/clients/{client_id}/enable", tag = "Management",
    summary = "Enable a client",
    description = "Re-enable a disabled client. The operator and the admin signed in within the last 15 minutes (not an API token).",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::Client), (status = "default", response = ErrorBody)),
)]
async fn enable_client(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<records::Client>> {
    let client = ctx.manage.set_client_disabled(&caller, id(&client_id, "client")?, false).await?;
    Ok(Json(client_record(&ctx, &client).await?))
}

#[utoipa::path(
    get, path = "/v1/clients", tag = "Management",
    summary = "List clients",
    responses((status = 200, description = "OK", body = records::ClientList), (status = "default", response = ErrorBody)),
)]
async fn list_clients(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
) -> Result<Json<records::ClientList>> {
    let mut clients = Vec::new();
    for c in ctx.manage.list_clients(&caller).await? {
        clients.push(client_record(&ctx, &c).await?);
    }
    Ok(Json(records::ClientList { clients }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewChannel)]
struct NewChannelBody {
    title: String,
    #[schema(value_type = records::ChannelMethod)]
    method: String,
    #[schema(value_type = records::ProviderKind)]
    provider: String,
    /// Provider settings, sealed at rest. SES: {"from": "verified@your-domain"}.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object, required = false)]
    credentials: Value,
}

fn empty_object() -> Value {
    json!({})
}

#[utoipa::path(
    post, path = "/v1/clients/{client_id}/channels", tag = "Management",
    summary = "Create a channel",
    description = "Its receipts endpoint and secret are shown in this answer only.",
    params(("client_id" = String, Path)),
    request_body = NewChannelBody,
    responses((status = 201, description = "Created", body = records::CreatedChannel), (status = "default", response = ErrorBody)),
)]
async fn create_channel(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let client = client_of(&ctx, &caller, &client_id).await?;
    let b: NewChannelBody = body(&bytes)?;
    let method = ChannelMethod::parse(&b.method)
        .ok_or_else(|| ApiError::InvalidRequest("method must be email or sms".into()))?;
    let provider =
        ProviderKind::parse(&b.provider).ok_or_else(|| ApiError::InvalidRequest("unknown provider".into()))?;
    let channel = ctx.manage.create_channel(&client, &b.title, method, provider, &b.credentials).await?;
    // Shown once: where the provider posts receipts, and the secret that
    // providers which sign nothing present as HTTP basic auth.
    let secret = ctx.manage.receipt_secret(&client, &channel).await?;
    let receipts = receipts_record(&ctx, &channel, secret.as_deref());
    Ok(created(records::CreatedChannel { channel: (&channel).into(), receipts }))
}

#[utoipa::path(
    get, path = "/v1/clients/{client_id}/channels", tag = "Management",
    summary = "List channels",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::ChannelList), (status = "default", response = ErrorBody)),
)]
async fn list_channels(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<records::ChannelList>> {
    let channels = ctx.manage.list_channels(&caller, id(&client_id, "client")?).await?;
    Ok(Json(records::ChannelList { channels: channels.iter().map(Into::into).collect() }))
}

fn deleted(found: bool, what: &str) -> Result<StatusCode> {
    if found { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound(format!("no such {what}"))) }
}

#[utoipa::path(
    delete, path = "/v1/clients/{client_id}/channels/{channel_id}", tag = "Management",
    summary = "Delete a channel (409 while a project links it)",
    params(("client_id" = String, Path), ("channel_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = "default", response = ErrorBody)),
)]
async fn delete_channel(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, channel_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let client: ClientId = id(&client_id, "client")?;
    let channel: ChannelId = id(&channel_id, "channel")?;
    deleted(ctx.manage.delete_channel(&caller, client, channel).await?, "channel")
}

/// A new receipts secret for the channel, shown in this answer only.
#[utoipa::path(
    post, path = "/v1/clients/{client_id}/channels/{channel_id}/receipts-secret", tag = "Management",
    summary = "Rotate the channel's receipts secret",
    description = "A new secret for the providers that authenticate their callbacks with it (Postmark, Mailjet: HTTP basic auth; ClickSend: the token parameter); the old one stops working at once. Shown in this answer only.",
    params(("client_id" = String, Path), ("channel_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::RotatedReceiptsSecret), (status = "default", response = ErrorBody)),
)]
async fn rotate_receipt_secret(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, channel_id)): Path<(String, String)>,
) -> Result<Json<records::RotatedReceiptsSecret>> {
    let client: ClientId = id(&client_id, "client")?;
    let channel: ChannelId = id(&channel_id, "channel")?;
    let (channel, secret) = ctx.manage.rotate_receipt_secret(&caller, client, channel).await?;
    Ok(Json(records::RotatedReceiptsSecret { receipts: receipts_record(&ctx, &channel, Some(&secret)) }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TestSend)]
struct TestSendBody {
    /// An email address or an E.164 number, as the channel's method needs.
    to: String,
}

/// Sends the channel's test message. The provider's refusal is an answer
/// (`"status": "failed"` with its reason), not an error of this request.
#[utoipa::path(
    post, path = "/v1/clients/{client_id}/channels/{channel_id}/test", tag = "Management",
    summary = "Send the channel's test message",
    description = "A fixed message to the given address or number through the channel's provider; at most 10 per client and hour (429 with Retry-After beyond). A provider's refusal is an answer with status failed, not an error.",
    params(("client_id" = String, Path), ("channel_id" = String, Path)),
    request_body = TestSendBody,
    responses((status = 200, description = "OK", body = records::TestSendOutcome), (status = "default", response = ErrorBody)),
)]
async fn test_channel(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, channel_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<records::TestSendOutcome>> {
    let client: ClientId = id(&client_id, "client")?;
    let channel: ChannelId = id(&channel_id, "channel")?;
    let b: TestSendBody = body(&bytes)?;
    Ok(Json(match ctx.manage.test_send(&caller, client, channel, &b.to).await? {
        TestSendOutcome::Sent { provider_message_id } => records::TestSendOutcome::Sent { provider_message_id },
        TestSendOutcome::Failed { reason, retryable } => records::TestSendOutcome::Failed { reason, retryable },
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewTemplate)]
struct NewTemplateBody {
    title: String,
    default_lang: String,
    #[serde(default)]
    #[schema(value_type = records::TemplateFormat, required = false)]
    format: TemplateFormat,
    /// By language tag; the default language's version is required.
    #[schema(value_type = BTreeMap<String, records::TemplateVersion>)]
    versions: BTreeMap<String, TemplateVersion>,
}

#[utoipa::path(
    post, path = "/v1/clients/{client_id}/templates", tag = "Management",
    summary = "Create a template",
    params(("client_id" = String, Path)),
    request_body = NewTemplateBody,
    responses((status = 201, description = "Created", body = records::Template), (status = "default", response = ErrorBody)),
)]
async fn create_template(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let client = client_of(&ctx, &caller, &client_id).await?;
    let b: NewTemplateBody = body(&bytes)?;
    let default_lang = Lang::parse(&b.default_lang).map_err(ApiError::from)?;
    let versions = b
        .versions
        .into_iter()
        .map(|(lang, v)| Lang::parse(&lang).map(|l| (l, v)))
        .collect::<std::result::Result<BTreeMap<_, _>, _>>()
        .map_err(ApiError::from)?;
    let template = ctx.manage.create_template(client.id, &b.title, default_lang, b.format, versions).await?;
    Ok(created(records::Template::from(&template)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ChannelPatch)]
struct PatchChannelBody {
    title: Option<String>,
    /// Replaced whole, checked against the provider's schema; never returned.
    #[schema(value_type = Option<Object>)]
    credentials: Option<Value>,
}

#[utoipa::path(
    get, path = "/v1/clients/{client_id}/channels/{channel_id}", tag = "Management",
    summary = "One of the client's channels",
    description = "Its credentials are never returned.",
    params(("client_id" = String, Path), ("channel_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::Channel), (status = "default", response = ErrorBody)),
)]
async fn get_channel(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, channel_id)): Path<(String, String)>,
) -> Result<Json<records::Channel>> {
    let c = ctx.manage.get_channel(&caller, id(&client_id, "client")?, id(&channel_id, "channel")?).await?;
    Ok(Json((&c).into()))
}

#[utoipa::path(
    patch, path = "/v1/clients/{client_id}/channels/{channel_id}", tag = "Management",
    summary = "Rename a channel or replace its credentials",
    description = "The provider and method stay (another provider is another channel).",
    params(("client_id" = String, Path), ("channel_id" = String, Path)),
    request_body = PatchChannelBody,
    responses((status = 200, description = "OK", body = records::Channel), (status = "default", response = ErrorBody)),
)]
async fn update_channel(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, channel_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<records::Channel>> {
    let b: PatchChannelBody = body(&bytes)?;
    let (client, channel) = (id(&client_id, "client")?, id(&channel_id, "channel")?);
    let c = ctx.manage.update_channel(&caller, client, channel, b.title.as_deref(), b.credentials.as_ref()).await?;
    Ok(Json((&c).into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TemplatePatch)]
struct PatchTemplateBody {
    title: Option<String>,
    default_lang: Option<String>,
    #[schema(value_type = Option<records::TemplateFormat>)]
    format: Option<TemplateFormat>,
}

#[utoipa::path(
    get, path = "/v1/clients/{client_id}/templates/{template_id}", tag = "Management",
    summary = "One of the client's templates",
    params(("client_id" = String, Path), ("template_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::Template), (status = "default", response = ErrorBody)),
)]
async fn get_template(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, template_id)): Path<(String, String)>,
) -> Result<Json<records::Template>> {
    let t = ctx.manage.get_template(&caller, id(&client_id, "client")?, id(&template_id, "template")?).await?;
    Ok(Json((&t).into()))
}

#[utoipa::path(
    patch, path = "/v1/clients/{client_id}/templates/{template_id}", tag = "Management",
    summary = "Edit a template's title, default language or format",
    description = "Checked as at creation and against every SMS project linking it; 409 if it changed meanwhile.",
    params(("client_id" = String, Path), ("template_id" = String, Path)),
    request_body = PatchTemplateBody,
    responses((status = 200, description = "OK", body = records::Template), (status = "default", response = ErrorBody)),
)]
async fn update_template(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, template_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<records::Template>> {
    let b: PatchTemplateBody = body(&bytes)?;
    let edit = TemplateEdit {
        title: b.title,
        default_lang: b.default_lang.map(|l| Lang::parse(&l)).transpose().map_err(ApiError::from)?,
        format: b.format,
        ..TemplateEdit::default()
    };
    let (client, template) = (id(&client_id, "client")?, id(&template_id, "template")?);
    Ok(Json((&ctx.manage.update_template(&caller, client, template, edit).await?).into()))
}

/// A language in a path: unknown or malformed ones are not found.
fn lang_in_path(raw: &str) -> std::result::Result<Lang, ApiError> {
    Lang::parse(raw).map_err(|_| ApiError::NotFound("no such template version".into()))
}

#[utoipa::path(
    put, path = "/v1/clients/{client_id}/templates/{template_id}/versions/{lang}", tag = "Management",
    summary = "Add or replace a language version",
    params(("client_id" = String, Path), ("template_id" = String, Path), ("lang" = String, Path)),
    request_body = records::TemplateVersion,
    responses((status = 200, description = "OK", body = records::Template), (status = "default", response = ErrorBody)),
)]
async fn set_template_version(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, template_id, lang)): Path<(String, String, String)>,
    bytes: Bytes,
) -> Result<Json<records::Template>> {
    let version: TemplateVersion = body(&bytes)?;
    let lang = Lang::parse(&lang).map_err(ApiError::from)?;
    let edit = TemplateEdit { set_versions: BTreeMap::from([(lang, version)]), ..TemplateEdit::default() };
    let (client, template) = (id(&client_id, "client")?, id(&template_id, "template")?);
    Ok(Json((&ctx.manage.update_template(&caller, client, template, edit).await?).into()))
}

#[utoipa::path(
    delete, path = "/v1/clients/{client_id}/templates/{template_id}/versions/{lang}", tag = "Management",
    summary = "Remove a language version",
    description = "The default language's version cannot be removed (409).",
    params(("client_id" = String, Path), ("template_id" = String, Path), ("lang" = String, Path)),
    responses((status = 200, description = "OK", body = records::Template), (status = "default", response = ErrorBody)),
)]
async fn remove_template_version(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, template_id, lang)): Path<(String, String, String)>,
) -> Result<Json<records::Template>> {
    let edit = TemplateEdit { remove_versions: vec![lang_in_path(&lang)?], ..TemplateEdit::default() };
    let (client, template) = (id(&client_id, "client")?, id(&template_id, "template")?);
    Ok(Json((&ctx.manage.update_template(&caller, client, template, edit).await?).into()))
}

#[utoipa::path(
    get, path = "/v1/clients/{client_id}/templates", tag = "Management",
    summary = "List templates",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::TemplateList), (status = "default", response = ErrorBody)),
)]
async fn list_templates(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<records::TemplateList>> {
    let templates = ctx.manage.list_templates(&caller, id(&client_id, "client")?).await?;
    Ok(Json(records::TemplateList { templates: templates.iter().map(Into::into).collect() }))
}

#[utoipa::path(
    delete, path = "/v1/clients/{client_id}/templates/{template_id}", tag = "Management",
    summary = "Delete a template (409 while a project links it)",
    params(("client_id" = String, Path), ("template_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = "default", response = ErrorBody)),
)]
async fn delete_template(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, template_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let client: ClientId = id(&client_id, "client")?;
    let template: TemplateId = id(&template_id, "template")?;
    deleted(ctx.manage.delete_template(&caller, client, template).await?, "template")
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewProject)]
struct NewProjectBody {
    title: String,
    channel_id: String,
    template_id: String,
    #[schema(minimum = 30, maximum = 86400, default = 600)]
    expiration_seconds: Option<u32>,
    #[schema(minimum = 1, maximum = 20, default = 5)]
    max_attempts: Option<u32>,
    #[schema(minimum = 4, maximum = 10, default = 6)]
    code_length: Option<u8>,
    #[schema(maximum = 3600, default = 30)]
    resend_cooldown_seconds: Option<u32>,
    #[schema(minimum = 1, maximum = 10000, default = 10)]
    sends_per_destination: Option<u32>,
    #[schema(minimum = 60, maximum = 86400, default = 3600)]
    send_window_seconds: Option<u32>,
    /// The project's quota on the OTP API (generate and verify together).
    #[schema(minimum = 1, maximum = 100000, default = 100)]
    requests_per_second: Option<u32>,
    /// Requests allowed at once: from requests_per_second to 10 times it; by default twice requests_per_second.
    burst: Option<u32>,
    #[schema(format = "uri")]
    webhook_url: Option<String>,
    /// Another channel of the same method: a code goes out through it, once, when delivery through channel_id
    /// fails for good, or (SMS) when no delivered receipt came within fallback_after_seconds.
    fallback_channel_id: Option<String>,
    /// SMS: how long to wait for a delivered receipt before using the fallback channel.
    #[schema(minimum = 30, maximum = 900, default = 120)]
    fallback_after_seconds: Option<u32>,
}

/// Absent: `None`; `null`: `Some(None)`; a value: `Some(Some(v))`.
fn double_option<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Any subset of the creation fields; webhook_url or fallback_channel_id null removes them. The keys stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProjectPatch)]
struct PatchProjectBody {
    title: Option<String>,
    channel_id: Option<String>,
    template_id: Option<String>,
    #[schema(minimum = 30, maximum = 86400, default = 600)]
    expiration_seconds: Option<u32>,
    #[schema(minimum = 1, maximum = 20, default = 5)]
    max_attempts: Option<u32>,
    #[schema(minimum = 4, maximum = 10, default = 6)]
    code_length: Option<u8>,
    #[schema(maximum = 3600, default = 30)]
    resend_cooldown_seconds: Option<u32>,
    #[schema(minimum = 1, maximum = 10000, default = 10)]
    sends_per_destination: Option<u32>,
    #[schema(minimum = 60, maximum = 86400, default = 3600)]
    send_window_seconds: Option<u32>,
    /// The project's quota on the OTP API (generate and verify together).
    #[schema(minimum = 1, maximum = 100000, default = 100)]
    requests_per_second: Option<u32>,
    /// Requests allowed at once: from requests_per_second to 10 times it; by default twice requests_per_second.
    burst: Option<u32>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    webhook_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    fallback_channel_id: Option<Option<String>>,
    /// SMS: how long to wait for a delivered receipt before using the fallback channel.
    #[schema(minimum = 30, maximum = 900, default = 120)]
    fallback_after_seconds: Option<u32>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EndUsersQuery {
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
}

#[utoipa::path(
    get, path = "/v1/clients/{client_id}/projects/{project_id}/end-users", tag = "Management",
    summary = "A project's end users",
    description = "Most recently sent first: the client's id for each end user, its last code's state and attempts, first seen and last sent, and the delivery (state, provider message id, receipt, fallback). Never the destination.",
    params(("client_id" = String, Path), ("project_id" = String, Path), EndUsersQuery),
    responses((status = 200, description = "OK", body = records::EndUserList), (status = "default", response = ErrorBody)),
)]
async fn list_end_users(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
    Query(q): Query<EndUsersQuery>,
) -> Result<Json<records::EndUserList>> {
    let (client, project) = (id(&client_id, "client")?, id(&project_id, "project")?);
    let users = ctx.manage.list_end_users(&caller, client, project, q.limit.unwrap_or(50)).await?;
    Ok(Json(records::EndUserList { end_users: users.iter().map(Into::into).collect() }))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KeyRotation)]
struct RotateBody {
    /// How long the old key keeps working (default 86400; 0: stops at once).
    #[schema(minimum = 0, maximum = 604800)]
    overlap_seconds: Option<u32>,
}

/// A secret shown once: never cached.
fn secret_answer(v: impl Serialize) -> Response {
    uncached(Json(v).into_response())
}

#[utoipa::path(
    post, path = "/v1/clients/{client_id}/projects/{project_id}/rotate-secret-key", tag = "Management",
    summary = "Rotate a project's secret key",
    description = "The new secret_key is in the answer, once. The old key keeps opening requests (and sealing their answers) for overlap_seconds (default 86400, at most 604800; 0: stops at once). Rotating again ends the previous overlap.",
    params(("client_id" = String, Path), ("project_id" = String, Path)),
    request_body = Option<RotateBody>,
    responses((status = 200, description = "OK", body = records::CreatedProject), (status = "default", response = ErrorBody)),
)]
async fn rotate_secret_key(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response> {
    let b: RotateBody = if bytes.is_empty() { RotateBody::default() } else { body(&bytes)? };
    let (client, project) = (id(&client_id, "client")?, id(&project_id, "project")?);
    let overlap = b.overlap_seconds.unwrap_or(DEFAULT_KEY_OVERLAP_SECONDS);
    let (p, secret) = ctx.manage.rotate_secret_key(&caller, client, project, overlap).await?;
    Ok(secret_answer(records::CreatedProject {
        project: (&p).into(),
        secret_key: secret.to_base64().to_string(),
        webhook_secret: None,
    }))
}

/// How long a rotated key keeps working unless the request says otherwise.
const DEFAULT_KEY_OVERLAP_SECONDS: u32 = 86_400;

#[utoipa::path(
    delete, path = "/v1/clients/{client_id}/projects/{project_id}/previous-secret-key", tag = "Management",
    summary = "End a key rotation's overlap now",
    description = "Only the current secret key opens requests from here on (on AWS once the OTP functions' 10-second read cache has passed): for a leaked old key.",
    params(("client_id" = String, Path), ("project_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::Project), (status = "default", response = ErrorBody)),
)]
async fn end_key_overlap(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
) -> Result<Json<records::Project>> {
    let (client, project) = (id(&client_id, "client")?, id(&project_id, "project")?);
    Ok(Json((&ctx.manage.end_key_overlap(&caller, client, project).await?).into()))
}

#[utoipa::path(
    post, path = "/v1/clients/{client_id}/projects/{project_id}/rotate-webhook-secret", tag = "Management",
    summary = "Rotate a project's webhook signing secret",
    description = "The new webhook_secret is in the answer, once; events are signed with it from now on. 409 if the project has no webhook.",
    params(("client_id" = String, Path), ("project_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::WebhookSecret), (status = "default", response = ErrorBody)),
)]
async fn rotate_webhook_secret(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
) -> Result<Response> {
    let (client, project) = (id(&client_id, "client")?, id(&project_id, "project")?);
    let secret = ctx.manage.rotate_webhook_secret(&caller, client, project).await?;
    Ok(secret_answer(records::WebhookSecret { webhook_secret: secret.expose().to_owned() }))
}

#[utoipa::path(
    get, path = "/v1/clients/{client_id}/projects/{project_id}", tag = "Management",
    summary = "One of the client's projects",
    params(("client_id" = String, Path), ("project_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::Project), (status = "default", response = ErrorBody)),
)]
async fn get_project(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
) -> Result<Json<records::Project>> {
    let p = ctx.manage.get_project(&caller, id(&client_id, "client")?, id(&project_id, "project")?).await?;
    Ok(Json((&p).into()))
}

#[utoipa::path(
    patch, path = "/v1/clients/{client_id}/projects/{project_id}", tag = "Management",
    summary = "Edit a project in place",
    description = "Title, channel, template, settings, webhook URL (a webhook added gets a webhook_secret, shown once) and fallback, validated as at creation; its public and secret keys stay, so the integration keeps working. 409 if it changed meanwhile.",
    params(("client_id" = String, Path), ("project_id" = String, Path)),
    request_body = PatchProjectBody,
    responses((status = 200, description = "OK", body = records::EditedProject), (status = "default", response = ErrorBody)),
)]
async fn update_project(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response> {
    let (client, project): (ClientId, ProjectId) = (id(&client_id, "client")?, id(&project_id, "project")?);
    let b: PatchProjectBody = body(&bytes)?;
    let current = ctx.manage.get_project(&caller, client, project).await?;
    let c = current.settings;
    let touches_settings = b.expiration_seconds.is_some()
        || b.max_attempts.is_some()
        || b.code_length.is_some()
        || b.resend_cooldown_seconds.is_some()
        || b.sends_per_destination.is_some()
        || b.send_window_seconds.is_some()
        || b.requests_per_second.is_some()
        || b.burst.is_some();
    let settings = if touches_settings {
        Some(
            ProjectSettings::new(
                b.expiration_seconds.unwrap_or(c.expiration_seconds),
                b.max_attempts.unwrap_or(c.max_attempts),
                b.code_length.map(CodeLength::new).transpose().map_err(ApiError::from)?.unwrap_or(c.code_length),
                b.resend_cooldown_seconds.unwrap_or(c.resend_cooldown_seconds),
                b.sends_per_destination.unwrap_or(c.sends_per_destination),
                b.send_window_seconds.unwrap_or(c.send_window_seconds),
                Quota::new(b.requests_per_second.unwrap_or(c.quota.per_second), b.burst.unwrap_or(c.quota.burst))
                    .map_err(ApiError::from)?,
            )
            .map_err(ApiError::from)?,
        )
    } else {
        None
    };
    let fallback = match (b.fallback_channel_id, b.fallback_after_seconds) {
        (Some(None), _) => Some(None),
        (Some(Some(channel)), after) => Some(Some(Fallback {
            channel_id: channel
                .parse()
                .map_err(|_| ApiError::InvalidRequest("fallback_channel_id: channel does not exist".into()))?,
            after_seconds: after
                .or(current.fallback.map(|f| f.after_seconds))
                .unwrap_or(Fallback::DEFAULT_AFTER_SECONDS),
        })),
        (None, Some(after)) => match current.fallback {
            Some(f) => Some(Some(Fallback { after_seconds: after, ..f })),
            None => return Err(ApiError::InvalidRequest("fallback_after_seconds needs a fallback_channel_id".into())),
        },
        (None, None) => None,
    };
    let edit = ProjectEdit {
        title: b.title,
        channel_id: b
            .channel_id
            .map(|c| c.parse().map_err(|_| ApiError::InvalidRequest("channel does not exist".into())))
            .transpose()?,
        template_id: b
            .template_id
            .map(|t| t.parse().map_err(|_| ApiError::InvalidRequest("template does not exist".into())))
            .transpose()?,
        settings,
        webhook_url: b.webhook_url,
        fallback,
    };
    let (p, webhook_secret) = ctx.manage.update_project(&caller, client, project, edit).await?;
    let webhook_secret = webhook_secret.map(|s| s.expose().to_owned());
    let shows_secret = webhook_secret.is_some();
    let answer = records::EditedProject { project: (&p).into(), webhook_secret };
    Ok(if shows_secret { secret_answer(answer) } else { Json(answer).into_response() })
}

#[utoipa::path(
    post, path = "/v1/clients/{client_id}/projects", tag = "Management",
    summary = "Create a project; its secret key (and webhook secret) are shown in this response only",
    params(("client_id" = String, Path)),
    request_body = NewProjectBody,
    responses((status = 201, description = "Created", body = records::CreatedProject), (status = "default", response = ErrorBody)),
)]
async fn create_project(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    // Authorized by the use case (`create_project_as`).
    let client: ClientId = id(&client_id, "client")?;
    let b: NewProjectBody = body(&bytes)?;
    let d = ProjectSettings::default();
    let settings = ProjectSettings::new(
        b.expiration_seconds.unwrap_or(d.expiration_seconds),
        b.max_attempts.unwrap_or(d.max_attempts),
        b.code_length.map(CodeLength::new).transpose().map_err(ApiError::from)?.unwrap_or(d.code_length),
        b.resend_cooldown_seconds.unwrap_or(d.resend_cooldown_seconds),
        b.sends_per_destination.unwrap_or(d.sends_per_destination),
        b.send_window_seconds.unwrap_or(d.send_window_seconds),
        {
            let per_second = b.requests_per_second.unwrap_or(d.quota.per_second);
            // Unless given, the burst keeps the default's ratio to the rate.
            let burst = b.burst.unwrap_or(per_second.saturating_mul(d.quota.burst / d.quota.per_second));
            Quota::new(per_second, burst).map_err(ApiError::from)?
        },
    )
    .map_err(ApiError::from)?;
    let new = NewProject {
        title: b.title,
        channel_id: b.channel_id.parse().map_err(|_| ApiError::InvalidRequest("channel does not exist".into()))?,
        template_id: b.template_id.parse().map_err(|_| ApiError::InvalidRequest("template does not exist".into()))?,
        settings,
        webhook_url: b.webhook_url,
        fallback: match (b.fallback_channel_id, b.fallback_after_seconds) {
            (Some(channel), after) => Some(Fallback {
                channel_id: channel
                    .parse()
                    .map_err(|_| ApiError::InvalidRequest("fallback_channel_id: channel does not exist".into()))?,
                after_seconds: after.unwrap_or(Fallback::DEFAULT_AFTER_SECONDS),
            }),
            (None, Some(_)) => {
                return Err(ApiError::InvalidRequest("fallback_after_seconds needs a fallback_channel_id".into()));
            }
            (None, None) => None,
        },
    };
    let (project, keys) = ctx.manage.create_project_as(&caller, client, new).await?;
    // Shown once: only sealed copies are kept.
    Ok(created(records::CreatedProject {
        project: (&project).into(),
        secret_key: keys.secret_key.to_base64().to_string(),
        webhook_secret: keys.webhook_secret.as_ref().map(|s| s.expose().to_owned()),
    }))
}

#[utoipa::path(
    get, path = "/v1/clients/{client_id}/projects", tag = "Management",
    summary = "List projects (no secrets)",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::ProjectList), (status = "default", response = ErrorBody)),
)]
async fn list_projects(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<records::ProjectList>> {
    let projects = ctx.manage.list_projects(&caller, id(&client_id, "client")?).await?;
    Ok(Json(records::ProjectList { projects: projects.iter().map(Into::into).collect() }))
}

#[utoipa::path(
    delete, path = "/v1/clients/{client_id}/projects/{project_id}", tag = "Management",
    summary = "Delete a project and destroy its data key",
    params(("client_id" = String, Path), ("project_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = "default", response = ErrorBody)),
)]
async fn delete_project(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let client: ClientId = id(&client_id, "client")?;
    let project: ProjectId = id(&project_id, "project")?;
    deleted(ctx.manage.remove_project(&caller, client, project).await?, "project")
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogQuery {
    project_id: Option<String>,
    /// An end user's user_ref (from the end-user list); needs project_id
    user_ref: Option<String>,
    #[param(value_type = Option<records::LogLevel>)]
    level: Option<String>,
    /// A log id: only entries before it (the previous page's next_before)
    before: Option<String>,
    /// Unix seconds: only entries written before
    until: Option<u64>,
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
}

/// The smallest log id of second `until`: entries strictly before it were
/// written before then (log ids are time-ordered ULIDs).
fn log_id_at(until: u64) -> std::result::Result<LogId, ApiError> {
    let ms = until
        .checked_mul(1000)
        .filter(|ms| *ms < 1 << 48)
        .ok_or_else(|| ApiError::InvalidRequest("until is out of range".into()))?;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    Ok(LogId::from_bytes(bytes))
}

#[utoipa::path(
    get, path = "/v1/clients/{client_id}/logs", tag = "Management",
    summary = "Logs, newest first",
    params(("client_id" = String, Path), LogQuery),
    responses((status = 200, description = "OK", body = records::LogPage), (status = "default", response = ErrorBody)),
)]
async fn list_logs(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Json<records::LogPage>> {
    let client: ClientId = id(&client_id, "client")?;
    let filter = LogFilter {
        project_id: q
            .project_id
            .as_deref()
            .map(|p| p.parse::<ProjectId>())
            .transpose()
            .map_err(|_| ApiError::InvalidRequest("project_id is malformed".into()))?,
        user_ref: match (&q.user_ref, &q.project_id) {
            (Some(r), Some(_)) if (32..=64).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(secure2fa_core::crypto::Mac::from_hex(r.to_ascii_lowercase()))
            }
            (Some(_), Some(_)) => return Err(ApiError::InvalidRequest("user_ref is malformed".into())),
            (Some(_), None) => return Err(ApiError::InvalidRequest("user_ref needs project_id".into())),
            (None, _) => None,
        },
        level: q
            .level
            .map(|l| {
                LogLevel::parse(&l)
                    .ok_or_else(|| ApiError::InvalidRequest("level must be info, success, warning or danger".into()))
            })
            .transpose()?,
        before: q
            .before
            .map(|b| b.parse::<LogId>())
            .transpose()
            .map_err(|_| ApiError::InvalidRequest("before is malformed".into()))?,
        limit: q.limit.unwrap_or(50),
    };
    let filter = match q.until.map(log_id_at).transpose()? {
        Some(bound) => LogFilter { before: Some(filter.before.map_or(bound, |b| b.min(bound))), ..filter },
        None => filter,
    };
    let page = ctx.manage.list_logs(&caller, client, filter).await?;
    Ok(Json(records::LogPage { logs: page.entries.iter().map(Into::into).collect(), next_before: page.next_before }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewApiToken)]
struct NewTokenBody {
    name: String,
}

/// A new API token for the client; the token itself is in this answer only.
#[utoipa::path(
    post, path = "/v1/clients/{client_id}/tokens", tag = "Management",
    summary = "Create an API token for the client",
    description = "At most 20 per client. The token reaches this client's records only (an admin client's also lists and registers clients).",
    params(("client_id" = String, Path)),
    request_body = NewTokenBody,
    responses((status = 201, description = "Created", body = records::CreatedApiToken), (status = "default", response = ErrorBody)),
)]
async fn create_token(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let client: ClientId = id(&client_id, "client")?;
    let b: NewTokenBody = body(&bytes)?;
    let (token, secret) = ctx.manage.create_token(&caller, client, &b.name).await?;
    // Shown once: never cached.
    Ok(uncached(created(records::CreatedApiToken { token_record: (&token).into(), token: secret.expose().to_owned() })))
}

#[utoipa::path(
    get, path = "/v1/clients/{client_id}/tokens", tag = "Management",
    summary = "List the client's API tokens",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "OK", body = records::ApiTokenList), (status = "default", response = ErrorBody)),
)]
async fn list_tokens(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<records::ApiTokenList>> {
    let tokens = ctx.manage.list_tokens(&caller, id(&client_id, "client")?).await?;
    Ok(Json(records::ApiTokenList { tokens: tokens.iter().map(Into::into).collect() }))
}

#[utoipa::path(
    delete, path = "/v1/clients/{client_id}/tokens/{token_id}", tag = "Management",
    summary = "Revoke an API token",
    description = "It stops working at once.",
    params(("client_id" = String, Path), ("token_id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = "default", response = ErrorBody)),
)]
async fn revoke_token(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, token_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let client: ClientId = id(&client_id, "client")?;
    let token: TokenId = id(&token_id, "token")?;
    deleted(ctx.manage.revoke_token(&caller, client, token).await?, "token")
}
