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
use axum::http::Method;
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
    ApiToken, Channel, ChannelMethod, Client, Fallback, LogEntry, LogFilter, LogLevel, Project, ProjectSettings,
    ProviderKind, Quota, Template, TemplateFormat, TemplateVersion,
};
use secure2fa_core::otp::receipts_path;
use secure2fa_core::ports::Redrive;
use secure2fa_core::secrets::OperatorToken;
use secure2fa_core::types::{CodeLength, Email, Lang};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::routes::Routes;
use crate::{ApiError, uncached};

pub const OPENAPI_JSON: &str = include_str!("openapi.json");

#[derive(Clone)]
struct Ctx {
    manage: Management,
    accounts: Accounts,
    token: OperatorToken,
}

type Result<T> = std::result::Result<T, ApiError>;

/// The management API's routes (all behind [`authenticate`]).
fn routes() -> Routes<Ctx> {
    Routes::new()
        .at(Method::GET, "/v1/clients", list_clients)
        .at(Method::POST, "/v1/clients", create_client)
        .at(Method::GET, "/v1/admin/queues", queue_health)
        .at(Method::POST, "/v1/admin/queues/{queue}/redrive", redrive)
        .at(Method::POST, "/v1/clients/{client_id}/disable", disable_client)
        .at(Method::POST, "/v1/clients/{client_id}/enable", enable_client)
        .at(Method::GET, "/v1/clients/{client_id}/channels", list_channels)
        .at(Method::POST, "/v1/clients/{client_id}/channels", create_channel)
        .at(Method::GET, "/v1/clients/{client_id}/channels/{channel_id}", get_channel)
        .at(Method::PATCH, "/v1/clients/{client_id}/channels/{channel_id}", update_channel)
        .at(Method::DELETE, "/v1/clients/{client_id}/channels/{channel_id}", delete_channel)
        .at(Method::POST, "/v1/clients/{client_id}/channels/{channel_id}/test", test_channel)
        .at(Method::POST, "/v1/clients/{client_id}/channels/{channel_id}/receipts-secret", rotate_receipt_secret)
        .at(Method::GET, "/v1/clients/{client_id}/templates", list_templates)
        .at(Method::POST, "/v1/clients/{client_id}/templates", create_template)
        .at(Method::GET, "/v1/clients/{client_id}/templates/{template_id}", get_template)
        .at(Method::PATCH, "/v1/clients/{client_id}/templates/{template_id}", update_template)
        .at(Method::DELETE, "/v1/clients/{client_id}/templates/{template_id}", delete_template)
        .at(Method::PUT, "/v1/clients/{client_id}/templates/{template_id}/versions/{lang}", set_template_version)
        .at(Method::DELETE, "/v1/clients/{client_id}/templates/{template_id}/versions/{lang}", remove_template_version)
        .at(Method::GET, "/v1/clients/{client_id}/projects", list_projects)
        .at(Method::POST, "/v1/clients/{client_id}/projects", create_project)
        .at(Method::GET, "/v1/clients/{client_id}/projects/{project_id}", get_project)
        .at(Method::PATCH, "/v1/clients/{client_id}/projects/{project_id}", update_project)
        .at(Method::DELETE, "/v1/clients/{client_id}/projects/{project_id}", delete_project)
        .at(Method::GET, "/v1/clients/{client_id}/projects/{project_id}/end-users", list_end_users)
        .at(Method::POST, "/v1/clients/{client_id}/projects/{project_id}/rotate-secret-key", rotate_secret_key)
        .at(Method::DELETE, "/v1/clients/{client_id}/projects/{project_id}/previous-secret-key", end_key_overlap)
        .at(Method::POST, "/v1/clients/{client_id}/projects/{project_id}/rotate-webhook-secret", rotate_webhook_secret)
        .at(Method::GET, "/v1/clients/{client_id}/logs", list_logs)
        .at(Method::GET, "/v1/clients/{client_id}/tokens", list_tokens)
        .at(Method::POST, "/v1/clients/{client_id}/tokens", create_token)
        .at(Method::DELETE, "/v1/clients/{client_id}/tokens/{token_id}", revoke_token)
}

