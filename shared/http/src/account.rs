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
use secure2fa_core::model::SessionLevel;
use secure2fa_core::types::Email;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::management::body;
use crate::routes::Routes;
use crate::{ApiError, ClientIp, uncached};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "__Host-s2fa_session";

type Result<T> = std::result::Result<T, ApiError>;

/// The account API's routes.
pub(crate) fn routes() -> Routes<Accounts> {
    use utoipa_axum::routes;
    Routes::new()
        .at(routes!(view))
        .at(routes!(sign_up))
        .at(routes!(confirm))
        .at(routes!(login))
        .at(routes!(second_factor))
        .at(routes!(start_totp))
        .at(routes!(confirm_totp))
        .at(routes!(remove_totp))
        .at(routes!(backup_codes))
        .at(routes!(change_password))
        .at(routes!(request_reset))
        .at(routes!(reset_password))
        .at(routes!(logout))
        .at(routes!(logout_everywhere))
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
    request_cookie(headers, SESSION_COOKIE)
}

/// The value of the cookie `name`, if the request carries it.
pub fn request_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
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

/// What a session may do next.
#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum SessionStep {
    SecondFactor,
    EnrolTotp,
    SignedIn,
}

impl From<SessionLevel> for SessionStep {
    fn from(level: SessionLevel) -> Self {
        match level {
            SessionLevel::SecondFactor => Self::SecondFactor,
            SessionLevel::Enrol => Self::EnrolTotp,
            SessionLevel::Full => Self::SignedIn,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct NextStep {
    next: SessionStep,
}

/// Ten backup codes, shown once; `next` when the answer also begins a session.
#[derive(Serialize, ToSchema)]
struct BackupCodes {
    #[schema(min_items = 10, max_items = 10)]
    backup_codes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<SessionStep>,
}

#[derive(Serialize, ToSchema)]
struct Status {
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
struct Account {
    #[schema(value_type = String)]
    id: secure2fa_core::ids::ClientId,
    email: String,
    is_admin: bool,
    totp_enabled: bool,
    backup_codes_left: usize,
    created_at: i64,
}

#[derive(Serialize, ToSchema)]
struct TotpEnrolment {
    /// base32
    secret: String,
    otpauth_uri: String,
    /// The otpauth URI as a QR code, an SVG document
    qr_svg: String,
}

/// The answer that begins a session: the cookie, and `body` (which names
/// the next step).
fn with_session(status: StatusCode, session: &NewSession, body: impl Serialize) -> Response {
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
fn no_store(body: impl Serialize) -> Response {
    uncached(Json(body).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EmailRequest)]
struct EmailBody {
    #[schema(format = Email)]
    email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenPassword {
    token: String,
    #[schema(min_length = 12, max_length = 128)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SecondFactor)]
/// Exactly one of code or backup_code.
struct SecondFactorBody {
    /// A current 6-digit TOTP code
    code: Option<String>,
    /// An unused backup code (xxxxx-xxxxx)
    backup_code: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Code)]
struct CodeBody {
    code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordCode {
    password: String,
    code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasswordOnly)]
struct PasswordBody {
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    #[schema(min_length = 12, max_length = 128)]
    new_password: String,
}

#[utoipa::path(
    get, path = "/v1/account", tag = "Account",
    summary = "The signed-in account",
    security(("sessionCookie" = [])),
    responses(
        (status = 200, description = "OK", body = Account),
        (status = "default", response = ErrorBody),
    ),
)]
async fn view(State(a): State<Accounts>, headers: HeaderMap) -> Result<Response> {
    let v = a.view(cookie(&headers)).await?;
    Ok(no_store(Account {
        id: v.id,
        email: v.email,
        is_admin: v.is_admin,
        totp_enabled: v.totp_enabled,
        backup_codes_left: v.backup_codes_left,
        created_at: v.created_at,
    }))
}

#[utoipa::path(
    post, path = "/v1/account/signup", tag = "Account",
    summary = "Sign up by email",
    description = "Mails a confirmation token (valid 24 hours) to a new or unconfirmed address, a notice to an address that has an account: the answer is the same. 3 mails per address and 10 per IP an hour.",
    security(),
    request_body = EmailBody,
    responses(
        (status = 202, description = "OK", body = Status),
        (status = "default", response = ErrorBody),
    ),
)]
async fn sign_up(State(a): State<Accounts>, addr: Option<Extension<ClientIp>>, raw: Bytes) -> Result<Response> {
    let b: EmailBody = body(&raw)?;
    let email = Email::parse(&b.email)?;
    a.sign_up(&email, ip(addr).as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(Status { status: "confirmation_sent" })).into_response())
}

#[utoipa::path(
    post, path = "/v1/account/confirm", tag = "Account",
    summary = "Confirm a sign-up and set the first password",
    description = "Passwords: 12 to 128 characters, refused when common, repetitive, sequential or the email. The first client confirmed becomes the admin.",
    security(),
    request_body = TokenPassword,
    responses(
        (status = 200, description = "OK", body = Status),
        (status = "default", response = ErrorBody),
    ),
)]
async fn confirm(State(a): State<Accounts>, raw: Bytes) -> Result<Response> {
    let b: TokenPassword = body(&raw)?;
    a.confirm(&b.token, &b.password).await?;
    Ok(Json(Status { status: "confirmed" }).into_response())
}

