//! Before sign-in: sign-up, the mailed link's landing page (choose a
//! password), sign-in with a password then an authenticator or backup
//! code, password reset, logout.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use secure2fa_core::accounts::{NewSession, SecondFactor};
use secure2fa_core::error::AccountError;
use secure2fa_core::model::SessionLevel;
use secure2fa_core::types::Email;
use secure2fa_http::{ClientIp, session_set_cookie};
use serde::Deserialize;

use crate::Ctx;
use crate::page::{Layout, PageResult, form_error, local_path, ok, render, see_other, with_session_cookie};
use crate::session::{Csrf, SessionCookie, client_ip};

/// A page with a short message and a link onward.
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    pub layout: Layout,
    pub message: String,
    pub link: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage {
    layout: Layout,
    email: String,
    error: Option<String>,
}

pub(crate) async fn sign_up_form(Csrf(csrf): Csrf) -> Response {
    ok(&SignUpPage { layout: Layout::public("Sign up", &csrf), email: String::new(), error: None })
}

#[derive(Deserialize)]
pub(crate) struct EmailForm {
    email: String,
}

pub(crate) async fn sign_up(
    State(ctx): State<Ctx>,
    Csrf(csrf): Csrf,
    addr: Option<Extension<ClientIp>>,
    Form(f): Form<EmailForm>,
) -> PageResult {
    let refused = |status, error: String| {
        let email = f.email.chars().take(320).collect();
        render(status, &SignUpPage { layout: Layout::public("Sign up", &csrf), email, error: Some(error) })
    };
    let email = match Email::parse(&f.email) {
        Ok(e) => e,
        Err(e) => return Ok(refused(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())),
    };
    ctx.accounts.sign_up(&email, client_ip(addr).as_deref()).await?;
    Ok(ok(&MessagePage {
        layout: Layout::public("Check your mail", &csrf),
        message: "If this address can sign up, a message with a link to choose your password is on its way. \
                  The link works once, for 24 hours."
            .into(),
        link: None,
    }))
}

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// Choosing a password from a mailed link (sign-up or reset).
#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    layout: Layout,
    action: &'static str,
    token: String,
    error: Option<String>,
}

fn set_password_page(title: &str, action: &'static str, csrf: &crate::csrf::CsrfToken, token: &str) -> SetPasswordPage {
    SetPasswordPage {
        layout: Layout::public(title, csrf),
        action,
        token: token.chars().take(100).collect(),
        error: None,
    }
}

pub(crate) async fn confirm_form(Csrf(csrf): Csrf, Query(q): Query<TokenQuery>) -> Response {
    ok(&set_password_page("Choose your password", "/confirm", &csrf, &q.token))
}

#[derive(Deserialize)]
pub(crate) struct SetPasswordForm {
    token: String,
    password: String,
    confirm: String,
}

async fn set_password(ctx: &Ctx, csrf: &crate::csrf::CsrfToken, f: SetPasswordForm, reset: bool) -> PageResult {
    let (title, action) =
        if reset { ("Choose a new password", "/password-reset/confirm") } else { ("Choose your password", "/confirm") };
    let refused = |status, error: String| {
        let page = SetPasswordPage { error: Some(error), ..set_password_page(title, action, csrf, &f.token) };
        Ok(render(status, &page))
    };
    if f.password != f.confirm {
        return refused(StatusCode::UNPROCESSABLE_ENTITY, "the two passwords differ".into());
    }
    let done = if reset {
        ctx.accounts.reset_password(&f.token, &f.password).await
    } else {
        ctx.accounts.confirm(&f.token, &f.password).await
    };
    match done {
        Ok(()) => Ok(see_other(if reset { "/login?reset=1" } else { "/login?confirmed=1" })),
        Err(e) => {
            let (status, message) = form_error(e)?;
            refused(status, message)
        }
    }
}

