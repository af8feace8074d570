//! The account flow over HTTP on the local server, as a newcomer runs it
//! with curl: sign up, confirm from the outbox, set a password, enrol TOTP,
//! sign in, create an API token and records with the session, and get
//! nothing of another client's.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use secure2fa_core::accounts::TotpSecret;
use serde_json::json;
#[tokio::test]
async fn a_newcomer_signs_up_enrols_and_manages_only_their_own_records() {
    let t = spawn_app().await;
    let me = "dev@acme.example";
    let a = t.call(Method::POST, "/v1/account/signup", None, Some(json!({ "email": me }))).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let token = t.mailed_token(me).await;
    let weak = t
        .call(Method::POST, "/v1/account/confirm", None, Some(json!({ "token": token, "password": "password1234" })))
        .await;
    assert_eq!((weak.status, weak.body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    let ok = t.call(Method::POST, "/v1/account/confirm", None, Some(json!({ "token": token, "password": PW }))).await;
    assert_eq!(ok.status, StatusCode::OK, "a refused password does not burn the link: {}", ok.body);

    let login = t.call(Method::POST, "/v1/account/login", None, Some(json!({ "email": me, "password": PW }))).await;
    assert_eq!((login.status, &login.body["next"]), (StatusCode::OK, &json!("enrol_totp")));
    let enrol = login.cookie();
    assert_eq!(t.call(Method::GET, "/v1/account", Some(&enrol), None).await.status, StatusCode::FORBIDDEN);
    let start = t.call(Method::POST, "/v1/account/totp", Some(&enrol), None).await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    assert_eq!(start.headers["cache-control"], "no-store");
    assert!(start.body["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/Secure-2FA:dev%40acme.example?"));
    assert!(start.body["qr_svg"].as_str().unwrap().starts_with("<?xml"));
    let secret = TotpSecret::from_base32(start.body["secret"].as_str().unwrap()).unwrap();
    let done =
        t.call(Method::POST, "/v1/account/totp/confirm", Some(&enrol), Some(json!({ "code": t.totp(&secret) }))).await;
    assert_eq!((done.status, &done.body["next"]), (StatusCode::OK, &json!("signed_in")), "{}", done.body);
    assert_eq!(done.body["backup_codes"].as_array().unwrap().len(), 10);
    let session = done.cookie();
    assert_ne!(session, enrol, "the cookie value changes with the privilege");
    assert_eq!(t.call(Method::GET, "/v1/account", Some(&enrol), None).await.status, StatusCode::UNAUTHORIZED);

    let account = t.call(Method::GET, "/v1/account", Some(&session), None).await;
    assert_eq!((account.body["email"].as_str(), account.body["is_admin"].as_bool()), (Some(me), Some(false)));
    let c = format!("/v1/clients/{}", account.body["id"].as_str().unwrap());

    // The session manages the client's own records, API tokens included.
    let tok = t.call(Method::POST, &format!("{c}/tokens"), Some(&session), Some(json!({ "name": "ci" }))).await;
    assert_eq!(tok.status, StatusCode::CREATED, "{}", tok.body);
    let channel = json!({ "title": "Mail", "method": "email", "provider": "outbox" });
    let made = t.call(Method::POST, &format!("{c}/channels"), Some(&session), Some(channel.clone())).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    // A page of another site cannot use the cookie.
    let forged = t
        .call_from(
            Method::POST,
            &format!("{c}/channels"),
            Some(&session),
            Some(channel.clone()),
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let own_origin = t.base.clone();
    let same =
        t.call_from(Method::POST, &format!("{c}/channels"), Some(&session), Some(channel), Some(&own_origin)).await;
    assert_eq!(same.status, StatusCode::CREATED);

    // Nothing of another client's: the demo client's ids answer 404, the
    // clients list is the admin's.
    let demo = t.app.manage.store.list_clients().await.unwrap().into_iter().find(|c| c.is_admin).unwrap();
    for path in ["channels", "templates", "projects", "logs", "tokens"] {
        let other = t.call(Method::GET, &format!("/v1/clients/{}/{path}", demo.id), Some(&session), None).await;
        assert_eq!(other.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(t.call(Method::GET, "/v1/clients", Some(&session), None).await.status, StatusCode::FORBIDDEN);

    // A second sign-in: password, then TOTP of a later step.
    t.clock.advance(30);
    let login = t.call(Method::POST, "/v1/account/login", None, Some(json!({ "email": me, "password": PW }))).await;
    assert_eq!(login.body["next"], "second_factor");
    let partial = login.cookie();
    assert_eq!(t.call(Method::GET, &format!("{c}/channels"), Some(&partial), None).await.status, StatusCode::FORBIDDEN);
    let wrong = t
        .call(Method::POST, "/v1/account/login/second-factor", Some(&partial), Some(json!({ "code": "000000" })))
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let second = t
        .call(Method::POST, "/v1/account/login/second-factor", Some(&partial), Some(json!({ "code": t.totp(&secret) })))
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let other_session = second.cookie();

    // A session older than a quarter of an hour may not mint API tokens
    // (a stolen cookie must not outlive itself), but still manages records.
    t.clock.advance(16 * 60);
    let stale =
        t.call(Method::POST, &format!("{c}/tokens"), Some(&other_session), Some(json!({ "name": "late" }))).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    assert_eq!(t.call(Method::GET, &format!("{c}/channels"), Some(&other_session), None).await.status, StatusCode::OK);
    // Account requests with a body must be JSON (no cross-site form posts),
    // and a cookie request from another origin is refused there too.
    let form = t
        .http
        .post(format!("{}/v1/account/login", t.base))
        .header("content-type", "text/plain")
        .body(json!({ "email": me, "password": PW }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let forged =
        t.call_from(Method::POST, "/v1/account/logout-everywhere", Some(&other_session), None, Some("null")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Log out everywhere: both sessions end.
    let out = t.call(Method::POST, "/v1/account/logout-everywhere", Some(&other_session), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(t.call(Method::GET, "/v1/account", Some(&session), None).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_demo_client_signs_in_with_dev_credentials_and_sees_all_clients() {
    let t = spawn_app().await;
    let login = t.creds.login.clone().expect("dev-credentials.json has a sign-in");
    let body = json!({ "email": login.email, "password": login.password });
    let first = t.call(Method::POST, "/v1/account/login", None, Some(body)).await;
    assert_eq!((first.status, &first.body["next"]), (StatusCode::OK, &json!("second_factor")), "{}", first.body);
    let secret = TotpSecret::from_base32(&login.totp_secret).unwrap();
    let code = json!({ "code": t.totp(&secret) });
    let second = t.call(Method::POST, "/v1/account/login/second-factor", Some(&first.cookie()), Some(code)).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let admin = second.cookie();
    let clients = t.call(Method::GET, "/v1/clients", Some(&admin), None).await;
    assert_eq!(clients.status, StatusCode::OK, "the demo client is the admin");
    let queues = t.call(Method::GET, "/v1/admin/queues", Some(&admin), None).await;
    assert_eq!(queues.body["queues"].as_array().map(Vec::len), Some(2), "{}", queues.body);
    let other = t.signed_in("dev@acme.example").await;
    assert_eq!(t.call(Method::GET, "/v1/admin/queues", Some(&other), None).await.status, StatusCode::FORBIDDEN);
    let redrive = t.call(Method::POST, "/v1/admin/queues/webhook/redrive", Some(&other), None).await;
    assert_eq!(redrive.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn repeated_wrong_passwords_are_throttled_with_retry_after() {
    let t = spawn_app().await;
    let login = t.creds.login.clone().unwrap();
    for _ in 0..5 {
        let wrong = json!({ "email": login.email, "password": "not the password" });
        let a = t.call(Method::POST, "/v1/account/login", None, Some(wrong)).await;
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("bad_credentials")));
    }
    let right = json!({ "email": login.email, "password": login.password });
    let a = t.call(Method::POST, "/v1/account/login", None, Some(right)).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u32 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry));
}

#[tokio::test]
async fn a_disabled_client_loses_its_sessions_tokens_and_projects_until_enabled() {
    use secure2fa_core::crypto::payload;
    use secure2fa_core::types::{PublicKey, SecretKey};
    let t = spawn_app().await;
    let session = t.signed_in("dev@acme.example").await;
    let me = t.call(Method::GET, "/v1/account", Some(&session), None).await.body;
    let c = format!("/v1/clients/{}", me["id"].as_str().unwrap());
    let token = t.call(Method::POST, &format!("{c}/tokens"), Some(&session), Some(json!({ "name": "ci" }))).await;
    let token = token.body["token"].as_str().unwrap().to_owned();
    let ch = json!({ "title": "Mail", "method": "email", "provider": "outbox" });
    let ch = t.call(Method::POST, &format!("{c}/channels"), Some(&session), Some(ch)).await.body;
    let tpl = json!({ "title": "T", "default_lang": "en", "versions": { "en": { "subject": "Code", "body": "{{ OTP_CODE }}" } } });
    let tpl = t.call(Method::POST, &format!("{c}/templates"), Some(&session), Some(tpl)).await.body;
    let prj = json!({ "title": "App", "channel_id": ch["id"], "template_id": tpl["id"] });
    let prj = t.call(Method::POST, &format!("{c}/projects"), Some(&session), Some(prj)).await.body;
    let (pk, sk) = (
        PublicKey::parse(prj["public_key"].as_str().unwrap()).unwrap(),
        SecretKey::from_base64(prj["secret_key"].as_str().unwrap()).unwrap(),
    );
    let generate = |user: &str| {
        let plain = json!({ "user_id": user, "to": "u1@example.com", "iat": t.now() }).to_string();
        let body = json!({ "public_key": pk.to_string(), "encrypted_data": payload::seal(&sk, &pk, plain.as_bytes()) });
        t.post_raw("/otp/generate", body.to_string(), Some("application/json"))
    };
    assert_eq!(generate("u1").await.status, StatusCode::ACCEPTED);
    let with_token = |path: String| t.http.get(format!("{}{path}", t.base)).bearer_auth(token.clone()).send();
    assert_eq!(with_token(format!("{c}/channels")).await.unwrap().status(), StatusCode::OK);

    // Only the admin (or the operator) disables, and never the admin.
    let other = t.signed_in("other@acme.example").await;
    assert_eq!(t.call(Method::POST, &format!("{c}/disable"), Some(&other), None).await.status, StatusCode::FORBIDDEN);
    let login = t.creds.login.clone().unwrap();
    let first = t
        .call(
            Method::POST,
            "/v1/account/login",
            None,
            Some(json!({ "email": login.email, "password": login.password })),
        )
        .await;
    let code = json!({ "code": t.totp(&TotpSecret::from_base32(&login.totp_secret).unwrap()) });
    let admin =
        t.call(Method::POST, "/v1/account/login/second-factor", Some(&first.cookie()), Some(code)).await.cookie();
    let admin_id = t.call(Method::GET, "/v1/account", Some(&admin), None).await.body["id"].as_str().unwrap().to_owned();
    let own = t.call(Method::POST, &format!("/v1/clients/{admin_id}/disable"), Some(&admin), None).await;
    assert_eq!(own.status, StatusCode::CONFLICT);
    // Not with the admin's API token: a stolen token must not lock clients out.
    let admin_token = t
        .call(Method::POST, &format!("/v1/clients/{admin_id}/tokens"), Some(&admin), Some(json!({ "name": "ops" })))
        .await;
    let admin_token = admin_token.body["token"].as_str().unwrap().to_owned();
    let by_token = t.http.post(format!("{}{c}/disable", t.base)).bearer_auth(&admin_token).send().await.unwrap();
    assert_eq!(by_token.status(), StatusCode::FORBIDDEN);
    let off = t.call(Method::POST, &format!("{c}/disable"), Some(&admin), None).await;
    assert_eq!((off.status, &off.body["disabled"]), (StatusCode::OK, &json!(true)), "{}", off.body);

    assert_eq!(t.call(Method::GET, "/v1/account", Some(&session), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(with_token(format!("{c}/channels")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let refused = generate("u2").await;
    assert_eq!((refused.status, refused.error_code()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let relogin = t
        .call(Method::POST, "/v1/account/login", None, Some(json!({ "email": "dev@acme.example", "password": PW })))
        .await;
    assert_eq!(relogin.status, StatusCode::FORBIDDEN, "the right password of a disabled account opens nothing");

    let on = t.call(Method::POST, &format!("{c}/enable"), Some(&admin), None).await;
    assert_eq!(on.status, StatusCode::OK);
    assert_eq!(generate("u3").await.status, StatusCode::ACCEPTED);
    assert_eq!(with_token(format!("{c}/channels")).await.unwrap().status(), StatusCode::OK);
}

/// A project's keys are new secrets: a session older than a quarter of an
/// hour (a stolen cookie, say) may not obtain them, by any route; an API
/// token may (automation rotates keys), and so may a fresh sign-in.
#[tokio::test]
async fn an_older_session_cannot_obtain_project_keys_but_a_token_and_a_fresh_session_can() {
    let t = spawn_app().await;
    let session = t.signed_in("keys@acme.example").await;
    let me = t.call(Method::GET, "/v1/account", Some(&session), None).await.body;
    let c = format!("/v1/clients/{}", me["id"].as_str().unwrap());
    let token = t.call(Method::POST, &format!("{c}/tokens"), Some(&session), Some(json!({ "name": "ci" }))).await;
    let token = token.body["token"].as_str().unwrap().to_owned();
    let ch = json!({ "title": "Mail", "method": "email", "provider": "outbox" });
    let ch = t.call(Method::POST, &format!("{c}/channels"), Some(&session), Some(ch)).await.body;
    let tpl = json!({ "title": "T", "default_lang": "en", "versions": { "en": { "subject": "Code", "body": "{{ OTP_CODE }}" } } });
    let tpl = t.call(Method::POST, &format!("{c}/templates"), Some(&session), Some(tpl)).await.body;
    let new_project = json!({ "title": "App", "channel_id": ch["id"], "template_id": tpl["id"] });
    let prj = t.call(Method::POST, &format!("{c}/projects"), Some(&session), Some(new_project.clone())).await;
    assert_eq!(prj.status, StatusCode::CREATED, "a fresh session creates a project");
    let p = format!("{c}/projects/{}", prj.body["id"].as_str().unwrap());
    let channel = format!("{c}/channels/{}", ch["id"].as_str().unwrap());

    t.clock.advance(16 * 60);
    let key_routes = [
        (Method::POST, format!("{c}/projects"), Some(new_project.clone())),
        (Method::POST, format!("{p}/rotate-secret-key"), None),
        (Method::POST, format!("{p}/rotate-webhook-secret"), None),
        (Method::POST, format!("{channel}/receipts-secret"), None),
        (Method::PATCH, p.clone(), Some(json!({ "webhook_url": "https://hooks.example/otp" }))),
    ];
    for (method, path, body) in key_routes.clone() {
        let stale = t.call(method.clone(), &path, Some(&session), body).await;
        assert_eq!(stale.status, StatusCode::FORBIDDEN, "{method} {path}: {}", stale.body);
    }
    // Nothing was created or changed; the session still edits records.
    let list = t.call(Method::GET, &format!("{c}/projects"), Some(&session), None).await.body;
    assert_eq!(list["projects"].as_array().unwrap().len(), 1);
    let renamed = t.call(Method::PATCH, &p, Some(&session), Some(json!({ "title": "Renamed" }))).await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.body["has_webhook"], false);

    // The API token obtains keys.
    let by_token = |method: Method, path: String, body: Option<serde_json::Value>| {
        let mut req = t.http.request(method, format!("{}{path}", t.base)).bearer_auth(token.clone());
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let rotated = by_token(Method::POST, format!("{p}/rotate-secret-key"), None).await.unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let created = by_token(Method::POST, format!("{c}/projects"), Some(new_project)).await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
}
