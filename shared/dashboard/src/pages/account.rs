//! The account's own pages: linking an authenticator, backup codes (shown
//! once), password change, API tokens (shown once), logout everywhere.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use secure2fa_core::error::AccountError;
use secure2fa_core::ids::TokenId;
use secure2fa_core::model::{ApiToken, SessionLevel};
use secure2fa_http::ClientIp;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::Ctx;
use crate::page::{Layout, PageError, PageResult, form_error, ok, render, see_other, with_session_cookie};
use crate::pages::auth::end_session_cookie;
use crate::pages::time::date_time;
use crate::session::{Csrf, Me, SessionCookie, client_ip};

struct TokenRow {
    id: String,
    name: String,
    prefix: String,
    created_at: String,
    last_used_at: String,
}

impl From<&ApiToken> for TokenRow {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            created_at: date_time(t.created_at),
            last_used_at: t.last_used_at.map(date_time).unwrap_or_else(|| "never".into()),
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    backup_codes_left: usize,
    tokens: Vec<TokenRow>,
    recent: bool,
    error: Option<String>,
    notice: Option<&'static str>,
}

async fn account_page(ctx: &Ctx, me: &Me, error: Option<String>, notice: Option<&'static str>) -> PageResult {
    let tokens = ctx.manage.list_tokens(&me.principal, me.client.id).await?;
    let recent = matches!(me.principal, secure2fa_core::manage::Principal::Client { recent_sign_in: true, .. });
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(render(
        status,
        &AccountPage {
            layout: Layout::signed_in("Account", "account", me),
            backup_codes_left: me.client.backup_codes.len(),
            tokens: tokens.iter().map(TokenRow::from).collect(),
            recent,
            error,
            notice,
        },
    ))
}

#[derive(Deserialize)]
pub(crate) struct ShowQuery {
    changed: Option<String>,
}

pub(crate) async fn show(State(ctx): State<Ctx>, me: Me, Query(q): Query<ShowQuery>) -> PageResult {
    let notice = q.changed.is_some().then_some("Your password is changed; every other session ended.");
    account_page(&ctx, &me, None, notice).await
}

#[derive(Template)]
#[template(path = "authenticator.html")]
struct AuthenticatorPage {
    layout: Layout,
    /// Set once the enrolment started: what the app needs, shown once.
    enrolment: Option<Enrolment>,
    error: Option<String>,
}

struct Enrolment {
    secret: Zeroizing<String>,
    uri: Zeroizing<String>,
    qr_svg: String,
}

/// The session behind the cookie, for the enrolment step (which comes
/// before a full sign-in): the second factor first if one is linked.
async fn enrolling(ctx: &Ctx, cookie: &Option<String>) -> Result<String, Response> {
    let cookie = cookie.clone().unwrap_or_default();
    match ctx.accounts.session(&cookie).await {
        Ok((session, _)) if session.level == SessionLevel::SecondFactor => Err(see_other("/login/second-factor")),
        Ok(_) => Ok(cookie),
        Err(AccountError::NotSignedIn) => Err(see_other("/login")),
        Err(e) => Err(axum::response::IntoResponse::into_response(PageError::from(e))),
    }
}

pub(crate) async fn authenticator(
    State(ctx): State<Ctx>,
    Csrf(csrf): Csrf,
    SessionCookie(cookie): SessionCookie,
) -> Response {
    if let Err(r) = enrolling(&ctx, &cookie).await {
        return r;
    }
    ok(&AuthenticatorPage { layout: Layout::public("Link an authenticator", &csrf), enrolment: None, error: None })
}

pub(crate) async fn start_authenticator(
    State(ctx): State<Ctx>,
    Csrf(csrf): Csrf,
    SessionCookie(cookie): SessionCookie,
) -> Result<Response, Response> {
    let cookie = enrolling(&ctx, &cookie).await?;
    let e = ctx
        .accounts
        .start_totp(&cookie)
        .await
        .map_err(|e| axum::response::IntoResponse::into_response(PageError::from(e)))?;
    let page = AuthenticatorPage {
        layout: Layout::public("Link an authenticator", &csrf),
        enrolment: Some(Enrolment { secret: e.secret_base32, uri: e.otpauth_uri, qr_svg: e.qr_svg }),
        error: None,
    };
    Ok(ok(&page))
}

