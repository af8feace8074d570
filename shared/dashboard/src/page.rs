//! What every page shares: the layout's data, rendering, redirects and the
//! error page each domain error becomes.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use secure2fa_core::accounts::NewSession;
use secure2fa_core::error::{AccountError, ManageError};

use crate::csrf::CsrfToken;
use crate::session::Me;

/// The layout's data: the page title, the form token, the signed-in client.
pub(crate) struct Layout {
    pub title: String,
    pub csrf: String,
    /// `None` on the pages before sign-in.
    pub email: Option<String>,
    pub is_admin: bool,
    pub stylesheet: String,
    pub script: String,
    /// The navigation entry to mark current.
    pub section: &'static str,
}

impl Layout {
    pub fn public(title: &str, csrf: &CsrfToken) -> Self {
        Self {
            title: title.to_owned(),
            csrf: csrf.0.clone(),
            email: None,
            is_admin: false,
            stylesheet: crate::assets::stylesheet(),
            script: crate::assets::script(),
            section: "",
        }
    }

    pub fn signed_in(title: &str, section: &'static str, me: &Me) -> Self {
        Self { email: Some(me.email.clone()), is_admin: me.is_admin, section, ..Self::public(title, &me.csrf) }
    }
}

/// One option of a `<select>`.
pub(crate) struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// A select's options over `items`, the one whose value is `selected` marked.
pub(crate) fn choices<T>(
    items: &[T],
    selected: &str,
    value: impl Fn(&T) -> String,
    label: impl Fn(&T) -> String,
) -> Vec<Choice> {
    items
        .iter()
        .map(|i| {
            let value = value(i);
            Choice { selected: value == selected, label: label(i), value }
        })
        .collect()
}

/// A rendered page with `status`.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>The page failed to render."),
            )
                .into_response()
        }
    }
}

/// A page at 200.
pub(crate) fn ok(page: &impl Template) -> Response {
    render(StatusCode::OK, page)
}

/// After a form: the browser loads `to` with a GET (303).
pub(crate) fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(header::LOCATION, HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")));
    response
}

/// `response`, giving the browser `session`'s cookie (a new value at every
/// change of privilege).
pub(crate) fn with_session_cookie(mut response: Response, session: &NewSession) -> Response {
    let cookie = secure2fa_http::session_set_cookie(session.secret.expose(), session.max_age);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// `next` if it is a path of this site (not `//host`, not `/\host`, no
/// scheme), else the home page: a sign-in link cannot send the browser away.
pub(crate) fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 512
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// An error shown as a page of its own.
#[derive(Debug)]
pub(crate) struct PageError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
    pub retry_after: Option<u32>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    error: &'a PageError,
}

impl PageError {
    pub fn new(status: StatusCode, title: &str, message: &str) -> Self {
        Self { status, title: title.to_owned(), message: message.to_owned(), retry_after: None }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", &format!("No such {what}."))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let layout = Layout::public(&self.title, &CsrfToken(String::new()));
        let mut response = render(self.status, &ErrorPage { layout, error: &self });
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn unavailable() -> PageError {
    PageError::new(StatusCode::SERVICE_UNAVAILABLE, "Try again", "A service is unavailable for a moment; try again.")
}

fn internal() -> PageError {
    PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "Error", "Something went wrong on our side.")
}

impl From<ManageError> for PageError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::NotFound(what) => Self::not_found(what),
            ManageError::Invalid(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Not saved", &m),
            ManageError::Conflict(m) => Self::new(StatusCode::CONFLICT, "Not saved", &m),
            ManageError::InUse => Self::new(StatusCode::CONFLICT, "Still in use", "A project still uses this."),
            ManageError::Forbidden => Self::new(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your account may not do this (sign in again if your session is older than 15 minutes).",
            ),
            ManageError::RateLimited { what, retry_after_seconds } => Self {
                retry_after: Some(retry_after_seconds),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Slow down",
                    &format!("{what}; retry in {retry_after_seconds} s."),
                )
            },
            ManageError::Unavailable(u) => {
                tracing::warn!(error = %u, "dashboard: a dependency is unavailable");
                unavailable()
            }
            ManageError::Internal(i) => {
                tracing::error!(error = %i, "dashboard: internal error");
                internal()
            }
        }
    }
}

impl From<AccountError> for PageError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::RateLimited { retry_after_seconds } => Self {
                retry_after: Some(retry_after_seconds),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "Slow down", &e.to_string())
            },
            AccountError::Unavailable(u) => {
                tracing::warn!(error = %u, "dashboard: a dependency is unavailable");
                unavailable()
            }
            AccountError::Internal(i) => {
                tracing::error!(error = %i, "dashboard: internal error");
                internal()
            }
            AccountError::Disabled => Self::new(StatusCode::FORBIDDEN, "Account disabled", &e.to_string()),
            AccountError::NotSignedIn => Self::new(StatusCode::UNAUTHORIZED, "Signed out", &e.to_string()),
            AccountError::WrongStep(_) => Self::new(StatusCode::FORBIDDEN, "Not now", &e.to_string()),
            AccountError::Conflict(_) => Self::new(StatusCode::CONFLICT, "Not saved", &e.to_string()),
            AccountError::Invalid(_) | AccountError::BadToken => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Not accepted", &e.to_string())
            }
            AccountError::BadCredentials | AccountError::BadCode => {
                Self::new(StatusCode::UNAUTHORIZED, "Not accepted", &e.to_string())
            }
        }
    }
}

/// A form's error shown in place: the message of a refusal the user can
/// fix (a rule broken, a wrong code), or the error page for the rest.
pub(crate) fn form_error(e: impl Into<PageError>) -> Result<(StatusCode, String), PageError> {
    let e: PageError = e.into();
    match e.status {
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::UNAUTHORIZED | StatusCode::CONFLICT => Ok((e.status, e.message)),
        _ => Err(e),
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

/// An extractor's refusal (a form or path that does not parse) as a page:
/// axum's text never reaches the browser (it may quote the value).
pub(crate) async fn html_rejections(response: Response) -> Response {
    let status = response.status();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !status.is_client_error() || is_html {
        return response;
    }
    PageError::new(status, "Not accepted", "The form or address could not be read. Go back and try again.")
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path(Some("/projects/abc?x=1")), "/projects/abc?x=1");
        for bad in ["//evil.example", "/\\evil.example", "https://evil.example", "evil", "/a b", ""] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }
}
