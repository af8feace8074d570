//! The dashboard's pages through the real local router: statuses and
//! redirects, the CSRF refusals, the security headers, escaping of hostile
//! input in every field, secrets shown once, and one client's records out
//! of another's reach. (The browser journey is `infra/dashboard_browser_test.py`.)

mod common;

use std::collections::BTreeMap;

use common::{PW, TestApp, spawn_app};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use secure2fa_core::accounts::{TotpSecret, step_at};

/// A browser without JavaScript: cookies kept by hand (they are `__Host-`
/// and Secure, which reqwest's jar would keep off http://), no redirects
/// followed, the form token added to every POST.
struct Browser<'a> {
    t: &'a TestApp,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The text between `start` and the next `<` (a value shown in the page).
    fn text_after(&self, start: &str) -> String {
        let i = self.body.find(start).unwrap_or_else(|| panic!("{start} not in {}", self.body)) + start.len();
        self.body[i..].split('<').next().unwrap().to_owned()
    }
}

impl<'a> Browser<'a> {
    fn new(t: &'a TestApp) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { t, http, cookies: BTreeMap::new() }
    }

    fn csrf(&self) -> String {
        self.cookies.get("__Host-s2fa_csrf").cloned().unwrap_or_default()
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let resp = req.header("cookie", cookie).send().await.unwrap();
        for set in resp.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = resp.text().await.unwrap();
        assert!(!status.is_server_error(), "{status}: {body}");
        Page { status, headers, body }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.t.base));
        self.send(req).await
    }

    /// Posts a form with this browser's token.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf();
        self.post_raw(path, &[&[("csrf", csrf.as_str())], fields].concat(), &[]).await
    }

    async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut req = self.http.post(format!("{}{path}", self.t.base)).form(fields);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// Signs `email` up through the pages and links an authenticator.
    async fn sign_up(&mut self, email: &str) -> TotpSecret {
        self.get("/signup").await;
        assert_eq!(self.post("/signup", &[("email", email)]).await.status, StatusCode::OK);
        let token = self.t.mailed_token(email).await;
        let page = self.get(&format!("/confirm?token={token}")).await;
        assert!(page.body.contains(&format!("value=\"{token}\"")));
        let done = self.post("/confirm", &[("token", &token), ("password", PW), ("confirm", PW)]).await;
        assert_eq!((done.status, done.location()), (StatusCode::SEE_OTHER, "/login?confirmed=1"));
        let login = self.post("/login", &[("email", email), ("password", PW), ("next", "/")]).await;
        assert_eq!(login.location(), "/account/authenticator");
        let start = self.post("/account/authenticator", &[]).await;
        let secret = TotpSecret::from_base32(&start.text_after("id=\"totp-secret\" class=\"secret\">")).unwrap();
        let code = self.t.totp(&secret);
        let codes = self.post("/account/authenticator/confirm", &[("code", &code)]).await;
        assert_eq!(codes.body.matches("<li><code>").count(), 10, "{}", codes.body);
        self.t.clock.advance(30);
        secret
    }

    /// Creates an outbox channel, a template and a project: their ids.
    async fn create_records(&mut self, title: &str) -> (String, String, String) {
        let c = self.post("/channels/new", &[("provider", "outbox"), ("title", title), ("method", "email")]).await;
        assert_eq!(c.status, StatusCode::SEE_OTHER, "{}", c.body);
        let channel = c.location().trim_start_matches("/channels/").to_owned();
        let body = format!("{title}: {{{{ OTP_CODE }}}}");
        let t = self
            .post(
                "/templates/new",
                &[("title", title), ("format", "text"), ("lang", "en"), ("subject", title), ("body", &body)],
            )
            .await;
        assert_eq!(t.status, StatusCode::SEE_OTHER, "{}", t.body);
        let template = t.location().trim_start_matches("/templates/").to_owned();
        let p = self.post("/projects/new", &project_form(title, &channel, &template)).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        let project = p.text_after("<a href=\"/projects/").split('"').next().unwrap().to_owned();
        (channel, template, project)
    }
}