#[derive(Template)]
#[template(path = "backup_codes.html")]
struct BackupCodesPage {
    layout: Layout,
    codes: Vec<Zeroizing<String>>,
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    code: String,
}

pub(crate) async fn confirm_authenticator(
    State(ctx): State<Ctx>,
    Csrf(csrf): Csrf,
    SessionCookie(cookie): SessionCookie,
    Form(f): Form<CodeForm>,
) -> Result<Response, Response> {
    let cookie = enrolling(&ctx, &cookie).await?;
    match ctx.accounts.confirm_totp(&cookie, f.code.trim()).await {
        Ok((codes, session)) => {
            let page = ok(&BackupCodesPage { layout: Layout::public("Your backup codes", &csrf), codes });
            Ok(with_session_cookie(page, &session))
        }
        Err(e) => {
            let (status, message) = form_error(e).map_err(axum::response::IntoResponse::into_response)?;
            // The same secret stays pending: the app already holds it.
            let page = AuthenticatorPage {
                layout: Layout::public("Link an authenticator", &csrf),
                enrolment: None,
                error: Some(format!("{message}. Enter a current code of the app you scanned, or start again.")),
            };
            Ok(render(status, &page))
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

pub(crate) async fn change_password(
    State(ctx): State<Ctx>,
    me: Me,
    addr: Option<Extension<ClientIp>>,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    if f.new != f.confirm {
        return account_page(&ctx, &me, Some("the two new passwords differ".into()), None).await;
    }
    match ctx.accounts.change_password(&me.cookie, &f.current, &f.new, client_ip(addr).as_deref()).await {
        Ok(session) => Ok(with_session_cookie(see_other("/account?changed=1"), &session)),
        Err(e) => {
            let (_, message) = form_error(e)?;
            account_page(&ctx, &me, Some(message), None).await
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ConfirmPasswordForm {
    password: String,
}

pub(crate) async fn regenerate_backup_codes(
    State(ctx): State<Ctx>,
    me: Me,
    addr: Option<Extension<ClientIp>>,
    Form(f): Form<ConfirmPasswordForm>,
) -> PageResult {
    match ctx.accounts.regenerate_backup_codes(&me.cookie, &f.password, client_ip(addr).as_deref()).await {
        Ok(codes) => Ok(ok(&BackupCodesPage { layout: Layout::signed_in("Your backup codes", "account", &me), codes })),
        Err(e) => {
            let (_, message) = form_error(e)?;
            account_page(&ctx, &me, Some(message), None).await
        }
    }
}

#[derive(Template)]
#[template(path = "token_created.html")]
struct TokenCreatedPage {
    layout: Layout,
    name: String,
    secret: String,
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    name: String,
}

pub(crate) async fn create_token(State(ctx): State<Ctx>, me: Me, Form(f): Form<TokenForm>) -> PageResult {
    match ctx.manage.create_token(&me.principal, me.client.id, &f.name).await {
        Ok((token, secret)) => Ok(ok(&TokenCreatedPage {
            layout: Layout::signed_in("API token created", "account", &me),
            name: token.name,
            secret: secret.expose().to_owned(),
        })),
        Err(e) => {
            let e = PageError::from(e);
            if e.status == StatusCode::FORBIDDEN {
                return account_page(
                    &ctx,
                    &me,
                    Some("sign in again to create tokens: sessions older than 15 minutes may not".into()),
                    None,
                )
                .await;
            }
            let (_, message) = form_error(e)?;
            account_page(&ctx, &me, Some(message), None).await
        }
    }
}

pub(crate) async fn revoke_token(State(ctx): State<Ctx>, me: Me, Path(token_id): Path<String>) -> PageResult {
    let id: TokenId = token_id.parse().map_err(|_| PageError::not_found("token"))?;
    if !ctx.manage.revoke_token(&me.principal, me.client.id, id).await? {
        return Err(PageError::not_found("token"));
    }
    Ok(see_other("/account"))
}

pub(crate) async fn logout_everywhere(State(ctx): State<Ctx>, me: Me) -> PageResult {
    ctx.accounts.logout_everywhere(&me.cookie).await?;
    Ok(end_session_cookie(see_other("/login")))
}
