//! The management JSON API: operator-token auth, the full setup of a
//! project through it, linked-record protection, and the OpenAPI document.

mod common;

use common::*;
use reqwest::StatusCode;
use secure2fa_core::crypto::payload;
use secure2fa_core::types::{PublicKey, SecretKey};
use serde_json::{Value, json};

impl TestApp {
    /// A request with the operator token.
    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        as_token(self, &self.creds.operator_token, method, path, body).await
    }
}

#[tokio::test]
async fn management_routes_require_the_operator_token() {
    let t = spawn_app().await;
    for token in [None, Some("wrong-token-wrong-token-wrong")] {
        let mut req = t.http.get(format!("{}/v1/clients", t.base));
        if let Some(tok) = token {
            req = req.bearer_auth(tok);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");
    }
    let (status, body) = t.admin(reqwest::Method::GET, "/v1/clients", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["clients"][0]["email"], "demo@secure2fa.localhost");
    assert_eq!(body["clients"][0]["is_admin"], true);
}

#[tokio::test]
async fn a_project_set_up_through_the_api_serves_generate_and_verify() {
    use reqwest::Method;
    let t = spawn_app().await;
    let (s, client) = t.admin(Method::POST, "/v1/clients", Some(json!({ "email": "dev@acme.example" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{client}");
    assert_eq!(client["is_admin"], false, "only the first client is admin");
    let cid = client["id"].as_str().unwrap();
    let (s, _) = t.admin(Method::POST, "/v1/clients", Some(json!({ "email": "DEV@acme.example" }))).await;
    assert_eq!(s, StatusCode::CONFLICT, "email is unique (domain case-insensitive)");

    let (s, channel) = t
        .admin(
            Method::POST,
            &format!("/v1/clients/{cid}/channels"),
            Some(json!({ "title": "Mail", "method": "email", "provider": "outbox" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{channel}");
    let (s, err) = t
        .admin(
            Method::POST,
            &format!("/v1/clients/{cid}/channels"),
            Some(json!({ "title": "Bad", "method": "sms", "provider": "ses" })),
        )
        .await;
    assert_eq!(
        (s, err["error"]["message"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "provider ses cannot send sms")
    );

    let (s, err) = t
        .admin(Method::POST, &format!("/v1/clients/{cid}/templates"), Some(json!({ "title": "T", "default_lang": "en", "versions": { "en": { "subject": "x", "body": "no code" } } })))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(err["error"]["message"].as_str().unwrap().contains("OTP_CODE"));
    let (s, template) = t
        .admin(
            Method::POST,
            &format!("/v1/clients/{cid}/templates"),
            Some(json!({ "title": "Login", "default_lang": "en", "format": "html", "versions": {
                "en": { "subject": "{{ PROJECT_NAME }} code", "body": "<p>Code: <b>{{ OTP_CODE }}</b></p>" } } })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{template}");

    let (s, project) = t
        .admin(
            Method::POST,
            &format!("/v1/clients/{cid}/projects"),
            Some(json!({ "title": "Shop & Co", "channel_id": channel["id"], "template_id": template["id"], "code_length": 8, "max_attempts": 3 })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{project}");
    let pk = PublicKey::parse(project["public_key"].as_str().unwrap()).unwrap();
    let sk = SecretKey::from_base64(project["secret_key"].as_str().unwrap()).unwrap();
    let (_, listed) = t.admin(Method::GET, &format!("/v1/clients/{cid}/projects"), None).await;
    assert!(listed["projects"][0].get("secret_key").is_none(), "secret keys are shown once");

    let call = |path: &'static str, plain: Value| {
        let data = payload::seal(&sk, &pk, plain.to_string().as_bytes());
        t.post_raw(
            path,
            json!({ "public_key": pk.as_str(), "encrypted_data": data }).to_string(),
            Some("application/json"),
        )
    };
    let r = call("/otp/generate", json!({ "user_id": "u", "to": "shopper@example.com", "iat": t.now() })).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let msg = t.deliver_and_read("shopper@example.com").await;
    assert_eq!(msg.subject, "Shop & Co code");
    let code = code_in(&msg.body);
    assert_eq!(code.len(), 8);
    assert!(msg.body.starts_with("<p>Code: <b>"));
    let r = call("/otp/verify", json!({ "user_id": "u", "code": code, "iat": t.now() })).await;
    assert_eq!(r.verify_status(), "approved");

    let (_, logs) = t.admin(Method::GET, &format!("/v1/clients/{cid}/logs?level=success"), None).await;
    assert_eq!(logs["logs"].as_array().unwrap().len(), 1);
    assert_eq!(logs["logs"][0]["event"], "otp.approved");

    let channel_path = format!("/v1/clients/{cid}/channels/{}", channel["id"].as_str().unwrap());
    let (s, err) = t.admin(Method::DELETE, &channel_path, None).await;
    assert_eq!((s, err["error"]["code"].as_str().unwrap()), (StatusCode::CONFLICT, "conflict"));
    let (s, _) =
        t.admin(Method::DELETE, &format!("/v1/clients/{cid}/projects/{}", project["id"].as_str().unwrap()), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let r = call("/otp/verify", json!({ "user_id": "u", "code": code, "iat": t.now() })).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a deleted project's keys stop working");
    assert_eq!(t.admin(Method::DELETE, &channel_path, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(t.admin(Method::DELETE, &channel_path, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_management_input_is_a_4xx() {
    use reqwest::Method;
    let t = spawn_app().await;
    let (s, _) = t.admin(Method::POST, "/v1/clients", Some(json!({ "email": "nope" }))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, e) = t.admin(Method::POST, "/v1/clients", Some(json!({ "email": "a@b.co", "extra": 1 }))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(!e["error"]["message"].as_str().unwrap().contains("a@b.co"));
    let (s, _) = t.admin(Method::GET, "/v1/clients/cli_garbage/projects", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, clients) = t.admin(Method::GET, "/v1/clients", None).await;
    let cid = clients["clients"][0]["id"].as_str().unwrap();
    let (s, _) = t
        .admin(
            Method::POST,
            &format!("/v1/clients/{cid}/projects"),
            Some(json!({ "title": "x", "channel_id": "chn_x", "template_id": "tpl_x" })),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t.admin(Method::GET, &format!("/v1/clients/{cid}/logs?level=loud"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let resp = t
        .http
        .post(format!("{}/v1/clients", t.base))
        .bearer_auth(&t.creds.operator_token)
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_documented_path_is_served() {
    let t = spawn_app().await;
    let doc: Value = t.http.get(format!("{}/v1/openapi.json", t.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let (_, clients) = t.admin(reqwest::Method::GET, "/v1/clients", None).await;
    let cid = clients["clients"][0]["id"].as_str().unwrap();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{client_id}", cid)
            .replace("{channel_id}", "chn_01J00000000000000000000000")
            .replace("{template_id}", "tpl_01J00000000000000000000000")
            .replace("{project_id}", "prj_01J00000000000000000000000");
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = t
                .http
                .request(m, format!("{}{concrete}", t.base))
                .bearer_auth(&t.creds.operator_token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let unrouted = status == StatusCode::METHOD_NOT_ALLOWED || body["error"]["message"] == "no such route";
            assert!(!unrouted, "{method} {path} is documented but not routed ({status})");
        }
    }
}

/// `/dev/outbox` lists codes and addresses: on a server that serves other
/// hosts (`--public`) it needs the operator token.
#[tokio::test]
async fn a_public_server_keeps_the_outbox_behind_the_operator_token() {
    let t = spawn_app_with(|c| c.public = true).await;
    let url = format!("{}/dev/outbox", t.base);
    let resp = t.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");
    let resp = t.http.get(&url).bearer_auth(&t.creds.operator_token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// What axum itself refuses (a query string or path that does not parse, a
/// method a route lacks) still answers the JSON error format.
#[tokio::test]
async fn requests_that_do_not_parse_get_json_errors() {
    let t = spawn_app().await;
    let (status, body) = t.admin(reqwest::Method::GET, "/v1/clients", None).await;
    assert_eq!(status, StatusCode::OK);
    let client = body["clients"][0]["id"].as_str().unwrap().to_owned();
    for (path, token) in [
        ("/dev/outbox?limit=many".to_owned(), false),
        ("/dev/outbox?limit=-1".to_owned(), false),
        (format!("/v1/clients/{client}/logs?limit=lots"), true),
        (format!("/v1/clients/{client}/logs?level=catastrophic"), true),
    ] {
        let mut req = t.http.get(format!("{}{path}", t.base));
        if token {
            req = req.bearer_auth(&t.creds.operator_token);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/json", "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{path}: {body}");
        assert!(!body.to_string().contains("catastrophic") && !body.to_string().contains("lots"), "{body}");
    }
    let resp = t.http.put(format!("{}/dev/outbox", t.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "method_not_allowed");
}

/// A template linked to an SMS channel is checked at save: plain text, and
/// short enough on the air (segments, GSM-7 or UCS-2) in every language.
#[tokio::test]
async fn an_sms_project_needs_a_text_template_that_fits_a_few_segments() {
    use reqwest::Method;
    let t = spawn_app().await;
    let (_, client) = t.admin(Method::POST, "/v1/clients", Some(json!({ "email": "sms@acme.example" }))).await;
    let cid = client["id"].as_str().unwrap();
    let (s, channel) = t
        .admin(
            Method::POST,
            &format!("/v1/clients/{cid}/channels"),
            Some(json!({ "title": "SMS", "method": "sms", "provider": "outbox" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{channel}");
    let template = |format: &str, en: String, ja: String| {
        json!({ "title": "T", "default_lang": "en", "format": format, "versions": {
            "en": { "subject": "", "body": en }, "ja": { "subject": "", "body": ja } } })
    };
    let project = |template_id: &Value| json!({ "title": "SMS login", "channel_id": channel["id"], "template_id": template_id, "code_length": 10 });
    let cases = [
        // 3 GSM-7 segments hold 459 characters: 441 + a 10-digit code + "Code: " = 457.
        ("text", format!("Code: {{{{ OTP_CODE }}}}{}", "x".repeat(441)), "コード {{ OTP_CODE }}".to_string(), None),
        (
            "text",
            format!("Code: {{{{ OTP_CODE }}}}{}", "x".repeat(450)),
            "コード {{ OTP_CODE }}".to_string(),
            Some("version en: the SMS takes 4 segments"),
        ),
        // UCS-2: 3 segments hold 201 units.
        (
            "text",
            "Code {{ OTP_CODE }}".to_string(),
            format!("{{{{ OTP_CODE }}}}{}", "あ".repeat(200)),
            Some("version ja: the SMS takes 4 segments"),
        ),
        (
            "html",
            "<p>{{ OTP_CODE }}</p>".to_string(),
            "<p>{{ OTP_CODE }}</p>".to_string(),
            Some("needs a text template"),
        ),
    ];
    for (format, en, ja, refused) in cases {
        let (s, tpl) =
            t.admin(Method::POST, &format!("/v1/clients/{cid}/templates"), Some(template(format, en, ja))).await;
        assert_eq!(s, StatusCode::CREATED, "{tpl}");
        let (s, body) = t.admin(Method::POST, &format!("/v1/clients/{cid}/projects"), Some(project(&tpl["id"]))).await;
        match refused {
            None => assert_eq!(s, StatusCode::CREATED, "{body}"),
            Some(message) => {
                assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
                assert!(body["error"]["message"].as_str().unwrap().contains(message), "{body}");
            }
        }
    }
    // A template of another client is not found, like one that does not exist.
    let (_, other) = t.admin(Method::GET, "/v1/clients", None).await;
    let demo = other["clients"][0]["id"].as_str().unwrap();
    let (_, demo_templates) = t.admin(Method::GET, &format!("/v1/clients/{demo}/templates"), None).await;
    let foreign = &demo_templates["templates"][0]["id"];
    let (s, body) = t.admin(Method::POST, &format!("/v1/clients/{cid}/projects"), Some(project(foreign))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["message"], "template does not exist");
}

/// A page on another site that rebinds its own name to 127.0.0.1 reaches
/// the local server with its own name in `Host`: the outbox refuses it.
#[tokio::test]
async fn the_outbox_refuses_requests_addressed_to_another_host_name() {
    let t = spawn_app().await;
    let url = format!("{}/dev/outbox", t.base);
    let port = t.base.rsplit(':').next().unwrap();
    let resp = t.http.get(&url).header("host", format!("rebind.evil.example:{port}")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "forbidden");
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let resp = t.http.get(&url).header("host", host.clone()).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{host}");
    }
}

/// Authorization lives in the management operations: a client principal
/// reaches its own records only (another client's are "not found", like
/// absent ones), client administration needs the operator or an admin.
#[tokio::test]
async fn each_operation_authorizes_its_principal() {
    use secure2fa_core::error::ManageError;
    use secure2fa_core::ids::ClientId;
    use secure2fa_core::manage::Principal;
    use secure2fa_core::model::LogFilter;
    use secure2fa_core::types::Email;

    let t = spawn_app().await;
    let m = &t.app.manage;
    let admin = m.list_clients(&Principal::Operator).await.unwrap().remove(0);
    assert!(admin.is_admin, "the demo client came first");
    let alice = m.create_client(&Principal::Operator, &Email::parse("alice@example.com").unwrap()).await.unwrap();
    let bob = m.create_client(&Principal::Operator, &Email::parse("bob@example.com").unwrap()).await.unwrap();
    let as_alice = Principal::Client { id: alice.id, is_admin: false, recent_sign_in: false, by_token: false };
    let as_admin = Principal::Client { id: admin.id, is_admin: true, recent_sign_in: false, by_token: false };

    assert!(m.list_channels(&as_alice, alice.id).await.unwrap().is_empty());
    let not_found = |r: Result<(), ManageError>| matches!(r, Err(ManageError::NotFound("client")));
    assert!(not_found(m.list_channels(&as_alice, bob.id).await.map(|_| ())));
    assert!(not_found(m.list_templates(&as_alice, admin.id).await.map(|_| ())));
    assert!(not_found(m.list_projects(&as_alice, admin.id).await.map(|_| ())));
    assert!(not_found(m.list_logs(&as_alice, admin.id, LogFilter::default()).await.map(|_| ())));
    let demo_project = m.list_projects(&Principal::Operator, admin.id).await.unwrap().remove(0);
    assert!(not_found(m.remove_project(&as_alice, admin.id, demo_project.id).await.map(|_| ())));
    assert!(not_found(m.delete_channel(&as_alice, admin.id, demo_project.channel_id).await.map(|_| ())));
    assert!(not_found(m.delete_template(&as_alice, admin.id, demo_project.template_id).await.map(|_| ())));
    // An unknown client id reads the same as another client's.
    assert!(not_found(m.list_channels(&as_alice, ClientId::generate()).await.map(|_| ())));
    assert_eq!(m.list_projects(&Principal::Operator, admin.id).await.unwrap().len(), 1, "nothing was deleted");

    assert!(matches!(m.list_clients(&as_alice).await, Err(ManageError::Forbidden)));
    let carol = Email::parse("carol@example.com").unwrap();
    assert!(matches!(m.create_client(&as_alice, &carol).await, Err(ManageError::Forbidden)));
    assert_eq!(m.list_clients(&as_admin).await.unwrap().len(), 3);
    assert_eq!(m.list_projects(&as_admin, admin.id).await.unwrap().len(), 1, "an admin reaches every client");
}

/// A project's quota (set at creation) answers 429 with `Retry-After` past
/// its burst; another project's calls are not counted against it.
#[tokio::test]
async fn a_project_over_its_quota_is_refused_and_others_are_not() {
    use reqwest::Method;
    let t = spawn_app().await;
    let (_, client) = t.admin(Method::POST, "/v1/clients", Some(json!({ "email": "dev@quota.example" }))).await;
    let cid = client["id"].as_str().unwrap();
    let (_, channel) = t
        .admin(
            Method::POST,
            &format!("/v1/clients/{cid}/channels"),
            Some(json!({ "title": "Mail", "method": "email", "provider": "outbox" })),
        )
        .await;
    let (_, template) = t
        .admin(
            Method::POST,
            &format!("/v1/clients/{cid}/templates"),
            Some(json!({ "title": "T", "default_lang": "en", "versions": { "en": { "subject": "Code", "body": "{{ OTP_CODE }}" } } })),
        )
        .await;
    let new_project = |quota: Value| {
        let mut body = json!({ "title": "Busy", "channel_id": channel["id"], "template_id": template["id"] });
        body.as_object_mut().unwrap().extend(quota.as_object().unwrap().clone());
        body
    };
    let path = format!("/v1/clients/{cid}/projects");
    let (s, err) =
        t.admin(Method::POST, &path, Some(new_project(json!({ "requests_per_second": 10, "burst": 5 })))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(err["error"]["message"].as_str().unwrap().contains("burst"), "{err}");
    let (s, project) =
        t.admin(Method::POST, &path, Some(new_project(json!({ "requests_per_second": 1, "burst": 4 })))).await;
    assert_eq!(s, StatusCode::CREATED, "{project}");
    assert_eq!(project["settings"]["quota"], json!({ "per_second": 1, "burst": 4 }));
    let pk = PublicKey::parse(project["public_key"].as_str().unwrap()).unwrap();
    let sk = SecretKey::from_base64(project["secret_key"].as_str().unwrap()).unwrap();
    let verify = || {
        let plain = json!({ "user_id": "nobody", "code": "123456", "iat": t.now() });
        let data = payload::seal(&sk, &pk, plain.to_string().as_bytes());
        t.post_raw(
            "/otp/verify",
            json!({ "public_key": pk.as_str(), "encrypted_data": data }).to_string(),
            Some("application/json"),
        )
    };
    for _ in 0..4 {
        assert_eq!(verify().await.verify_status(), "not_found", "within the burst");
    }
    let refused = verify().await;
    assert_eq!((refused.status, refused.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("quota_exceeded"), "{}", refused.body);
    assert_eq!(refused.headers["retry-after"], "1", "one request per second comes back");
    // The demo project's own quota is untouched.
    assert_eq!(t.verify("someone", "123456").await.verify_status(), "not_found");
    // A refused request with a bad payload is not counted: quota comes after authentication.
    let forged = t
        .post_raw(
            "/otp/verify",
            json!({ "public_key": pk.as_str(), "encrypted_data": "AAAA" }).to_string(),
            Some("application/json"),
        )
        .await;
    assert_ne!(forged.status, StatusCode::TOO_MANY_REQUESTS, "an unauthenticated call never reaches the quota");
}

/// A request with `token` as the bearer.
async fn as_token(
    t: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = t.http.request(method, format!("{}{path}", t.base)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(!status.is_server_error(), "{status}: {text}");
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// A client's API token reaches its own records only: another client's are
/// absent (404, not 403: their ids are not confirmed), the admin-only routes
/// are 403, nothing of the other client changes, and a revoked token is
/// refused at once.
#[tokio::test]
async fn a_client_token_reaches_its_own_records_only() {
    use reqwest::Method;
    let t = spawn_app().await;
    let mut ids = Vec::new();
    for email in ["a@example.com", "b@example.com"] {
        let (s, c) = t.admin(Method::POST, "/v1/clients", Some(json!({ "email": email }))).await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        assert_eq!(c["is_admin"], false, "the demo client is the admin");
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    let (a, b) = (format!("/v1/clients/{}", ids[0]), format!("/v1/clients/{}", ids[1]));
    let channel = json!({ "title": "Mail", "method": "email", "provider": "outbox" });
    let (_, b_channel) = t.admin(Method::POST, &format!("{b}/channels"), Some(channel.clone())).await;
    let (s, created) = t.admin(Method::POST, &format!("{a}/tokens"), Some(json!({ "name": "CI" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("s2fa_ct_") && token.starts_with(created["prefix"].as_str().unwrap()));

    // Its own records.
    assert_eq!(
        as_token(&t, &token, Method::POST, &format!("{a}/channels"), Some(channel.clone())).await.0,
        StatusCode::CREATED
    );
    let (s, listed) = as_token(&t, &token, Method::GET, &format!("{a}/channels"), None).await;
    assert_eq!((s, listed["channels"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let (s, tokens) = as_token(&t, &token, Method::GET, &format!("{a}/tokens"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(tokens["tokens"][0]["last_used_at"].is_i64(), "{tokens}");
    assert!(!tokens.to_string().contains(&token), "the token is never shown again");

    // Another client's: absent, and unchanged.
    let b_channel_path = format!("{b}/channels/{}", b_channel["id"].as_str().unwrap());
    for (method, path, body) in [
        (Method::GET, format!("{b}/channels"), None),
        (Method::POST, format!("{b}/channels"), Some(channel.clone())),
        (Method::DELETE, b_channel_path.clone(), None),
        (Method::POST, format!("{b_channel_path}/test"), Some(json!({ "to": "x@example.com" }))),
        (Method::POST, format!("{b_channel_path}/receipts-secret"), None),
        (Method::GET, format!("{b}/projects"), None),
        (Method::GET, format!("{b}/logs"), None),
        (Method::GET, format!("{b}/tokens"), None),
        (Method::POST, format!("{b}/tokens"), Some(json!({ "name": "x" }))),
        (Method::DELETE, format!("{b}/tokens/tok_01J00000000000000000000000"), None),
        (Method::GET, format!("{b}/templates"), None),
        (Method::POST, format!("{b}/templates"), Some(json!({ "title": "T", "default_lang": "en", "versions": {} }))),
    ] {
        let (s, body) = as_token(&t, &token, method.clone(), &path, body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {body}");
    }
    let (_, b_channels) = t.admin(Method::GET, &format!("{b}/channels"), None).await;
    assert_eq!(b_channels["channels"].as_array().map(Vec::len), Some(1), "b's data unchanged");
    // B's channel in a project of A's: as absent as a made-up one.
    let template = json!({ "title": "T", "default_lang": "en", "versions": { "en": { "subject": "S", "body": "{{ OTP_CODE }}" } } });
    let (_, a_template) = as_token(&t, &token, Method::POST, &format!("{a}/templates"), Some(template)).await;
    let project = json!({ "title": "P", "channel_id": b_channel["id"], "template_id": a_template["id"] });
    let (s, body) = as_token(&t, &token, Method::POST, &format!("{a}/projects"), Some(project)).await;
    assert_eq!((s, body["error"]["message"].as_str()), (StatusCode::BAD_REQUEST, Some("channel does not exist")));
    // Admin-only routes; and no token mints or revokes tokens, its own client's included.
    assert_eq!(as_token(&t, &token, Method::GET, "/v1/clients", None).await.0, StatusCode::FORBIDDEN);
    let new_client = Some(json!({ "email": "c@example.com" }));
    assert_eq!(as_token(&t, &token, Method::POST, "/v1/clients", new_client).await.0, StatusCode::FORBIDDEN);
    let another = Some(json!({ "name": "more" }));
    assert_eq!(as_token(&t, &token, Method::POST, &format!("{a}/tokens"), another).await.0, StatusCode::FORBIDDEN);
    let revoke = format!("{a}/tokens/{}", created["id"].as_str().unwrap());
    assert_eq!(as_token(&t, &token, Method::DELETE, &revoke, None).await.0, StatusCode::FORBIDDEN);

    // The admin client's token lists clients, and reaches no other client's records.
    let (_, clients) = t.admin(Method::GET, "/v1/clients", None).await;
    let admin = clients["clients"].as_array().unwrap().iter().find(|c| c["is_admin"] == true).unwrap();
    let admin_path = format!("/v1/clients/{}", admin["id"].as_str().unwrap());
    let (_, admin_token) = t.admin(Method::POST, &format!("{admin_path}/tokens"), Some(json!({ "name": "ops" }))).await;
    let admin_token = admin_token["token"].as_str().unwrap();
    assert_eq!(as_token(&t, admin_token, Method::GET, "/v1/clients", None).await.0, StatusCode::OK);
    assert_eq!(as_token(&t, admin_token, Method::GET, &format!("{b}/channels"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(as_token(&t, admin_token, Method::GET, &format!("{admin_path}/channels"), None).await.0, StatusCode::OK);

    // Revoked (by the operator): refused at once, and both events logged.
    assert_eq!(t.admin(Method::DELETE, &revoke, None).await.0, StatusCode::NO_CONTENT);
    let (_, logs) = t.admin(Method::GET, &format!("{a}/logs"), None).await;
    let events: Vec<&str> = logs["logs"].as_array().unwrap().iter().filter_map(|l| l["event"].as_str()).collect();
    assert!(events.contains(&"token.created") && events.contains(&"token.revoked"), "{events:?}");
    assert_eq!(as_token(&t, &token, Method::GET, &format!("{a}/channels"), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        as_token(&t, "s2fa_ct_not-a-token-at-all", Method::GET, "/v1/clients", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_project_is_edited_in_place_and_keeps_its_keys() {
    use reqwest::Method;
    let t = spawn_app().await;
    let (_, client) = t.admin(Method::POST, "/v1/clients", Some(json!({ "email": "edit@acme.example" }))).await;
    let c = format!("/v1/clients/{}", client["id"].as_str().unwrap());
    let (_, ch) = t
        .admin(
            Method::POST,
            &format!("{c}/channels"),
            Some(json!({ "title": "Mail", "method": "email", "provider": "outbox" })),
        )
        .await;
    let tpl = |title: &str| json!({ "title": title, "default_lang": "en", "versions": { "en": { "subject": "Code", "body": "{{ OTP_CODE }}" } } });
    let (_, t1) = t.admin(Method::POST, &format!("{c}/templates"), Some(tpl("One"))).await;
    let (_, t2) = t.admin(Method::POST, &format!("{c}/templates"), Some(tpl("Two"))).await;
    let (s, prj) = t
        .admin(
            Method::POST,
            &format!("{c}/projects"),
            Some(json!({ "title": "App", "channel_id": ch["id"], "template_id": t1["id"] })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{prj}");
    let p = format!("{c}/projects/{}", prj["id"].as_str().unwrap());

    let (s, edited) =
        t.admin(Method::PATCH, &p, Some(json!({ "title": "Shop", "template_id": t2["id"], "max_attempts": 3 }))).await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(
        (&edited["title"], &edited["template_id"], &edited["settings"]["max_attempts"]),
        (&json!("Shop"), &t2["id"], &json!(3))
    );
    assert_eq!(
        edited["settings"]["expiration_seconds"], prj["settings"]["expiration_seconds"],
        "untouched settings stay"
    );
    let (_, read) = t.admin(Method::GET, &p, None).await;
    assert_eq!(
        (read["public_key"].clone(), read["title"].clone()),
        (prj["public_key"].clone(), json!("Shop")),
        "same keys"
    );
    // The template no longer linked can go; the linked one cannot.
    let t1_path = format!("{c}/templates/{}", t1["id"].as_str().unwrap());
    assert_eq!(t.admin(Method::DELETE, &t1_path, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(
        t.admin(Method::DELETE, &format!("{c}/templates/{}", t2["id"].as_str().unwrap()), None).await.0,
        StatusCode::CONFLICT
    );

    // A webhook added gets a secret once; a new URL keeps it; null removes it.
    let (s, hooked) =
        t.admin(Method::PATCH, &p, Some(json!({ "webhook_url": "https://hooks.acme.example/otp" }))).await;
    assert_eq!(s, StatusCode::OK, "{hooked}");
    assert!(hooked["webhook_secret"].as_str().is_some_and(|s| s.len() >= 32));
    let (_, moved) =
        t.admin(Method::PATCH, &p, Some(json!({ "webhook_url": "https://hooks2.acme.example/otp" }))).await;
    assert!(moved.get("webhook_secret").is_none() && moved["has_webhook"] == true);
    let (_, unhooked) = t.admin(Method::PATCH, &p, Some(json!({ "webhook_url": null }))).await;
    assert_eq!(unhooked["has_webhook"], false);

    // Refusals change nothing.
    let (_, demo) = t.admin(Method::GET, "/v1/clients", None).await;
    let demo_id = demo["clients"].as_array().unwrap().iter().find(|c| c["is_admin"] == true).unwrap()["id"].clone();
    let (_, demo_templates) =
        t.admin(Method::GET, &format!("/v1/clients/{}/templates", demo_id.as_str().unwrap()), None).await;
    let foreign = demo_templates["templates"][0]["id"].clone();
    for (body, status) in [
        (json!({ "template_id": foreign }), StatusCode::BAD_REQUEST),
        (json!({ "max_attempts": 0 }), StatusCode::BAD_REQUEST),
        (json!({ "public_key": "pk_x" }), StatusCode::BAD_REQUEST),
        (json!({ "title": "" }), StatusCode::BAD_REQUEST),
    ] {
        let (s, e) = t.admin(Method::PATCH, &p, Some(body.clone())).await;
        assert_eq!(s, status, "{body} -> {e}");
    }
    let (_, after) = t.admin(Method::GET, &p, None).await;
    assert_eq!(
        (&after["title"], &after["template_id"], &after["settings"]["max_attempts"]),
        (&json!("Shop"), &t2["id"], &json!(3))
    );
    let elsewhere = format!("/v1/clients/{}/projects/{}", demo_id.as_str().unwrap(), prj["id"].as_str().unwrap());
    assert_eq!(t.admin(Method::GET, &elsewhere, None).await.0, StatusCode::NOT_FOUND, "under another client: 404");
}

#[tokio::test]
async fn channels_and_templates_are_edited_in_place() {
    use reqwest::Method;
    let t = spawn_app().await;
    let (_, client) = t.admin(Method::POST, "/v1/clients", Some(json!({ "email": "edit@acme.example" }))).await;
    let c = format!("/v1/clients/{}", client["id"].as_str().unwrap());
    let creds = json!({ "server_token": "pm-secret-1", "from": "otp@acme.example" });
    let (s, ch) = t
        .admin(
            Method::POST,
            &format!("{c}/channels"),
            Some(json!({ "title": "Mail", "method": "email", "provider": "postmark", "credentials": creds })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ch}");
    let chp = format!("{c}/channels/{}", ch["id"].as_str().unwrap());
    let (s, renamed) = t.admin(Method::PATCH, &chp, Some(json!({ "title": "Postmark", "credentials": { "server_token": "pm-secret-2", "from": "login@acme.example" } }))).await;
    assert_eq!((s, &renamed["title"]), (StatusCode::OK, &json!("Postmark")), "{renamed}");
    assert!(!renamed.to_string().contains("pm-secret"), "credentials are never returned");
    let (_, read) = t.admin(Method::GET, &chp, None).await;
    assert_eq!((&read["title"], &read["provider"]), (&json!("Postmark"), &json!("postmark")));
    let (s, e) = t.admin(Method::PATCH, &chp, Some(json!({ "credentials": { "from": "x@acme.example" } }))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "credentials replaced whole, checked against the provider's schema: {e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("server_token"));
    assert!(!e.to_string().contains("x@acme.example"));

    let body = json!({ "title": "Login", "default_lang": "en", "versions": { "en": { "subject": "Code", "body": "Code {{ OTP_CODE }}" } } });
    let (_, tpl) = t.admin(Method::POST, &format!("{c}/templates"), Some(body)).await;
    let tp = format!("{c}/templates/{}", tpl["id"].as_str().unwrap());
    let fr = json!({ "subject": "Code", "body": "Votre code {{ OTP_CODE }}" });
    let (s, with_fr) = t.admin(Method::PUT, &format!("{tp}/versions/fr"), Some(fr)).await;
    assert_eq!(s, StatusCode::OK, "{with_fr}");
    assert_eq!(with_fr["versions"]["fr"]["body"], "Votre code {{ OTP_CODE }}");
    let (s, e) = t
        .admin(Method::PUT, &format!("{tp}/versions/de"), Some(json!({ "subject": "Code", "body": "kein Code" })))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "every version holds the code: {e}");
    let (s, _) = t.admin(Method::DELETE, &format!("{tp}/versions/en"), None).await;
    assert_eq!(s, StatusCode::CONFLICT, "the default language's version stays");
    let (s, moved) = t.admin(Method::PATCH, &tp, Some(json!({ "default_lang": "fr", "title": "Connexion" }))).await;
    assert_eq!((s, &moved["default_lang"], &moved["title"]), (StatusCode::OK, &json!("fr"), &json!("Connexion")));
    let (s, only_fr) = t.admin(Method::DELETE, &format!("{tp}/versions/en"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(only_fr["versions"].as_object().unwrap().len(), 1);
    assert_eq!(t.admin(Method::DELETE, &format!("{tp}/versions/en"), None).await.0, StatusCode::NOT_FOUND);
    let (_, read) = t.admin(Method::GET, &tp, None).await;
    assert_eq!(read, only_fr);
    // At most 30 versions: the template cannot grow without bound.
    let langs = [
        "de", "es", "it", "nl", "pt", "sv", "da", "fi", "nb", "pl", "cs", "sk", "sl", "hr", "hu", "ro", "bg", "el",
        "tr", "ru", "uk", "ja", "ko", "zh", "ar", "he", "hi", "th", "vi",
    ];
    for lang in langs {
        let v = json!({ "subject": "Code", "body": "{{ OTP_CODE }}" });
        let (s, e) = t.admin(Method::PUT, &format!("{tp}/versions/{lang}"), Some(v)).await;
        assert_eq!(s, StatusCode::OK, "{lang}: {e}");
    }
    let (s, e) = t
        .admin(Method::PUT, &format!("{tp}/versions/id"), Some(json!({ "subject": "Code", "body": "{{ OTP_CODE }}" })))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

    // An SMS project's template must stay text and fit: an HTML switch is refused.
    let (s, sms) = t.admin(Method::POST, &format!("{c}/channels"), Some(json!({ "title": "SMS", "method": "sms", "provider": "twilio", "credentials": { "account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "0123456789abcdef0123456789abcdef", "from": "+15005550006" } }))).await;
    assert_eq!(s, StatusCode::CREATED, "{sms}");
    let (s, prj) = t
        .admin(
            Method::POST,
            &format!("{c}/projects"),
            Some(json!({ "title": "App", "channel_id": sms["id"], "template_id": tpl["id"] })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{prj}");
    let (s, e) = t.admin(Method::PATCH, &tp, Some(json!({ "format": "html" }))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (_, after) = t.admin(Method::GET, &tp, None).await;
    assert_eq!(after["format"], "text");
}

#[tokio::test]
async fn a_projects_end_users_show_their_last_code_and_delivery_and_their_logs() {
    use reqwest::Method;
    let t = spawn_app().await;
    assert_eq!(t.generate("alice-1", "alice@example.com").await.status, StatusCode::ACCEPTED);
    assert_eq!(t.generate("bob-2", "bob@example.com").await.status, StatusCode::ACCEPTED);
    t.app.process_pending_jobs().await.unwrap();
    t.clock.advance(5);
    assert_eq!(t.verify("alice-1", "000000").await.verify_status(), "invalid_code");
    let (_, clients) = t.admin(Method::GET, "/v1/clients", None).await;
    let c = format!("/v1/clients/{}", clients["clients"][0]["id"].as_str().unwrap());
    let p = format!("{c}/projects/{}", t.creds.project_id);
    let (s, list) = t.admin(Method::GET, &format!("{p}/end-users"), None).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let users = list["end_users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    let alice = users.iter().find(|u| u["user_id"] == "alice-1").expect("the client's own id, opened");
    assert_eq!(
        (&alice["state"], &alice["attempts"], &alice["max_attempts"]),
        (&json!("pending"), &json!(1), &json!(5))
    );
    assert_eq!(alice["delivery"]["state"], "sent");
    assert!(alice["delivery"]["provider_message_id"].is_string(), "{alice}");
    assert!(!list.to_string().contains("alice@example.com"), "no destination in the view");

    // Its logs, and nothing else's; `until` bounds them in time.
    let user_ref = alice["user_ref"].as_str().unwrap();
    let (s, logs) =
        t.admin(Method::GET, &format!("{c}/logs?project_id={}&user_ref={user_ref}", t.creds.project_id), None).await;
    assert_eq!(s, StatusCode::OK, "{logs}");
    let entries = logs["logs"].as_array().unwrap();
    assert!(entries.len() >= 2 && entries.iter().all(|l| l["user_ref"] == user_ref), "{logs}");
    // Log ids carry the wall-clock time they were written at (this test's
    // manual clock drives everything else).
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (_, none) = t.admin(Method::GET, &format!("{c}/logs?until={}", wall - 3600), None).await;
    assert_eq!(none["logs"].as_array().unwrap().len(), 0);
    let (_, all) = t.admin(Method::GET, &format!("{c}/logs?until={}", wall + 60), None).await;
    assert!(all["logs"].as_array().unwrap().len() >= 3);
    assert_eq!(t.admin(Method::GET, &format!("{c}/logs?user_ref={user_ref}"), None).await.0, StatusCode::BAD_REQUEST);

    // Under another client: 404.
    let (_, other) = t.admin(Method::POST, "/v1/clients", Some(json!({ "email": "other@acme.example" }))).await;
    let elsewhere = format!("/v1/clients/{}/projects/{}/end-users", other["id"].as_str().unwrap(), t.creds.project_id);
    assert_eq!(t.admin(Method::GET, &elsewhere, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_rotated_secret_key_overlaps_with_the_old_one_then_replaces_it() {
    use reqwest::Method;
    let t = spawn_app().await;
    let (_, clients) = t.admin(Method::GET, "/v1/clients", None).await;
    let p = format!("/v1/clients/{}/projects/{}", clients["clients"][0]["id"].as_str().unwrap(), t.creds.project_id);
    let old = t.secret();
    let pk = t.public_key();
    let t = &t;
    let call = |sk: SecretKey, user: &'static str| {
        let plain = json!({ "user_id": user, "to": "u@example.com", "iat": t.now() }).to_string();
        let data = payload::seal(&sk, &t.public_key(), plain.as_bytes());
        let body = json!({ "public_key": t.public_key().as_str(), "encrypted_data": data }).to_string();
        async move { t.post_raw("/otp/generate", body, Some("application/json")).await.status }
    };
    let (s, rotated) =
        t.admin(Method::POST, &format!("{p}/rotate-secret-key"), Some(json!({ "overlap_seconds": 3600 }))).await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["previous_key_valid_until"], json!(START + 3600));
    let new = SecretKey::from_base64(rotated["secret_key"].as_str().unwrap()).unwrap();
    assert_eq!(call(new.clone(), "a").await, StatusCode::ACCEPTED, "the new key works at once");
    assert_eq!(call(old.clone(), "b").await, StatusCode::ACCEPTED, "the old one during the overlap");
    // A template request opened with the old key is answered under it.
    let data = payload::seal(
        &old,
        &pk,
        json!({ "user_id": "c", "to": "c@example.com", "iat": t.now(), "template_request": true })
            .to_string()
            .as_bytes(),
    );
    let r = t
        .post_raw(
            "/otp/generate",
            json!({ "public_key": pk.as_str(), "encrypted_data": data }).to_string(),
            Some("application/json"),
        )
        .await;
    assert!(payload::open(&old, &pk, r.body["encrypted_data"].as_str().unwrap()).is_ok(), "{}", r.body);
    t.clock.advance(3600);
    assert_eq!(call(old.clone(), "d").await, StatusCode::UNAUTHORIZED, "the overlap is over");
    // A leaked old key is cut off at once, the new one stays.
    let (_, third) =
        t.admin(Method::POST, &format!("{p}/rotate-secret-key"), Some(json!({ "overlap_seconds": 3600 }))).await;
    let newer = SecretKey::from_base64(third["secret_key"].as_str().unwrap()).unwrap();
    assert_eq!(call(new.clone(), "g").await, StatusCode::ACCEPTED, "in its overlap");
    let (s, ended) = t.admin(Method::DELETE, &format!("{p}/previous-secret-key"), None).await;
    assert_eq!((s, &ended["previous_key_valid_until"]), (StatusCode::OK, &Value::Null));
    assert_eq!(call(new.clone(), "h").await, StatusCode::UNAUTHORIZED, "revoked");
    assert_eq!(call(newer.clone(), "i").await, StatusCode::ACCEPTED);
    let new = newer;
    assert_eq!(call(new.clone(), "e").await, StatusCode::ACCEPTED);
    // Without an overlap the old key stops at once; 7 days at most.
    let (_, again) =
        t.admin(Method::POST, &format!("{p}/rotate-secret-key"), Some(json!({ "overlap_seconds": 0 }))).await;
    assert_eq!(again["previous_key_valid_until"], Value::Null);
    assert_eq!(call(new, "f").await, StatusCode::UNAUTHORIZED);
    let (s, _) =
        t.admin(Method::POST, &format!("{p}/rotate-secret-key"), Some(json!({ "overlap_seconds": 604_801 }))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // The webhook secret: none to rotate yet, then a new one each time.
    assert_eq!(t.admin(Method::POST, &format!("{p}/rotate-webhook-secret"), None).await.0, StatusCode::CONFLICT);
    let (_, hooked) =
        t.admin(Method::PATCH, &p, Some(json!({ "webhook_url": "https://hooks.acme.example/otp" }))).await;
    let (s, fresh) = t.admin(Method::POST, &format!("{p}/rotate-webhook-secret"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(fresh["webhook_secret"], hooked["webhook_secret"]);
}
