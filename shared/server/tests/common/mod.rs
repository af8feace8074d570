//! `spawn_app()`: the real local router on a random port over a fresh data
//! directory, with a manual clock. Pollers are not started: tests drain jobs
//! deterministically with `process_pending_jobs()`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secure2fa::{DevCredentials, LocalApp, LocalConfig};
use secure2fa_core::accounts::{TotpSecret, step_at};
use secure2fa_core::clock::ManualClock;
use secure2fa_core::crypto::payload;
use secure2fa_core::types::{PublicKey, SecretKey};
use serde_json::{Value, json};

pub const START: i64 = 1_800_000_000;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub app: LocalApp,
    pub clock: Arc<ManualClock>,
    pub creds: DevCredentials,
    pub dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {}", self.body))
    }
    pub fn verify_status(&self) -> &str {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        self.body["status"].as_str().unwrap()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut LocalConfig)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LocalConfig::new(dir.path());
    config.ip_limit_per_minute = None;
    configure(&mut config);
    let clock = Arc::new(ManualClock::new(START));
    let app = LocalApp::open(config, clock.clone()).unwrap();
    serve(app, clock, dir).await
}

/// Serves an already opened app (e.g. reopened on an existing data dir).
pub async fn serve(app: LocalApp, clock: Arc<ManualClock>, dir: tempfile::TempDir) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // As `LocalApp::serve` does before serving.
    app.recover_after_restart().await.unwrap();
    let creds = app.ensure_demo_project(&base).await.unwrap();
    let router = app.router().into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    TestApp { base, http: reqwest::Client::new(), app, clock, creds, dir, server }
}

impl TestApp {
    /// Stops serving and hands back what a restart needs: the config, the
    /// clock and the data directory (kept on disk).
    pub fn stop(mut self) -> (LocalConfig, Arc<ManualClock>, tempfile::TempDir) {
        self.server.abort();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (self.app.config.clone(), self.clock.clone(), dir)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() >= 4).expect("no code in message").to_owned()
}

impl TestApp {
    pub fn public_key(&self) -> PublicKey {
        PublicKey::parse(&self.creds.public_key).unwrap()
    }

    pub fn secret(&self) -> SecretKey {
        SecretKey::from_base64(&self.creds.secret_key).unwrap()
    }

    pub fn now(&self) -> i64 {
        use secure2fa_core::clock::Clock;
        self.clock.now()
    }

    pub fn encrypt(&self, plaintext: &Value) -> String {
        payload::seal(&self.secret(), &self.public_key(), plaintext.to_string().as_bytes())
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>, content_type: Option<&str>) -> Reply {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: body is not JSON: {text}"));
        assert!(!status.is_server_error(), "server error {status}: {body}");
        Reply { status, headers, body }
    }

    pub async fn post_encrypted(&self, path: &str, plaintext: &Value) -> Reply {
        let body = json!({ "public_key": self.creds.public_key, "encrypted_data": self.encrypt(plaintext) });
        self.post_raw(path, body.to_string(), Some("application/json")).await
    }

    pub async fn generate(&self, user: &str, to: &str) -> Reply {
        self.post_encrypted("/otp/generate", &json!({ "user_id": user, "to": to, "iat": self.now() })).await
    }

    pub async fn generate_with(&self, extra: Value) -> Reply {
        let mut p = json!({ "iat": self.now() });
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        self.post_encrypted("/otp/generate", &p).await
    }

    pub async fn verify(&self, user: &str, code: &str) -> Reply {
        self.post_encrypted("/otp/verify", &json!({ "user_id": user, "code": code, "iat": self.now() })).await
    }

    pub async fn verify_with(&self, extra: Value) -> Reply {
        let mut p = json!({ "iat": self.now() });
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        self.post_encrypted("/otp/verify", &p).await
    }

    /// Delivers pending jobs and returns the newest outbox message to `to`.
    pub async fn deliver_and_read(&self, to: &str) -> secure2fa_local::OutboxMessage {
        self.app.process_pending_jobs().await.unwrap();
        let resp: Vec<secure2fa_local::OutboxMessage> =
            self.http.get(format!("{}/dev/outbox", self.base)).send().await.unwrap().json().await.unwrap();
        resp.into_iter().find(|m| m.to == to).unwrap_or_else(|| panic!("nothing delivered"))
    }

    /// Generates and delivers a code, returning it.
    pub async fn send_code(&self, user: &str, to: &str) -> String {
        let r = self.generate(user, to).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        code_in(&self.deliver_and_read(to).await.body)
    }

    pub async fn outbox_len(&self) -> usize {
        self.app.outbox.list(10_000).await.unwrap().len()
    }
}

/// A wrong code of the same length as `code`.
pub fn wrong(code: &str) -> String {
    code.chars().map(|c| if c == '9' { '0' } else { char::from(c as u8 + 1) }).collect()
}

pub fn limit(n: u32) -> Option<NonZeroU32> {
    NonZeroU32::new(n)
}

/// The password the account helpers sign up with.
pub const PW: &str = "a long and private passphrase";

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The session cookie's value this answer sets.
    pub fn cookie(&self) -> String {
        let set = self.headers["set-cookie"].to_str().unwrap();
        for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
            assert!(set.contains(attr), "{set} lacks {attr}");
        }
        set.split(';').next().unwrap().strip_prefix("__Host-s2fa_session=").unwrap().to_owned()
    }
}

impl TestApp {
    pub async fn call(&self, method: Method, path: &str, cookie: Option<&str>, body: Option<Value>) -> Answer {
        self.call_from(method, path, cookie, body, None).await
    }

    pub async fn call_from(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        body: Option<Value>,
        origin: Option<&str>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = cookie {
            req = req.header("cookie", format!("__Host-s2fa_session={c}"));
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        assert!(!status.is_server_error(), "{status}: {text}");
        Answer { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    /// The token quoted in the newest outbox message to `to`.
    pub async fn mailed_token(&self, to: &str) -> String {
        let list: Value = self.http.get(&self.creds.outbox_url).send().await.unwrap().json().await.unwrap();
        let body = list.as_array().unwrap().iter().find(|m| m["to"] == to).expect("a message")["body"]
            .as_str()
            .unwrap()
            .to_owned();
        let start = body.find("\"token\": \"").expect("a token") + 10;
        body[start..start + 43].to_owned()
    }

    pub fn totp(&self, secret: &TotpSecret) -> String {
        secret.code_at_step(step_at(self.now()))
    }
}

impl TestApp {
    /// Signs `email` up and in (TOTP enrolled): the session cookie's value.
    pub async fn signed_in(&self, email: &str) -> String {
        self.call(Method::POST, "/v1/account/signup", None, Some(json!({ "email": email }))).await;
        let token = self.mailed_token(email).await;
        self.call(Method::POST, "/v1/account/confirm", None, Some(json!({ "token": token, "password": PW }))).await;
        let login =
            self.call(Method::POST, "/v1/account/login", None, Some(json!({ "email": email, "password": PW }))).await;
        let enrol = login.cookie();
        let start = self.call(Method::POST, "/v1/account/totp", Some(&enrol), None).await;
        let secret = TotpSecret::from_base32(start.body["secret"].as_str().unwrap()).unwrap();
        let code = json!({ "code": self.totp(&secret) });
        self.call(Method::POST, "/v1/account/totp/confirm", Some(&enrol), Some(code)).await.cookie()
    }
}
