//! The Secure-2FA dashboard: server-rendered HTML pages over the same use
//! cases as the JSON API (`Accounts`, `Management`), served at `/` by the
//! management Lambda function and by the local server. Templates are
//! compiled by askama (every value escaped); the stylesheet and the one
//! small script are embedded in the binary. Every page works without
//! JavaScript.
//!
//! Must not depend on AWS or on any storage adapter, nor call a store: the
//! pages call the use cases with the signed-in client as the principal.

mod assets;
mod chart;
mod csrf;
mod page;
mod pages;
mod security_headers;
mod session;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use secure2fa_core::accounts::Accounts;
use secure2fa_core::manage::Management;

pub use csrf::CSRF_COOKIE;

/// How the entry point serves the dashboard.
#[derive(Debug, Clone, Default)]
pub struct DashboardOptions {
    /// Served over https (API Gateway, or a local server behind TLS): send
    /// `Strict-Transport-Security`.
    pub https: bool,
    /// The OTP API's base URL as the integration snippet quotes it.
    pub api_base_url: Option<String>,
}

/// What every page handler is given.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub manage: Management,
    pub accounts: Accounts,
    pub options: DashboardOptions,
}

/// The largest form the dashboard accepts (a template with its versions is
/// the biggest).
pub(crate) const MAX_FORM_BYTES: usize = 64 * 1024;

/// The dashboard's pages, every one behind the CSRF check and the security
/// headers.
pub fn dashboard_router(manage: Management, accounts: Accounts, options: DashboardOptions) -> Router {
    let hsts = options.https;
    let ctx = Ctx { manage, accounts, options };
    use pages::{account, admin, auth, channels, home, projects, templates};
    let pages = Router::new()
        .route("/", get(home::show))
        .route("/signup", get(auth::sign_up_form).post(auth::sign_up))
        .route("/confirm", get(auth::confirm_form).post(auth::confirm))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/login/second-factor", get(auth::second_factor_form).post(auth::second_factor))
        .route("/logout", post(auth::logout))
        .route("/password-reset", get(auth::reset_request_form).post(auth::reset_request))
        .route("/password-reset/confirm", get(auth::reset_form).post(auth::reset))
        .route("/account", get(account::show))
        .route("/account/authenticator", get(account::authenticator).post(account::start_authenticator))
        .route("/account/authenticator/confirm", post(account::confirm_authenticator))
        .route("/account/password", post(account::change_password))
        .route("/account/backup-codes", post(account::regenerate_backup_codes))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{token_id}/revoke", post(account::revoke_token))
        .route("/account/logout-everywhere", post(account::logout_everywhere))
        .route("/projects", get(projects::list))
        .route("/projects/new", get(projects::new_form).post(projects::create))
        .route("/projects/{project_id}", get(projects::show))
        .route("/projects/{project_id}/edit", get(projects::edit_form).post(projects::edit))
        .route("/projects/{project_id}/rotate-secret-key", post(projects::rotate_secret_key))
        .route("/projects/{project_id}/delete", get(projects::delete_form).post(projects::delete))
        .route("/projects/{project_id}/end-users", get(projects::end_users))
        .route("/channels", get(channels::list))
        .route("/channels/new", get(channels::new_form).post(channels::create))
        .route("/channels/{channel_id}", get(channels::show).post(channels::edit))
        .route("/channels/{channel_id}/test", post(channels::test_send))
        .route("/channels/{channel_id}/delete", post(channels::delete))
        .route("/templates", get(templates::list))
        .route("/templates/new", get(templates::new_form).post(templates::create))
        .route("/templates/{template_id}", get(templates::show))
        .route("/templates/{template_id}/versions", post(templates::save_version))
        .route("/templates/{template_id}/versions/{lang}/delete", post(templates::remove_version))
        .route("/templates/{template_id}/delete", post(templates::delete))
        .route("/admin/clients", get(admin::clients))
        .route("/admin/clients/{client_id}/disable", post(admin::disable))
        .route("/admin/clients/{client_id}/enable", post(admin::enable))
        .route("/admin/queues", get(admin::queues))
        .route("/admin/queues/{queue}/redrive", post(admin::redrive))
        .route_layer(axum::middleware::map_response(page::html_rejections))
        .route_layer(axum::middleware::from_fn(csrf::guard))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(ctx);
    Router::new()
        .merge(pages)
        .merge(assets::router())
        .layer(axum::middleware::from_fn_with_state(hsts, security_headers::add))
}