/// The management API's routes, for the route-table test.
pub(crate) fn served() -> Vec<(&'static str, Method)> {
    let mut all = routes().served().to_vec();
    all.push(("/v1/openapi.json", Method::GET));
    all
}

pub fn management_router(manage: Management, accounts: Accounts, token: OperatorToken) -> Router {
    let ctx = Ctx { manage, accounts, token };
    let protected = routes()
        .into_router()
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .route_layer(middleware::from_fn_with_state(ctx.clone(), authenticate))
        .route_layer(middleware::from_fn(crate::account::same_origin_only))
        .with_state(ctx.clone());
    Routes::new()
        .at(Method::GET, "/v1/openapi.json", || async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON) })
        .into_router()
        .with_state(ctx)
        .merge(protected)
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

async fn client_json(ctx: &Ctx, c: &Client) -> std::result::Result<Value, ApiError> {
    Ok(json!({
        "id": c.id, "email": ctx.manage.client_email(c).await?, "is_admin": c.is_admin,
        "confirmed": c.confirmed_at.is_some(), "disabled": c.disabled, "created_at": c.created_at,
    }))
}

fn channel_json(c: &Channel) -> Value {
    json!({ "id": c.id, "title": c.title, "method": c.method, "provider": c.provider, "created_at": c.created_at })
}

/// Where `channel`'s provider posts receipts, with the receipts secret.
fn receipts_json(ctx: &Ctx, channel: &Channel, secret: Option<&str>) -> Value {
    let path = receipts_path(channel.provider, channel.client_id, channel.id);
    json!({
        "path": path,
        "url": ctx.manage.public_url.as_ref().map(|base| format!("{base}{path}")),
        "username": RECEIPTS_USERNAME,
        "password": secret,
    })
}

fn template_json(t: &Template) -> Value {
    json!({ "id": t.id, "title": t.title, "default_lang": t.default_lang, "format": t.format, "versions": t.versions, "created_at": t.created_at })
}

fn project_json(p: &Project) -> Value {
    json!({
        "id": p.id, "title": p.title, "public_key": p.public_key.as_str(), "channel_id": p.channel_id,
        "channel_method": p.channel_method, "template_id": p.template_id, "settings": p.settings,
        "has_webhook": p.webhook.is_some(), "created_at": p.created_at,
        "fallback": p.fallback.map(|f| json!({ "channel_id": f.channel_id, "after_seconds": f.after_seconds })),
        "previous_key_valid_until": p.previous_secret_key.as_ref().and(p.previous_secret_until),
    })
}

