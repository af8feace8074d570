//! The account JSON API (`/v1/account/...`): sign-up, confirmation,
//! password sign-in then TOTP or a backup code, authenticator enrolment,
//! backup codes, password change and reset, logout. Browser sessions live
//! in an opaque cookie (`HttpOnly; Secure; SameSite=Lax`) whose value
//! changes at every change of privilege. A request that carries a session
//! cookie and an `Origin` of another site is refused (cross-site request
//! forgery), on these routes and on the management API alike.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use secure2fa_core::accounts::{Accounts, NewSession, SecondFactor};
use secure2fa_core::error::AccountError;
use secure2fa_core::types::Email;
use serde::Deserialize;
use serde_json::json;

use crate::management::body;
use crate::routes::Routes;
use crate::{ApiError, ClientIp, uncached};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "__Host-s2fa_session";

type Result<T> = std::result::Result<T, ApiError>;

/// The account API's routes.
fn routes() -> Routes<Accounts> {
    Routes::new()
        .at(Method::GET, "/v1/account", view)
        .at(Method::POST, "/v1/account/signup", sign_up)
        .at(Method::POST, "/v1/account/confirm", confirm)
        .at(Method::POST, "/v1/account/login", login)
        .at(Method::POST, "/v1/account/login/second-factor", second_factor)
        .at(Method::POST, "/v1/account/totp", start_totp)
        .at(Method::POST, "/v1/account/totp/confirm", confirm_totp)
        .at(Method::POST, "/v1/account/totp/remove", remove_totp)
        .at(Method::POST, "/v1/account/backup-codes", backup_codes)
        .at(Method::POST, "/v1/account/password", change_password)
        .at(Method::POST, "/v1/account/password-reset", request_reset)
        .at(Method::POST, "/v1/account/password-reset/confirm", reset_password)
        .at(Method::POST, "/v1/account/logout", logout)
        .at(Method::POST, "/v1/account/logout-everywhere", logout_everywhere)
}

/// The account API's routes, for the route-table test.
pub(crate) fn served() -> Vec<(&'static str, Method)> {
    routes().served().to_vec()
}

pub fn account_router(accounts: Accounts) -> Router {
    routes()
        .into_router()
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .route_layer(middleware::from_fn(same_origin_only))
        .route_layer(middleware::from_fn(json_only))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(accounts)
}

/// Account requests are small: an email, a password, a token, a code.
const MAX_BODY_BYTES: usize = 8 * 1024;

/// A request with a body must say it is JSON: an HTML form (another site's
/// included) cannot send that without a CORS preflight, which we never grant.
async fn json_only(req: Request, next: Next) -> Response {
    let has_body = req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if has_body && !is_json {
        return ApiError::UnsupportedMediaType.into_response();
    }
    next.run(req).await
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Refuses a state-changing request that carries a session cookie and comes
/// from a page of another origin (its `Origin` host is not the `Host`):
/// `SameSite=Lax` already keeps the cookie off cross-site posts in current
/// browsers; this holds for the others. Requests without an `Origin`
/// (curl, scripts) are not browsers' cross-site requests.
pub(crate) async fn same_origin_only(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD && session_cookie(req.headers()).is_some() {
        let origin_host = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(|o| o.split_once("://").map_or(o, |(_, rest)| rest));
        let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok());
        if let Some(origin) = origin_host
            && Some(origin) != host
        {
            return ApiError::Forbidden("cross-site request refused".into()).into_response();
        }
    }
    next.run(req).await
}

fn cookie(headers: &HeaderMap) -> &str {
    session_cookie(headers).unwrap_or_default()
}

fn ip(ip: Option<Extension<ClientIp>>) -> Option<String> {
    ip.map(|Extension(ClientIp(ip))| ip.to_string())
}

/// The `Set-Cookie` value that gives the browser a session (`""` and 0:
/// ends it).
pub fn session_set_cookie(value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    ))
    .expect("base64url and digits")
}

/// The answer that begins a session: the cookie, and the next step.
fn with_session(status: StatusCode, session: &NewSession, mut body: serde_json::Value) -> Response {
    body["next"] = json!(match session.level {
        secure2fa_core::model::SessionLevel::SecondFactor => "second_factor",
        secure2fa_core::model::SessionLevel::Enrol => "enrol_totp",
        secure2fa_core::model::SessionLevel::Full => "signed_in",
    });
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_set_cookie(session.secret.expose(), session.max_age));
    uncached(response)
}

/// An answer that ends the browser's session cookie.
fn without_session(status: StatusCode) -> Response {
    let mut response = status.into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_set_cookie("", 0));
    response
}