#[utoipa::path(
    post, path = "/v1/account/login", tag = "Account",
    summary = "Sign in with the password",
    description = "Begins a session awaiting the second factor (or, without an authenticator, one that may only enrol one). 5 attempts per account a quarter of an hour and 20 a day, 30 per IP a quarter of an hour; 429 with Retry-After beyond.",
    security(),
    request_body = Credentials,
    responses(
        (status = 200, description = "OK", body = NextStep, headers(("Set-Cookie" = String,
            description = "The session cookie __Host-s2fa_session (a new value at every change of privilege)"))),
        (status = "default", response = ErrorBody),
    ),
)]
async fn login(State(a): State<Accounts>, addr: Option<Extension<ClientIp>>, raw: Bytes) -> Result<Response> {
    let b: Credentials = body(&raw)?;
    let session = a.login(&b.email, &b.password, ip(addr).as_deref()).await?;
    Ok(with_session(StatusCode::OK, &session, NextStep { next: session.level.into() }))
}

#[utoipa::path(
    post, path = "/v1/account/login/second-factor", tag = "Account",
    summary = "Finish signing in with a TOTP code or a backup code",
    description = "Each TOTP time step and each backup code is accepted once. 5 attempts a quarter of an hour, 20 a day.",
    security(("sessionCookie" = [])),
    request_body = SecondFactorBody,
    responses(
        (status = 200, description = "OK", body = NextStep, headers(("Set-Cookie" = String,
            description = "The session cookie __Host-s2fa_session (a new value at every change of privilege)"))),
        (status = "default", response = ErrorBody),
    ),
)]
async fn second_factor(State(a): State<Accounts>, headers: HeaderMap, raw: Bytes) -> Result<Response> {
    let b: SecondFactorBody = body(&raw)?;
    let factor = match (b.code, b.backup_code) {
        (Some(code), None) => SecondFactor::Totp(code),
        (None, Some(code)) => SecondFactor::BackupCode(code),
        _ => return Err(ApiError::InvalidRequest("send either code or backup_code".into())),
    };
    let session = a.second_factor(cookie(&headers), factor).await?;
    Ok(with_session(StatusCode::OK, &session, NextStep { next: session.level.into() }))
}

#[utoipa::path(
    post, path = "/v1/account/totp", tag = "Account",
    summary = "Start linking an authenticator",
    description = "Returns the secret, its otpauth URI and a QR code; confirm with a code.",
    security(("sessionCookie" = [])),
    responses(
        (status = 200, description = "OK", body = TotpEnrolment),
        (status = "default", response = ErrorBody),
    ),
)]
async fn start_totp(State(a): State<Accounts>, headers: HeaderMap) -> Result<Response> {
    let e = a.start_totp(cookie(&headers)).await?;
    Ok(no_store(TotpEnrolment {
        secret: e.secret_base32.to_string(),
        otpauth_uri: e.otpauth_uri.to_string(),
        qr_svg: e.qr_svg,
    }))
}

#[utoipa::path(
    post, path = "/v1/account/totp/confirm", tag = "Account",
    summary = "Confirm the authenticator with a current code",
    description = "Returns ten backup codes, shown once, and signs in.",
    security(("sessionCookie" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "OK", body = BackupCodes, headers(("Set-Cookie" = String,
            description = "The session cookie __Host-s2fa_session (a new value at every change of privilege)"))),
        (status = "default", response = ErrorBody),
    ),
)]
async fn confirm_totp(State(a): State<Accounts>, headers: HeaderMap, raw: Bytes) -> Result<Response> {
    let b: CodeBody = body(&raw)?;
    let (codes, session) = a.confirm_totp(cookie(&headers), &b.code).await?;
    let backup_codes = codes.iter().map(|c| c.as_str().to_owned()).collect();
    Ok(with_session(StatusCode::OK, &session, BackupCodes { backup_codes, next: Some(session.level.into()) }))
}