fn log_json(l: &LogEntry) -> Value {
    json!({
        "id": l.id, "project_id": l.project_id, "user_ref": l.user_ref.as_ref().map(|u| u.as_str()),
        "verification_id": l.verification_id, "level": l.level, "event": l.event, "message": l.message,
        "created_at": l.created_at,
    })
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClientBody {
    email: String,
}

async fn create_client(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    bytes: Bytes,
) -> Result<Response> {
    let b: NewClientBody = body(&bytes)?;
    let email = Email::parse(&b.email).map_err(ApiError::from)?;
    let client = ctx.manage.create_client(&caller, &email).await?;
    Ok(created(client_json(&ctx, &client).await?))
}

async fn queue_health(State(ctx): State<Ctx>, Extension(caller): Extension<Principal>) -> Result<Json<Value>> {
    let queues: Vec<Value> = ctx
        .manage
        .queue_health(&caller)
        .await?
        .into_iter()
        .map(|q| {
            json!({ "queue": q.queue, "ready": q.ready, "in_flight": q.in_flight, "delayed": q.delayed,
                    "dead_letters": q.dead_letters })
        })
        .collect();
    Ok(Json(json!({ "queues": queues })))
}

async fn redrive(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(queue): Path<String>,
) -> Result<Json<Value>> {
    Ok(Json(match ctx.manage.redrive(&caller, &queue).await? {
        Redrive::Moved(n) => json!({ "queue": queue, "moved": n }),
        Redrive::Started(task) => json!({ "queue": queue, "task": task }),
    }))
}

async fn disable_client(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<Value>> {
    let client = ctx.manage.set_client_disabled(&caller, id(&client_id, "client")?, true).await?;
    Ok(Json(client_json(&ctx, &client).await?))
}

async fn enable_client(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<Value>> {
    let client = ctx.manage.set_client_disabled(&caller, id(&client_id, "client")?, false).await?;
    Ok(Json(client_json(&ctx, &client).await?))
}

async fn list_clients(State(ctx): State<Ctx>, Extension(caller): Extension<Principal>) -> Result<Json<Value>> {
    let mut out = Vec::new();
    for c in ctx.manage.list_clients(&caller).await? {
        out.push(client_json(&ctx, &c).await?);
    }
    Ok(Json(json!({ "clients": out })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChannelBody {
    title: String,
    method: String,
    provider: String,
    #[serde(default = "empty_object")]
    credentials: Value,
}

fn empty_object() -> Value {
    json!({})
}

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
    let mut v = channel_json(&channel);
    // Shown once: where the provider posts receipts, and the secret that
    // providers which sign nothing present as HTTP basic auth.
    let secret = ctx.manage.receipt_secret(&client, &channel).await?;
    v["receipts"] = receipts_json(&ctx, &channel, secret.as_deref());
    Ok(created(v))
}

async fn list_channels(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<Value>> {
    let channels = ctx.manage.list_channels(&caller, id(&client_id, "client")?).await?;
    Ok(Json(json!({ "channels": channels.iter().map(channel_json).collect::<Vec<_>>() })))
}

fn deleted(found: bool, what: &str) -> Result<StatusCode> {
    if found { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound(format!("no such {what}"))) }
}

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
async fn rotate_receipt_secret(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, channel_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let client: ClientId = id(&client_id, "client")?;
    let channel: ChannelId = id(&channel_id, "channel")?;
    let (channel, secret) = ctx.manage.rotate_receipt_secret(&caller, client, channel).await?;
    Ok(Json(json!({ "receipts": receipts_json(&ctx, &channel, Some(&secret)) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSendBody {
    to: String,
}

/// Sends the channel's test message. The provider's refusal is an answer
/// (`"status": "failed"` with its reason), not an error of this request.
async fn test_channel(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, channel_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<Value>> {
    let client: ClientId = id(&client_id, "client")?;
    let channel: ChannelId = id(&channel_id, "channel")?;
    let b: TestSendBody = body(&bytes)?;
    Ok(Json(match ctx.manage.test_send(&caller, client, channel, &b.to).await? {
        TestSendOutcome::Sent { provider_message_id } => {
            json!({ "status": "sent", "provider_message_id": provider_message_id })
        }
        TestSendOutcome::Failed { reason, retryable } => {
            json!({ "status": "failed", "reason": reason, "retryable": retryable })
        }
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTemplateBody {
    title: String,
    default_lang: String,
    #[serde(default)]
    format: TemplateFormat,
    versions: BTreeMap<String, TemplateVersion>,
}

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
    Ok(created(template_json(&template)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchChannelBody {
    title: Option<String>,
    credentials: Option<Value>,
}

async fn get_channel(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, channel_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let c = ctx.manage.get_channel(&caller, id(&client_id, "client")?, id(&channel_id, "channel")?).await?;
    Ok(Json(channel_json(&c)))
}

async fn update_channel(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, channel_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<Value>> {
    let b: PatchChannelBody = body(&bytes)?;
    let (client, channel) = (id(&client_id, "client")?, id(&channel_id, "channel")?);
    let c = ctx.manage.update_channel(&caller, client, channel, b.title.as_deref(), b.credentials.as_ref()).await?;
    Ok(Json(channel_json(&c)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchTemplateBody {
    title: Option<String>,
    default_lang: Option<String>,
    format: Option<TemplateFormat>,
}

async fn get_template(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, template_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let t = ctx.manage.get_template(&caller, id(&client_id, "client")?, id(&template_id, "template")?).await?;
    Ok(Json(template_json(&t)))
}

async fn update_template(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, template_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<Value>> {
    let b: PatchTemplateBody = body(&bytes)?;
    let edit = TemplateEdit {
        title: b.title,
        default_lang: b.default_lang.map(|l| Lang::parse(&l)).transpose().map_err(ApiError::from)?,
        format: b.format,
        ..TemplateEdit::default()
    };
    let (client, template) = (id(&client_id, "client")?, id(&template_id, "template")?);
    Ok(Json(template_json(&ctx.manage.update_template(&caller, client, template, edit).await?)))
}

/// A language in a path: unknown or malformed ones are not found.
fn lang_in_path(raw: &str) -> std::result::Result<Lang, ApiError> {
    Lang::parse(raw).map_err(|_| ApiError::NotFound("no such template version".into()))
}

async fn set_template_version(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, template_id, lang)): Path<(String, String, String)>,
    bytes: Bytes,
) -> Result<Json<Value>> {
    let version: TemplateVersion = body(&bytes)?;
    let lang = Lang::parse(&lang).map_err(ApiError::from)?;
    let edit = TemplateEdit { set_versions: BTreeMap::from([(lang, version)]), ..TemplateEdit::default() };
    let (client, template) = (id(&client_id, "client")?, id(&template_id, "template")?);
    Ok(Json(template_json(&ctx.manage.update_template(&caller, client, template, edit).await?)))
}

async fn remove_template_version(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, template_id, lang)): Path<(String, String, String)>,
) -> Result<Json<Value>> {
    let edit = TemplateEdit { remove_versions: vec![lang_in_path(&lang)?], ..TemplateEdit::default() };
    let (client, template) = (id(&client_id, "client")?, id(&template_id, "template")?);
    Ok(Json(template_json(&ctx.manage.update_template(&caller, client, template, edit).await?)))
}

async fn list_templates(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<Value>> {
    let templates = ctx.manage.list_templates(&caller, id(&client_id, "client")?).await?;
    Ok(Json(json!({ "templates": templates.iter().map(template_json).collect::<Vec<_>>() })))
}

async fn delete_template(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, template_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let client: ClientId = id(&client_id, "client")?;
    let template: TemplateId = id(&template_id, "template")?;
    deleted(ctx.manage.delete_template(&caller, client, template).await?, "template")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProjectBody {
    title: String,
    channel_id: String,
    template_id: String,
    expiration_seconds: Option<u32>,
    max_attempts: Option<u32>,
    code_length: Option<u8>,
    resend_cooldown_seconds: Option<u32>,
    sends_per_destination: Option<u32>,
    send_window_seconds: Option<u32>,
    requests_per_second: Option<u32>,
    burst: Option<u32>,
    webhook_url: Option<String>,
    fallback_channel_id: Option<String>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchProjectBody {
    title: Option<String>,
    channel_id: Option<String>,
    template_id: Option<String>,
    expiration_seconds: Option<u32>,
    max_attempts: Option<u32>,
    code_length: Option<u8>,
    resend_cooldown_seconds: Option<u32>,
    sends_per_destination: Option<u32>,
    send_window_seconds: Option<u32>,
    requests_per_second: Option<u32>,
    burst: Option<u32>,
    #[serde(default, deserialize_with = "double_option")]
    webhook_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    fallback_channel_id: Option<Option<String>>,
    fallback_after_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndUsersQuery {
    limit: Option<usize>,
}

async fn list_end_users(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
    Query(q): Query<EndUsersQuery>,
) -> Result<Json<Value>> {
    let (client, project) = (id(&client_id, "client")?, id(&project_id, "project")?);
    let users = ctx.manage.list_end_users(&caller, client, project, q.limit.unwrap_or(50)).await?;
    let users: Vec<Value> = users
        .iter()
        .map(|u| {
            let v = &u.verification;
            json!({
                "user_id": u.user_id, "user_ref": v.user_ref.as_str(), "state": u.state,
                "verification_id": v.verification_id, "attempts": v.attempts, "max_attempts": v.max_attempts,
                "first_seen": v.first_seen, "last_sent": v.sent_at, "expires_at": v.expires_at,
                "delivery": {
                    "state": v.delivery, "provider_message_id": v.provider_message_id, "fallback": v.fallback,
                    "receipt": v.receipt.as_ref().map(|r| json!({ "status": r.status, "reason": r.reason, "at": r.at })),
                },
            })
        })
        .collect();
    Ok(Json(json!({ "end_users": users })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    overlap_seconds: Option<u32>,
}

/// A secret shown once: never cached.
fn secret_answer(v: Value) -> Response {
    uncached(Json(v).into_response())
}

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
    let mut v = project_json(&p);
    v["secret_key"] = json!(secret.to_base64());
    Ok(secret_answer(v))
}

/// How long a rotated key keeps working unless the request says otherwise.
const DEFAULT_KEY_OVERLAP_SECONDS: u32 = 86_400;

async fn end_key_overlap(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let (client, project) = (id(&client_id, "client")?, id(&project_id, "project")?);
    Ok(Json(project_json(&ctx.manage.end_key_overlap(&caller, client, project).await?)))
}

async fn rotate_webhook_secret(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
) -> Result<Response> {
    let (client, project) = (id(&client_id, "client")?, id(&project_id, "project")?);
    let secret = ctx.manage.rotate_webhook_secret(&caller, client, project).await?;
    Ok(secret_answer(json!({ "webhook_secret": secret.expose() })))
}

async fn get_project(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let p = ctx.manage.get_project(&caller, id(&client_id, "client")?, id(&project_id, "project")?).await?;
    Ok(Json(project_json(&p)))
}

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
    let mut v = project_json(&p);
    Ok(match webhook_secret {
        Some(secret) => {
            v["webhook_secret"] = json!(secret.expose());
            secret_answer(v)
        }
        None => Json(v).into_response(),
    })
}

async fn create_project(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let client = client_of(&ctx, &caller, &client_id).await?;
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
    let (project, keys) = ctx.manage.create_project(client.id, new).await?;
    let mut v = project_json(&project);
    // Shown once: only sealed copies are kept.
    v["secret_key"] = json!(keys.secret_key.to_base64());
    if let Some(s) = &keys.webhook_secret {
        v["webhook_secret"] = json!(s.expose());
    }
    Ok(created(v))
}

async fn list_projects(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<Value>> {
    let projects = ctx.manage.list_projects(&caller, id(&client_id, "client")?).await?;
    Ok(Json(json!({ "projects": projects.iter().map(project_json).collect::<Vec<_>>() })))
}

async fn delete_project(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, project_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let client: ClientId = id(&client_id, "client")?;
    let project: ProjectId = id(&project_id, "project")?;
    deleted(ctx.manage.remove_project(&caller, client, project).await?, "project")
}

#[derive(Deserialize)]
struct LogQuery {
    project_id: Option<String>,
    /// An end user's `user_ref` (as the end-user list shows it); needs `project_id`.
    user_ref: Option<String>,
    level: Option<String>,
    before: Option<String>,
    /// Unix seconds: only entries written before.
    until: Option<u64>,
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

async fn list_logs(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Json<Value>> {
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
    Ok(Json(json!({ "logs": page.entries.iter().map(log_json).collect::<Vec<_>>(), "next_before": page.next_before })))
}

fn token_json(t: &ApiToken) -> Value {
    json!({
        "id": t.id, "name": t.name, "prefix": t.prefix, "created_at": t.created_at, "last_used_at": t.last_used_at,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTokenBody {
    name: String,
}

/// A new API token for the client; the token itself is in this answer only.
async fn create_token(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let client: ClientId = id(&client_id, "client")?;
    let b: NewTokenBody = body(&bytes)?;
    let (token, secret) = ctx.manage.create_token(&caller, client, &b.name).await?;
    let mut v = token_json(&token);
    v["token"] = json!(secret.expose());
    // Shown once: never cached.
    Ok(uncached(created(v)))
}

async fn list_tokens(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path(client_id): Path<String>,
) -> Result<Json<Value>> {
    let tokens = ctx.manage.list_tokens(&caller, id(&client_id, "client")?).await?;
    Ok(Json(json!({ "tokens": tokens.iter().map(token_json).collect::<Vec<_>>() })))
}

async fn revoke_token(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Principal>,
    Path((client_id, token_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let client: ClientId = id(&client_id, "client")?;
    let token: TokenId = id(&token_id, "token")?;
    deleted(ctx.manage.revoke_token(&caller, client, token).await?, "token")
}