/// Secrets shown once: never cached.
fn no_store(body: serde_json::Value) -> Response {
    uncached(Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenPassword {
    token: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecondFactorBody {
    code: Option<String>,
    backup_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordCode {
    password: String,
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

async fn view(State(a): State<Accounts>, headers: HeaderMap) -> Result<Response> {
    let v = a.view(cookie(&headers)).await?;
    Ok(no_store(json!({
        "id": v.id, "email": v.email, "is_admin": v.is_admin, "totp_enabled": v.totp_enabled,
        "backup_codes_left": v.backup_codes_left, "created_at": v.created_at,
    })))
}

async fn sign_up(State(a): State<Accounts>, addr: Option<Extension<ClientIp>>, raw: Bytes) -> Result<Response> {
    let b: EmailBody = body(&raw)?;
    let email = Email::parse(&b.email)?;
    a.sign_up(&email, ip(addr).as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "confirmation_sent" }))).into_response())
}

async fn confirm(State(a): State<Accounts>, raw: Bytes) -> Result<Response> {
    let b: TokenPassword = body(&raw)?;
    a.confirm(&b.token, &b.password).await?;
    Ok(Json(json!({ "status": "confirmed" })).into_response())
}

async fn login(State(a): State<Accounts>, addr: Option<Extension<ClientIp>>, raw: Bytes) -> Result<Response> {
    let b: Credentials = body(&raw)?;
    let session = a.login(&b.email, &b.password, ip(addr).as_deref()).await?;
    Ok(with_session(StatusCode::OK, &session, json!({})))
}

async fn second_factor(State(a): State<Accounts>, headers: HeaderMap, raw: Bytes) -> Result<Response> {
    let b: SecondFactorBody = body(&raw)?;
    let factor = match (b.code, b.backup_code) {
        (Some(code), None) => SecondFactor::Totp(code),
        (None, Some(code)) => SecondFactor::BackupCode(code),
        _ => return Err(ApiError::InvalidRequest("send either code or backup_code".into())),
    };
    let session = a.second_factor(cookie(&headers), factor).await?;
    Ok(with_session(StatusCode::OK, &session, json!({})))
}

async fn start_totp(State(a): State<Accounts>, headers: HeaderMap) -> Result<Response> {
    let e = a.start_totp(cookie(&headers)).await?;
    Ok(no_store(json!({
        "secret": *e.secret_base32, "otpauth_uri": *e.otpauth_uri, "qr_svg": e.qr_svg,
    })))
}

async fn confirm_totp(State(a): State<Accounts>, headers: HeaderMap, raw: Bytes) -> Result<Response> {
    let b: CodeBody = body(&raw)?;
    let (codes, session) = a.confirm_totp(cookie(&headers), &b.code).await?;
    let codes: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    Ok(with_session(StatusCode::OK, &session, json!({ "backup_codes": codes })))
}

async fn remove_totp(
    State(a): State<Accounts>,
    addr: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response> {
    let b: PasswordCode = body(&raw)?;
    a.remove_totp(cookie(&headers), &b.password, &b.code, ip(addr).as_deref()).await?;
    Ok(without_session(StatusCode::NO_CONTENT))
}

async fn backup_codes(
    State(a): State<Accounts>,
    addr: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response> {
    let b: PasswordBody = body(&raw)?;
    let codes = a.regenerate_backup_codes(cookie(&headers), &b.password, ip(addr).as_deref()).await?;
    let codes: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    Ok(no_store(json!({ "backup_codes": codes })))
}

async fn change_password(
    State(a): State<Accounts>,
    addr: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response> {
    let b: PasswordChange = body(&raw)?;
    let session =
        a.change_password(cookie(&headers), &b.current_password, &b.new_password, ip(addr).as_deref()).await?;
    Ok(with_session(StatusCode::OK, &session, json!({})))
}

async fn request_reset(State(a): State<Accounts>, addr: Option<Extension<ClientIp>>, raw: Bytes) -> Result<Response> {
    let b: EmailBody = body(&raw)?;
    let email = Email::parse(&b.email)?;
    a.request_password_reset(&email, ip(addr).as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "reset_sent_if_the_account_exists" }))).into_response())
}

async fn reset_password(State(a): State<Accounts>, raw: Bytes) -> Result<Response> {
    let b: TokenPassword = body(&raw)?;
    a.reset_password(&b.token, &b.password).await?;
    Ok(Json(json!({ "status": "password_changed" })).into_response())
}

async fn logout(State(a): State<Accounts>, headers: HeaderMap) -> Result<Response> {
    a.logout(cookie(&headers)).await?;
    Ok(without_session(StatusCode::NO_CONTENT))
}

async fn logout_everywhere(State(a): State<Accounts>, headers: HeaderMap) -> Result<Response> {
    a.logout_everywhere(cookie(&headers)).await?;
    Ok(without_session(StatusCode::NO_CONTENT))
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(m) => Self::InvalidRequest(m),
            AccountError::BadCredentials => Self::BadCredentials(e.to_string()),
            AccountError::BadCode => Self::BadCredentials(e.to_string()),
            AccountError::BadToken => Self::InvalidRequest(e.to_string()),
            AccountError::NotSignedIn => Self::Unauthorized,
            AccountError::WrongStep(m) => Self::Forbidden(m.into()),
            AccountError::Conflict(m) => Self::Conflict(m.into()),
            AccountError::Disabled => Self::Forbidden(e.to_string()),
            AccountError::RateLimited { retry_after_seconds } => {
                Self::RateLimited { reason: crate::RateLimitReason::TooManyRequests, retry_after_seconds }
            }
            AccountError::Unavailable(u) => u.into(),
            AccountError::Internal(i) => i.into(),
        }
    }
}
