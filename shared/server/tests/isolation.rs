//! Tenant isolation, route by route: every route of the OpenAPI document
//! that names a client is called with client A's API token and with A's
//! signed-in session on client B's records. Every answer is 404 (another
//! client's ids are not confirmed) or, on the admin's routes, 403, and B's
//! records are the same afterwards, compared through the store.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use secure2fa_core::ids::{ClientId, ProjectId};
use secure2fa_core::model::LogFilter;
use serde_json::{Value, json};

/// B's records as the store holds them, for a before/after comparison.
async fn dump(t: &TestApp, b: ClientId, project: ProjectId) -> String {
    let s = &t.app.store;
    use secure2fa_core::ports::{
        ChannelStore, ClientStore, LogStore, ProjectStore, TemplateStore, TokenStore, VerificationStore,
    };
    let logs = s.list_logs(b, &LogFilter { limit: 500, ..Default::default() }).await.unwrap();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        s.client(b).await.unwrap(),
        s.list_channels(b).await.unwrap(),
        s.list_templates(b).await.unwrap(),
        s.list_projects(b).await.unwrap(),
        s.list_tokens(b).await.unwrap(),
        s.list_verifications(project, 100).await.unwrap(),
        logs.entries,
    )
}

/// A valid body for each route that takes one, so that a refusal comes from
/// the ownership check and not from the body.
fn body_for(method: &Method, path: &str, b: &Value) -> Option<Value> {
    let tail = path.rsplit('/').next().unwrap();
    match (method.as_str(), tail) {
        ("POST", "channels") => Some(json!({ "title": "X", "method": "email", "provider": "outbox" })),
        ("PATCH", "{channel_id}") => Some(json!({ "title": "X" })),
        ("POST", "test") => Some(json!({ "to": "x@example.com" })),
        ("POST", "templates") => Some(
            json!({ "title": "X", "default_lang": "en", "versions": { "en": { "subject": "S", "body": "{{ OTP_CODE }}" } } }),
        ),
        ("PATCH", "{template_id}") => Some(json!({ "title": "X" })),
        ("PUT", "{lang}") => Some(json!({ "subject": "S", "body": "{{ OTP_CODE }}" })),
        ("POST", "projects") => {
            Some(json!({ "title": "X", "channel_id": b["channel_id"], "template_id": b["template_id"] }))
        }
        ("PATCH", "{project_id}") => Some(json!({ "title": "X" })),
        ("POST", "tokens") => Some(json!({ "name": "x" })),
        ("POST", "rotate-secret-key") => Some(json!({ "overlap_seconds": 0 })),
        ("POST", "clients") => Some(json!({ "email": "intruder@example.com" })),
        _ => None,
    }
}

#[tokio::test]
async fn every_route_refuses_another_clients_records_and_changes_nothing() {
    let t = spawn_app().await;
    // A: a signed-in session and an API token.
    let session = t.signed_in("a@acme.example").await;
    let me = t.call(Method::GET, "/v1/account", Some(&session), None).await.body;
    let a = format!("/v1/clients/{}", me["id"].as_str().unwrap());
    let token = t.call(Method::POST, &format!("{a}/tokens"), Some(&session), Some(json!({ "name": "a" }))).await;
    let token = token.body["token"].as_str().unwrap().to_owned();

    // B: every kind of record, an end user and logs included (the demo client is the admin).
    let bearer = |m: Method, path: String, body: Option<Value>| {
        let mut req = t.http.request(m, format!("{}{path}", t.base)).bearer_auth(&t.creds.operator_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (_, client_b) = bearer(Method::POST, "/v1/clients".into(), Some(json!({ "email": "b@acme.example" }))).await;
    let bid = client_b["id"].as_str().unwrap().to_owned();
    let b = format!("/v1/clients/{bid}");
    let (_, ch) =
        bearer(Method::POST, format!("{b}/channels"), body_for(&Method::POST, "/channels", &Value::Null)).await;
    let (_, tpl) =
        bearer(Method::POST, format!("{b}/templates"), body_for(&Method::POST, "/templates", &Value::Null)).await;
    let ids = json!({ "channel_id": ch["id"], "template_id": tpl["id"] });
    let (_, prj) = bearer(Method::POST, format!("{b}/projects"), body_for(&Method::POST, "/projects", &ids)).await;
    let (s, tok) = bearer(Method::POST, format!("{b}/tokens"), Some(json!({ "name": "b" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{tok}");
    let (pk, sk) = (
        secure2fa_core::types::PublicKey::parse(prj["public_key"].as_str().unwrap()).unwrap(),
        secure2fa_core::types::SecretKey::from_base64(prj["secret_key"].as_str().unwrap()).unwrap(),
    );
    let plain = json!({ "user_id": "b-user", "to": "bu@example.com", "iat": t.now() }).to_string();
    let data = secure2fa_core::crypto::payload::seal(&sk, &pk, plain.as_bytes());
    let generated = t
        .post_raw(
            "/otp/generate",
            json!({ "public_key": pk.as_str(), "encrypted_data": data }).to_string(),
            Some("application/json"),
        )
        .await;
    assert_eq!(generated.status, StatusCode::ACCEPTED);
    t.app.process_pending_jobs().await.unwrap();
    let project: ProjectId = prj["id"].as_str().unwrap().parse().unwrap();
    let b_id: ClientId = bid.parse().unwrap();
    let before = dump(&t, b_id, project).await;

    let substitute = |path: &str| {
        path.replace("{client_id}", &bid)
            .replace("{channel_id}", ch["id"].as_str().unwrap())
            .replace("{template_id}", tpl["id"].as_str().unwrap())
            .replace("{project_id}", prj["id"].as_str().unwrap())
            .replace("{token_id}", tok["id"].as_str().unwrap())
            .replace("{lang}", "en")
            .replace("{queue}", "webhook")
    };
    let doc: Value = serde_json::from_str(secure2fa_http::OPENAPI_JSON).unwrap();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        // Not a client's records: the OTP API (the project's keys), the
        // providers' callbacks, the caller's own account, public documents.
        if !(path.starts_with("/v1/clients") || path.starts_with("/v1/admin")) {
            continue;
        }
        let expected = if path == "/v1/clients"
            || path.starts_with("/v1/admin")
            || path.ends_with("/disable")
            || path.ends_with("/enable")
        {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::NOT_FOUND
        };
        for method in ops.as_object().unwrap().keys() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            if !matches!(method, Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
                continue;
            }
            let url = substitute(path);
            let body = body_for(&method, path, &ids);
            for (how, reply) in [
                ("session", t.call(method.clone(), &url, Some(&session), body.clone()).await),
                ("token", {
                    let mut req = t.http.request(method.clone(), format!("{}{url}", t.base)).bearer_auth(&token);
                    if let Some(b) = &body {
                        req = req.json(b);
                    }
                    let resp = req.send().await.unwrap();
                    let status = resp.status();
                    Answer { status, headers: resp.headers().clone(), body: resp.json().await.unwrap_or(Value::Null) }
                }),
            ] {
                assert_eq!(reply.status, expected, "{method} {path} with A's {how}: {}", reply.body);
                checked += 1;
            }
        }
    }
    assert!(checked >= 50, "only {checked} calls");
    assert_eq!(dump(&t, b_id, project).await, before, "B's records changed");
    // And the records are there: the refusals were about ownership.
    assert_eq!(
        bearer(Method::GET, format!("{b}/projects/{}", prj["id"].as_str().unwrap()), None).await.0,
        StatusCode::OK
    );
}