pub(crate) async fn confirm(State(ctx): State<Ctx>, Csrf(csrf): Csrf, Form(f): Form<SetPasswordForm>) -> PageResult {
    set_password(&ctx, &csrf, f, false).await
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
    confirmed: Option<String>,
    reset: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    email: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

pub(crate) async fn login_form(Csrf(csrf): Csrf, Query(q): Query<LoginQuery>) -> Response {
    let notice = if q.confirmed.is_some() {
        Some("Your address is confirmed. Sign in, then link an authenticator app.")
    } else if q.reset.is_some() {
        Some("Your password is changed and every session ended. Sign in again.")
    } else {
        None
    };
    ok(&LoginPage {
        layout: Layout::public("Sign in", &csrf),
        next: local_path(q.next.as_deref()),
        email: String::new(),
        notice,
        error: None,
    })
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// A redirect to `to` that gives the browser `session`'s cookie.
fn with_session(to: &str, session: &NewSession) -> Response {
    with_session_cookie(see_other(to), session)
}

fn next_query(next: &str) -> String {
    if next == "/" {
        return String::new();
    }
    format!("?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())
}

pub(crate) async fn login(
    State(ctx): State<Ctx>,
    Csrf(csrf): Csrf,
    addr: Option<Extension<ClientIp>>,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let next = local_path(Some(&f.next));
    match ctx.accounts.login(&f.email, &f.password, client_ip(addr).as_deref()).await {
        Ok(session) => Ok(match session.level {
            SessionLevel::SecondFactor => with_session(&format!("/login/second-factor{}", next_query(&next)), &session),
            SessionLevel::Enrol => with_session("/account/authenticator", &session),
            SessionLevel::Full => with_session(&next, &session),
        }),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let page = LoginPage {
                layout: Layout::public("Sign in", &csrf),
                next,
                email: f.email.chars().take(320).collect(),
                notice: None,
                error: Some(message),
            };
            Ok(render(status, &page))
        }
    }
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    layout: Layout,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

pub(crate) async fn second_factor_form(Csrf(csrf): Csrf, Query(q): Query<NextQuery>) -> Response {
    ok(&SecondFactorPage {
        layout: Layout::public("Second step", &csrf),
        next: local_path(q.next.as_deref()),
        error: None,
    })
}

#[derive(Deserialize)]
pub(crate) struct SecondFactorForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    backup_code: String,
    #[serde(default)]
    next: String,
}

pub(crate) async fn second_factor(
    State(ctx): State<Ctx>,
    Csrf(csrf): Csrf,
    SessionCookie(cookie): SessionCookie,
    Form(f): Form<SecondFactorForm>,
) -> PageResult {
    let next = local_path(Some(&f.next));
    let factor = if f.backup_code.trim().is_empty() {
        SecondFactor::Totp(f.code.trim().to_owned())
    } else {
        SecondFactor::BackupCode(f.backup_code.trim().to_owned())
    };
    match ctx.accounts.second_factor(cookie.as_deref().unwrap_or_default(), factor).await {
        Ok(session) => Ok(with_session(&next, &session)),
        Err(AccountError::NotSignedIn) => Ok(see_other(&format!("/login{}", next_query(&next)))),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let page = SecondFactorPage { layout: Layout::public("Second step", &csrf), next, error: Some(message) };
            Ok(render(status, &page))
        }
    }
}

pub(crate) async fn logout(State(ctx): State<Ctx>, SessionCookie(cookie): SessionCookie) -> PageResult {
    ctx.accounts.logout(cookie.as_deref().unwrap_or_default()).await?;
    Ok(end_session_cookie(see_other("/login")))
}

#[derive(Template)]
#[template(path = "reset_request.html")]
struct ResetRequestPage {
    layout: Layout,
    error: Option<String>,
}

pub(crate) async fn reset_request_form(Csrf(csrf): Csrf) -> Response {
    ok(&ResetRequestPage { layout: Layout::public("Reset your password", &csrf), error: None })
}

pub(crate) async fn reset_request(
    State(ctx): State<Ctx>,
    Csrf(csrf): Csrf,
    addr: Option<Extension<ClientIp>>,
    Form(f): Form<EmailForm>,
) -> PageResult {
    let email = match Email::parse(&f.email) {
        Ok(e) => e,
        Err(e) => {
            let page =
                ResetRequestPage { layout: Layout::public("Reset your password", &csrf), error: Some(e.to_string()) };
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    ctx.accounts.request_password_reset(&email, client_ip(addr).as_deref()).await?;
    Ok(ok(&MessagePage {
        layout: Layout::public("Check your mail", &csrf),
        message: "If an account has this address, a message with a link to choose a new password is on its way. \
                  The link works once, for an hour."
            .into(),
        link: Some(("/login".into(), "Back to sign-in".into())),
    }))
}

pub(crate) async fn reset_form(Csrf(csrf): Csrf, Query(q): Query<TokenQuery>) -> Response {
    ok(&set_password_page("Choose a new password", "/password-reset/confirm", &csrf, &q.token))
}

pub(crate) async fn reset(State(ctx): State<Ctx>, Csrf(csrf): Csrf, Form(f): Form<SetPasswordForm>) -> PageResult {
    set_password(&ctx, &csrf, f, true).await
}

/// Ends the browser's session cookie on a response.
pub(crate) fn end_session_cookie(mut response: Response) -> Response {
    response.headers_mut().append(header::SET_COOKIE, session_set_cookie("", 0));
    response
}