#[utoipa::path(
    post, path = "/v1/account/totp/remove", tag = "Account",
    summary = "Unlink the authenticator",
    description = "Needs the password and a current code of the authenticator, or a backup code (a lost device); every session ends.",
    security(("sessionCookie" = [])),
    request_body = PasswordCode,
    responses((status = 204, description = "OK"), (status = "default", response = ErrorBody)),
)]
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

#[utoipa::path(
    post, path = "/v1/account/backup-codes", tag = "Account",
    summary = "Replace the backup codes",
    description = "Needs the password; the new codes are shown once.",
    security(("sessionCookie" = [])),
    request_body = PasswordBody,
    responses(
        (status = 200, description = "OK", body = BackupCodes),
        (status = "default", response = ErrorBody),
    ),
)]
async fn backup_codes(
    State(a): State<Accounts>,
    addr: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response> {
    let b: PasswordBody = body(&raw)?;
    let codes = a.regenerate_backup_codes(cookie(&headers), &b.password, ip(addr).as_deref()).await?;
    let backup_codes = codes.iter().map(|c| c.as_str().to_owned()).collect();
    Ok(no_store(BackupCodes { backup_codes, next: None }))
}

#[utoipa::path(
    post, path = "/v1/account/password", tag = "Account",
    summary = "Change the password",
    description = "Every other session ends; this one continues under a new cookie value.",
    security(("sessionCookie" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "OK", body = NextStep, headers(("Set-Cookie" = String,
            description = "The session cookie __Host-s2fa_session (a new value at every change of privilege)"))),
        (status = "default", response = ErrorBody),
    ),
)]
async fn change_password(
    State(a): State<Accounts>,
    addr: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response> {
    let b: PasswordChange = body(&raw)?;
    let session =
        a.change_password(cookie(&headers), &b.current_password, &b.new_password, ip(addr).as_deref()).await?;
    Ok(with_session(StatusCode::OK, &session, NextStep { next: session.level.into() }))
}

#[utoipa::path(
    post, path = "/v1/account/password-reset", tag = "Account",
    summary = "Ask for a password reset by mail",
    description = "A token valid one hour goes to a confirmed account's address; the answer is the same for any address.",
    security(),
    request_body = EmailBody,
    responses(
        (status = 202, description = "OK", body = Status),
        (status = "default", response = ErrorBody),
    ),
)]
async fn request_reset(State(a): State<Accounts>, addr: Option<Extension<ClientIp>>, raw: Bytes) -> Result<Response> {
    let b: EmailBody = body(&raw)?;
    let email = Email::parse(&b.email)?;
    a.request_password_reset(&email, ip(addr).as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(Status { status: "reset_sent_if_the_account_exists" })).into_response())
}

#[utoipa::path(
    post, path = "/v1/account/password-reset/confirm", tag = "Account",
    summary = "Set a new password with a reset token",
    description = "Every session ends; the authenticator stays linked.",
    security(),
    request_body = TokenPassword,
    responses(
        (status = 200, description = "OK", body = Status),
        (status = "default", response = ErrorBody),
    ),
)]
async fn reset_password(State(a): State<Accounts>, raw: Bytes) -> Result<Response> {
    let b: TokenPassword = body(&raw)?;
    a.reset_password(&b.token, &b.password).await?;
    Ok(Json(Status { status: "password_changed" }).into_response())
}

#[utoipa::path(
    post, path = "/v1/account/logout", tag = "Account",
    summary = "End this session",
    security(),
    responses((status = 204, description = "OK"), (status = "default", response = ErrorBody)),
)]
async fn logout(State(a): State<Accounts>, headers: HeaderMap) -> Result<Response> {
    a.logout(cookie(&headers)).await?;
    Ok(without_session(StatusCode::NO_CONTENT))
}

#[utoipa::path(
    post, path = "/v1/account/logout-everywhere", tag = "Account",
    summary = "End every session of the account",
    security(("sessionCookie" = [])),
    responses((status = 204, description = "OK"), (status = "default", response = ErrorBody)),
)]
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