fn project_form<'a>(title: &'a str, channel: &'a str, template: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("title", title),
        ("channel_id", channel),
        ("template_id", template),
        ("expiration_seconds", "600"),
        ("max_attempts", "5"),
        ("code_length", "6"),
        ("webhook_url", ""),
        ("fallback_channel_id", ""),
    ]
}

#[tokio::test]
async fn every_page_carries_the_security_headers_and_a_form_cookie() {
    let t = spawn_app().await;
    let mut b = Browser::new(&t);
    let page = b.get("/login").await;
    assert_eq!(page.status, StatusCode::OK);
    let h = |name: &str| page.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let csp = h("content-security-policy");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(h("x-frame-options"), "DENY");
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert_eq!(h("cache-control"), "no-store");
    // Served over http here: no HSTS.
    assert_eq!(h("strict-transport-security"), "");
    let set = h("set-cookie");
    assert!(set.starts_with("__Host-s2fa_csrf=") && set.contains("HttpOnly") && set.contains("Secure"), "{set}");
    assert!(page.body.contains(&format!("name=\"csrf\" value=\"{}\"", b.csrf())));
    // The stylesheet it names is served, cached for a year.
    let css = page.text_after("<link rel=\"stylesheet\" href=\"").split('"').next().unwrap().to_owned();
    let asset = b.get(&css).await;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(asset.headers["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(b.get("/static/style.0000.css").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn forms_without_the_token_or_from_another_site_are_refused_and_do_nothing() {
    let t = spawn_app().await;
    let mut b = Browser::new(&t);
    b.get("/signup").await;
    let token = b.csrf();
    let email = [("email", "victim@example.com")];
    // No token, another token, the right token from another site's page.
    assert_eq!(b.post_raw("/signup", &email, &[]).await.status, StatusCode::FORBIDDEN);
    let wrong = "x".repeat(43);
    let with_wrong = [("csrf", wrong.as_str()), ("email", "victim@example.com")];
    assert_eq!(b.post_raw("/signup", &with_wrong, &[]).await.status, StatusCode::FORBIDDEN);
    let with_token = [("csrf", token.as_str()), ("email", "victim@example.com")];
    for headers in [[("origin", "https://evil.example")], [("sec-fetch-site", "cross-site")]] {
        let page = b.post_raw("/signup", &with_token, &headers).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    }
    // A browser without the cookie, replaying a page's token.
    let mut other = Browser::new(&t);
    assert_eq!(other.post_raw("/signup", &with_token, &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(t.outbox_len().await, 0, "a refused form sent no mail");
    // The same form, same origin, with the token: accepted.
    let page = b.post_raw("/signup", &with_token, &[("sec-fetch-site", "same-origin")]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(t.outbox_len().await, 1);
}

#[tokio::test]
async fn signed_out_and_expired_sessions_go_to_sign_in_and_come_back_to_the_page() {
    let t = spawn_app().await;
    let mut b = Browser::new(&t);
    let page = b.get("/projects?x=1").await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/login?next=%2Fprojects%3Fx%3D1"));
    assert_eq!(b.get("/").await.location(), "/login");

    let secret = b.sign_up("ann@example.com").await;
    assert_eq!(b.get("/projects").await.status, StatusCode::OK);
    // Idle past the session's timeout: back to sign-in, keeping the path.
    t.clock.advance(31 * 60);
    let page = b.get("/templates").await;
    assert_eq!(page.location(), "/login?next=%2Ftemplates");
    let login = b.get(page.location()).await;
    assert!(login.body.contains("name=\"next\" value=\"/templates\""));
    let step = b.post("/login", &[("email", "ann@example.com"), ("password", PW), ("next", "/templates")]).await;
    assert_eq!(step.location(), "/login/second-factor?next=%2Ftemplates");
    let code = t.totp(&secret);
    let done = b.post("/login/second-factor", &[("code", &code), ("next", "/templates")]).await;
    assert_eq!((done.status, done.location()), (StatusCode::SEE_OTHER, "/templates"));
    assert_eq!(b.get("/templates").await.status, StatusCode::OK);

    // A `next` of another site is dropped.
    b.post("/logout", &[]).await;
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
    t.clock.advance(30);
    b.post("/login", &[("email", "ann@example.com"), ("password", PW), ("next", "//evil.example/")]).await;
    let code = t.totp(&secret);
    let done = b.post("/login/second-factor", &[("code", &code), ("next", "//evil.example/")]).await;
    assert_eq!(done.location(), "/");
}

#[tokio::test]
async fn a_code_of_the_second_step_is_refused_in_place_and_a_backup_code_works_once() {
    let t = spawn_app().await;
    let mut b = Browser::new(&t);
    b.get("/signup").await;
    b.post("/signup", &[("email", "bo@example.com")]).await;
    let token = t.mailed_token("bo@example.com").await;
    b.post("/confirm", &[("token", &token), ("password", PW), ("confirm", PW)]).await;
    b.post("/login", &[("email", "bo@example.com"), ("password", PW)]).await;
    let start = b.post("/account/authenticator", &[]).await;
    let secret = TotpSecret::from_base32(&start.text_after("id=\"totp-secret\" class=\"secret\">")).unwrap();
    let wrong = b.post("/account/authenticator/confirm", &[("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("role=\"alert\""));
    let codes = b.post("/account/authenticator/confirm", &[("code", &t.totp(&secret))]).await;
    let first = codes.text_after("<li><code>");
    // Shown once: the account page counts them, never lists them.
    let account = b.get("/account").await;
    assert!(account.body.contains("10 of 10 left") && !account.body.contains(&first));

    b.post("/logout", &[]).await;
    for (round, expected) in [(0, StatusCode::SEE_OTHER), (1, StatusCode::UNAUTHORIZED)] {
        b.post("/login", &[("email", "bo@example.com"), ("password", PW)]).await;
        let page = b.post("/login/second-factor", &[("backup_code", &first)]).await;
        assert_eq!(page.status, expected, "round {round}: {}", page.body);
        if round == 0 {
            assert_eq!(b.get("/").await.status, StatusCode::OK);
            b.post("/logout", &[]).await;
        } else {
            assert!(page.body.contains("wrong, expired or already used"));
        }
    }
    // Logging out ended the session on the server, not only in the browser.
    let stale = b.cookies.clone();
    assert!(!stale.contains_key("__Host-s2fa_session") || b.get("/account").await.status == StatusCode::SEE_OTHER);
}

const HOSTILE: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";

#[tokio::test]
async fn hostile_input_is_escaped_in_every_field() {
    let t = spawn_app().await;
    let mut b = Browser::new(&t);
    // Re-shown forms before sign-in.
    b.get("/signup").await;
    let page = b.post("/signup", &[("email", HOSTILE)]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !page.body.contains("<script>alert(1)") && page.body.contains("&#60;script&#62;")
            || page.body.contains("&lt;script&gt;")
    );
    let page = b.post("/login", &[("email", HOSTILE), ("password", "x"), ("next", HOSTILE)]).await;
    assert!(!page.body.contains("<script>alert(1)") && !page.body.contains("<img src=x"), "{}", page.body);

    b.sign_up("eve@example.com").await;
    let title = &HOSTILE[..60.min(HOSTILE.len())];
    let (channel, template, project) = b.create_records(title).await;
    let version = format!("{HOSTILE} {{{{ OTP_CODE }}}}");
    let saved = b
        .post(
            &format!("/templates/{template}/versions"),
            &[("title", title), ("format", "text"), ("lang", "en"), ("subject", HOSTILE), ("body", &version)],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let preview = b
        .post(
            &format!("/templates/{template}/versions"),
            &[("lang", "en"), ("subject", HOSTILE), ("body", &version), ("preview", "1")],
        )
        .await;
    assert!(preview.body.contains("id=\"preview-body\""));
    b.post("/account/tokens", &[("name", title)]).await;
    for path in [
        "/".to_owned(),
        "/projects".into(),
        format!("/projects/{project}"),
        format!("/projects/{project}/edit"),
        format!("/projects/{project}/delete"),
        "/channels".into(),
        format!("/channels/{channel}"),
        "/templates".into(),
        format!("/templates/{template}"),
        format!("/templates/{template}?lang={HOSTILE}"),
        "/account".into(),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains("<script>alert") && !page.body.contains("<img src=x"), "{path} renders raw markup");
    }
    assert!(!preview.body.contains("<script>alert"));
}

#[tokio::test]
async fn a_project_s_secret_key_is_shown_once_and_the_snippet_carries_it() {
    let t = spawn_app().await;
    let mut b = Browser::new(&t);
    b.sign_up("kay@example.com").await;
    let (channel, template, _) = b.create_records("First").await;
    let created = b.post("/projects/new", &project_form("Shop", &channel, &template)).await;
    let secret = created.text_after("id=\"secret-key\" class=\"secret\">");
    assert_eq!(secret.len(), 44, "{secret}");
    assert_eq!(created.body.matches(&secret).count(), 2, "the key, and the snippet quoting it");
    assert_eq!(created.headers["cache-control"], "no-store");
    let id = created.text_after("<a href=\"/projects/").split('"').next().unwrap().to_owned();
    let shown = b.get(&format!("/projects/{id}")).await;
    assert!(!shown.body.contains(&secret) && shown.body.contains("SECURE2FA_SECRET_KEY"));
    // Rotation shows the new key once; the old one stays hidden.
    let rotated = b.post(&format!("/projects/{id}/rotate-secret-key"), &[("overlap_seconds", "3600")]).await;
    let new = rotated.text_after("id=\"secret-key\" class=\"secret\">");
    assert!(new != secret && !rotated.body.contains(&secret));
    let shown = b.get(&format!("/projects/{id}")).await;
    assert!(!shown.body.contains(&new) && shown.body.contains("the previous key works until"));
    // A quarter of an hour after sign-in, new keys need a fresh sign-in.
    t.clock.advance(16 * 60);
    let stale = b.post(&format!("/projects/{id}/rotate-secret-key"), &[("overlap_seconds", "0")]).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    assert!(stale.body.contains("sign in again"));
    let stale = b.post("/projects/new", &project_form("Late", &channel, &template)).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn edits_are_saved_and_refusals_shown_in_place() {
    let t = spawn_app().await;
    let mut b = Browser::new(&t);
    b.sign_up("lee@example.com").await;
    let (channel, template, project) = b.create_records("Edits").await;
    let mut form = project_form("Renamed", &channel, &template);
    form[4] = ("max_attempts", "3");
    let saved = b.post(&format!("/projects/{project}/edit"), &form).await;
    assert_eq!(saved.location(), format!("/projects/{project}"), "{}", saved.body);
    let shown = b.get(&format!("/projects/{project}")).await;
    assert!(shown.body.contains("<h1>Renamed</h1>") && shown.body.contains("3 attempts"));
    form[4] = ("max_attempts", "many");
    let refused = b.post(&format!("/projects/{project}/edit"), &form).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("max_attempts must be a whole number"));
    // A form the extractor cannot read (a field twice) is an HTML page too.
    let mut twice = project_form("Twice", &channel, &template);
    twice.push(("title", "again"));
    let page = b.post(&format!("/projects/{project}/edit"), &twice).await;
    assert!(page.status.is_client_error() && page.headers["content-type"].to_str().unwrap().starts_with("text/html"));

    // A template version without the code is refused in place, the text kept.
    let page = b
        .post(&format!("/templates/{template}/versions"), &[("lang", "fr"), ("subject", "S"), ("body", "pas de code")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("id=\"template-error\"") && page.body.contains("pas de code"));
    let fr = b
        .post(
            &format!("/templates/{template}/versions"),
            &[("lang", "fr"), ("subject", "S"), ("body", "Code {{ OTP_CODE }}")],
        )
        .await;
    assert_eq!(fr.location(), format!("/templates/{template}?lang=fr"));
    let editor = b.get(&format!("/templates/{template}?lang=fr")).await;
    assert!(editor.body.contains(">fr</a>") && editor.body.contains("Code {{ OTP_CODE }}"));
    // The default language cannot be removed; another can.
    let refused = b.post(&format!("/templates/{template}/versions/en/delete"), &[]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(refused.body.contains("cannot be removed"));
    assert_eq!(b.post(&format!("/templates/{template}/versions/fr/delete"), &[]).await.status, StatusCode::SEE_OTHER);

    // Deleting a linked channel or template names the project holding it.
    for path in [format!("/channels/{channel}/delete"), format!("/templates/{template}/delete")] {
        let page = b.post(&path, &[]).await;
        assert_eq!(page.status, StatusCode::CONFLICT, "{path}");
        assert!(page.body.contains(&format!("<a href=\"/projects/{project}\">Renamed</a>")), "{path}");
    }
    let confirm = b.get(&format!("/projects/{project}/delete")).await;
    assert!(confirm.body.contains("cannot be undone"));
    assert_eq!(b.post(&format!("/projects/{project}/delete"), &[]).await.location(), "/projects");
    assert_eq!(b.post(&format!("/channels/{channel}/delete"), &[]).await.location(), "/channels");
}

#[tokio::test]
async fn another_client_s_records_are_not_found_by_url_and_stay_unchanged() {
    let t = spawn_app().await;
    let mut a = Browser::new(&t);
    a.sign_up("owner@example.com").await;
    let (channel, template, project) = a.create_records("Owned").await;
    let mut b = Browser::new(&t);
    b.sign_up("other@example.com").await;
    for path in [
        format!("/projects/{project}"),
        format!("/projects/{project}/edit"),
        format!("/projects/{project}/delete"),
        format!("/projects/{project}/end-users"),
        format!("/channels/{channel}"),
        format!("/templates/{template}"),
    ] {
        assert_eq!(b.get(&path).await.status, StatusCode::NOT_FOUND, "GET {path}");
    }
    let form = project_form("Stolen", &channel, &template);
    for (path, fields) in [
        (format!("/projects/{project}/edit"), form.clone()),
        (format!("/projects/{project}/rotate-secret-key"), vec![("overlap_seconds", "0")]),
        (format!("/projects/{project}/delete"), vec![]),
        (format!("/channels/{channel}"), vec![("title", "Stolen")]),
        (format!("/channels/{channel}/test"), vec![("to", "x@example.com")]),
        (format!("/channels/{channel}/delete"), vec![]),
        (format!("/templates/{template}/versions"), vec![("lang", "en"), ("body", "{{ OTP_CODE }}")]),
        (format!("/templates/{template}/versions/en/delete"), vec![]),
        (format!("/templates/{template}/delete"), vec![]),
    ] {
        assert_eq!(b.post(&path, &fields).await.status, StatusCode::NOT_FOUND, "POST {path}");
    }
    // B's own project cannot link A's channel either.
    let (_, b_template, _) = b.create_records("Mine").await;
    let page = b.post("/projects/new", &project_form("Linked", &channel, &b_template)).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A's records as they were.
    let shown = a.get(&format!("/projects/{project}")).await;
    assert!(shown.body.contains("<h1>Owned</h1>"));
    assert!(a.get(&format!("/channels/{channel}")).await.body.contains("<h1>Owned</h1>"));
    assert!(a.get(&format!("/templates/{template}")).await.body.contains("Owned: {{ OTP_CODE }}"));
    // Admin pages: 403 to a client that is not the admin.
    for path in ["/admin/clients", "/admin/queues"] {
        assert_eq!(b.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn the_admin_sees_every_client_and_the_queues_and_disables_a_client() {
    let t = spawn_app().await;
    let mut other = Browser::new(&t);
    other.sign_up("someone@example.com").await;
    let login = t.creds.login.clone().unwrap();
    let mut admin = Browser::new(&t);
    admin.get("/login").await;
    admin.post("/login", &[("email", &login.email), ("password", &login.password)]).await;
    let secret = TotpSecret::from_base32(&login.totp_secret).unwrap();
    let code = secret.code_at_step(step_at(t.now()));
    assert_eq!(admin.post("/login/second-factor", &[("code", &code)]).await.location(), "/");
    let clients = admin.get("/admin/clients").await;
    assert!(clients.body.contains("someone@example.com") && clients.body.contains(&login.email));
    let queues = admin.get("/admin/queues").await;
    assert!(queues.body.contains("<td>delivery</td>") && queues.body.contains("<td>webhook</td>"));
    let id = clients.text_after("<form method=\"post\" action=\"/admin/clients/").split('/').next().unwrap().to_owned();
    let disabled = admin.post(&format!("/admin/clients/{id}/disable"), &[]).await;
    assert_eq!(disabled.location(), "/admin/clients");
    // The disabled client's session ends, and it cannot sign in again.
    assert_eq!(other.get("/projects").await.location(), "/login?next=%2Fprojects");
    let refused = other.post("/login", &[("email", "someone@example.com"), ("password", PW)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("disabled"));
    assert!(admin.get("/admin/clients").await.body.contains("disabled"));
    assert_eq!(admin.post(&format!("/admin/clients/{id}/enable"), &[]).await.location(), "/admin/clients");
    let back = other.post("/login", &[("email", "someone@example.com"), ("password", PW)]).await;
    assert_eq!(back.location(), "/login/second-factor");
    // Redrive: the local job table's dead letters back on the queue.
    let moved = admin.post("/admin/queues/delivery/redrive", &[]).await;
    assert!(moved.body.contains("0 dead letter(s) of the delivery queue moved back"), "{}", moved.body);
    assert_eq!(admin.post("/admin/queues/nothing/redrive", &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.post("/admin/queues/delivery/redrive", &[]).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn account_pages_reset_and_change_the_password_and_manage_codes_and_tokens() {
    let t = spawn_app().await;
    let mut b = Browser::new(&t);
    let secret = b.sign_up("ron@example.com").await;
    // API tokens: created within 15 minutes of sign-in, shown once, revoked.
    let created = b.post("/account/tokens", &[("name", "ci")]).await;
    let token = created.text_after("id=\"token-secret\" class=\"secret\">");
    assert!(token.starts_with("s2fa_"), "{token}");
    let account = b.get("/account").await;
    assert!(account.body.contains("<td>ci</td>") && !account.body.contains(&token));
    let listed = t.http.get(format!("{}/v1/clients", t.base)).bearer_auth(&token).send().await.unwrap();
    assert_ne!(listed.status(), StatusCode::UNAUTHORIZED, "the new token authenticates");
    let id = account.text_after("action=\"/account/tokens/").split('/').next().unwrap().to_owned();
    assert_eq!(b.post(&format!("/account/tokens/{id}/revoke"), &[]).await.location(), "/account");
    let refused = t.http.get(format!("{}/v1/clients", t.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // New backup codes need the password and replace the old ones.
    let wrong = b.post("/account/backup-codes", &[("password", "not the password at all")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("email or password is wrong"));
    let codes = b.post("/account/backup-codes", &[("password", PW)]).await;
    assert_eq!(codes.body.matches("<li><code>").count(), 10);
    // Changing the password keeps this session and ends the others.
    let mut elsewhere = Browser::new(&t);
    elsewhere.get("/login").await;
    elsewhere.post("/login", &[("email", "ron@example.com"), ("password", PW)]).await;
    t.clock.advance(30);
    elsewhere.post("/login/second-factor", &[("code", &t.totp(&secret))]).await;
    assert_eq!(elsewhere.get("/account").await.status, StatusCode::OK);
    let new = "another long private passphrase";
    let mismatch = b.post("/account/password", &[("current", PW), ("new", new), ("confirm", "different")]).await;
    assert!(mismatch.body.contains("the two new passwords differ"));
    let changed = b.post("/account/password", &[("current", PW), ("new", new), ("confirm", new)]).await;
    assert_eq!(changed.location(), "/account?changed=1");
    assert!(b.get("/account?changed=1").await.body.contains("every other session ended"));
    assert_eq!(elsewhere.get("/account").await.status, StatusCode::SEE_OTHER);
    // Log out everywhere ends this one too.
    assert_eq!(b.post("/account/logout-everywhere", &[]).await.location(), "/login");
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);

    // A reset by mail sets a new password and ends every session.
    let mut r = Browser::new(&t);
    r.get("/password-reset").await;
    assert_eq!(r.post("/password-reset", &[("email", "ron@example.com")]).await.status, StatusCode::OK);
    let token = t.mailed_token("ron@example.com").await;
    let form = r.get(&format!("/password-reset/confirm?token={token}")).await;
    assert!(form.body.contains("Choose a new password"));
    let third = "a third long private passphrase";
    let done = r.post("/password-reset/confirm", &[("token", &token), ("password", third), ("confirm", third)]).await;
    assert_eq!(done.location(), "/login?reset=1");
    let reused = r.post("/password-reset/confirm", &[("token", &token), ("password", third), ("confirm", third)]).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let login = r.post("/login", &[("email", "ron@example.com"), ("password", third)]).await;
    assert_eq!(login.location(), "/login/second-factor");
}

#[tokio::test]
async fn a_channel_sends_a_test_message_and_provider_forms_list_their_fields() {
    let t = spawn_app().await;
    let mut b = Browser::new(&t);
    b.sign_up("sam@example.com").await;
    let (channel, _, project) = b.create_records("Tested").await;
    let before = t.outbox_len().await;
    let sent = b.post(&format!("/channels/{channel}/test"), &[("to", "inbox@example.com")]).await;
    assert!(sent.body.contains("The provider accepted the test message"), "{}", sent.body);
    assert_eq!(t.outbox_len().await, before + 1);
    let bad = b.post(&format!("/channels/{channel}/test"), &[("to", "not an address")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The new channel's form: one field per credential of the provider, never pre-filled.
    let form = b.get("/channels/new?provider=twilio").await;
    assert!(form.body.contains("name=\"cred_auth_token\" type=\"password\""), "{}", form.body);
    let users = b.get(&format!("/projects/{project}/end-users")).await;
    assert!(users.body.contains("No end user yet"));
}

/// The charts read at most five pages (1,000 entries) of the period's log
/// and say so: with 1,250 codes sent today the day's bar shows 1,000, and
/// the page still loads (the table shows its first 50).
#[tokio::test]
async fn the_charts_count_at_most_the_period_s_newest_thousand_entries() {
    use secure2fa_core::clock::Clock;
    use secure2fa_core::ids::{LogId, ProjectId};
    use secure2fa_core::model::{LogEntry, LogLevel};
    use secure2fa_core::ports::{LogStore, ProjectStore};

    let t = spawn_app().await;
    let mut b = Browser::new(&t);
    b.sign_up("busy@example.com").await;
    let (_, _, project) = b.create_records("Busy").await;
    let project = t.app.store.project(ProjectId::parse(&project).unwrap()).await.unwrap().unwrap();
    let now = t.clock.now();
    for _ in 0..1_250 {
        let entry = LogEntry {
            id: LogId::generate(),
            client_id: project.client_id,
            project_id: Some(project.id),
            user_ref: None,
            verification_id: None,
            level: LogLevel::Info,
            event: "otp.generated".into(),
            message: "Code generated".into(),
            created_at: now,
        };
        t.app.store.append_log(&entry).await.unwrap();
    }
    let home = b.get("/?period=1").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains(": 1000</title>"), "{}", home.body);
    assert!(!home.body.contains(": 1250</title>"));
    assert!(home.body.contains("The charts count the period's newest 1,000 log entries"));
    assert_eq!(home.body.matches("<td><code>otp.generated</code></td>").count(), 50, "{}", home.body);
}
