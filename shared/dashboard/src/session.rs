//! The signed-in client of a page. A page that needs one sends a browser
//! without it to the step it is at: the sign-in page (keeping the path it
//! asked for), the second factor, or linking an authenticator.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use secure2fa_core::error::AccountError;
use secure2fa_core::manage::Principal;
use secure2fa_core::model::{Client, SessionLevel};
use secure2fa_http::session_cookie;

use crate::Ctx;
use crate::csrf::CsrfToken;
use crate::page::{PageError, see_other};

/// A client signed in with both factors.
pub(crate) struct Me {
    pub client: Client,
    pub principal: Principal,
    pub email: String,
    pub is_admin: bool,
    pub csrf: CsrfToken,
    /// The session cookie's value (for the account operations).
    pub cookie: String,
}

/// The form token of a page without a signed-in client.
pub(crate) struct Csrf(pub CsrfToken);

fn csrf_of(parts: &Parts) -> CsrfToken {
    parts.extensions.get::<CsrfToken>().cloned().unwrap_or(CsrfToken(String::new()))
}

impl FromRequestParts<Ctx> for Csrf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &Ctx) -> Result<Self, Self::Rejection> {
        Ok(Self(csrf_of(parts)))
    }
}

/// The sign-in page, coming back to `parts`' page afterwards (a page
/// asked for with GET; a form's target is not one).
fn to_login(parts: &Parts) -> Response {
    let here = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if here == "/" || parts.method != axum::http::Method::GET {
        return see_other("/login");
    }
    let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
    see_other(&format!("/login?next={next}"))
}

impl FromRequestParts<Ctx> for Me {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let Some(cookie) = session_cookie(&parts.headers).map(str::to_owned) else {
            return Err(to_login(parts));
        };
        let (session, client) = match ctx.accounts.session(&cookie).await {
            Ok(found) => found,
            Err(AccountError::NotSignedIn) => return Err(to_login(parts)),
            Err(e) => return Err(PageError::from(e).into_response()),
        };
        match session.level {
            SessionLevel::Full => {}
            SessionLevel::SecondFactor => return Err(see_other("/login/second-factor")),
            SessionLevel::Enrol => return Err(see_other("/account/authenticator")),
        }
        let email = ctx.manage.client_email(&client).await.map_err(|e| PageError::from(e).into_response())?;
        Ok(Self {
            principal: Principal::Client {
                id: client.id,
                is_admin: client.is_admin,
                recent_sign_in: ctx.accounts.is_recent(&session),
                by_token: false,
            },
            is_admin: client.is_admin,
            email,
            client,
            csrf: csrf_of(parts),
            cookie,
        })
    }
}

/// The session cookie's value, if any: for the steps before sign-in ends.
pub(crate) struct SessionCookie(pub Option<String>);

impl FromRequestParts<Ctx> for SessionCookie {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &Ctx) -> Result<Self, Self::Rejection> {
        Ok(Self(session_cookie(&parts.headers).map(str::to_owned)))
    }
}

/// The caller's address as the throttles count it, if the entry point knows it.
pub(crate) fn client_ip(ip: Option<axum::extract::Extension<secure2fa_http::ClientIp>>) -> Option<String> {
    ip.map(|axum::extract::Extension(secure2fa_http::ClientIp(ip))| ip.to_string())
}
