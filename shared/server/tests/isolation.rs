//! Tenant isolation on the local server (SQLite), route by route: every
//! route of the OpenAPI document that names a client is called with client
//! A's API token and with A's signed-in session on client B's records
//! (`secure2fa_contract::isolation`). Every answer is 404 (another client's
//! ids are not confirmed) or, on the admin's routes, 403, and B's records
//! are the same afterwards, compared through the store.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use secure2fa_contract::isolation::{Credential, Others, body_for, dump, every_route_refuses};
use secure2fa_core::ids::{ClientId, ProjectId};
use serde_json::{Value, json};

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
    let operator = |m: Method, path: String, body: Option<Value>| {
        let mut req = t.http.request(m, format!("{}{path}", t.base)).bearer_auth(&t.creds.operator_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (_, client_b) = operator(Method::POST, "/v1/clients".into(), Some(json!({ "email": "b@acme.example" }))).await;
    let b = format!("/v1/clients/{}", client_b["id"].as_str().unwrap());
    let mut others = Others {
        client_id: client_b["id"].as_str().unwrap().into(),
        channel_id: String::new(),
        template_id: String::new(),
        project_id: String::new(),
        token_id: String::new(),
    };
    let (_, ch) = operator(Method::POST, format!("{b}/channels"), body_for("POST", "/channels", &others)).await;
    let (_, tpl) = operator(Method::POST, format!("{b}/templates"), body_for("POST", "/templates", &others)).await;
    others.channel_id = ch["id"].as_str().unwrap().into();
    others.template_id = tpl["id"].as_str().unwrap().into();
    let (_, prj) = operator(Method::POST, format!("{b}/projects"), body_for("POST", "/projects", &others)).await;
    let (s, tok) = operator(Method::POST, format!("{b}/tokens"), Some(json!({ "name": "b" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{tok}");
    others.project_id = prj["id"].as_str().unwrap().into();
    others.token_id = tok["id"].as_str().unwrap().into();
    let (pk, sk) = (
        secure2fa_core::types::PublicKey::parse(prj["public_key"].as_str().unwrap()).unwrap(),
        secure2fa_core::types::SecretKey::from_base64(prj["secret_key"].as_str().unwrap()).unwrap(),
    );
    let plain = json!({ "user_id": "b-user", "to": "bu@example.com", "iat": t.now() }).to_string();
    let data = secure2fa_core::crypto::payload::seal(&sk, &pk, plain.as_bytes());
    let body = json!({ "public_key": pk.as_str(), "encrypted_data": data }).to_string();
    assert_eq!(t.post_raw("/otp/generate", body, Some("application/json")).await.status, StatusCode::ACCEPTED);
    t.app.process_pending_jobs().await.unwrap();
    let (b_id, project): (ClientId, ProjectId) =
        (others.client_id.parse().unwrap(), others.project_id.parse().unwrap());
    let before = dump(t.app.store.as_ref(), b_id, project).await;

    let credentials = [Credential::Session(&session), Credential::Token(&token)];
    let own = me["id"].as_str().unwrap().to_owned();
    let calls =
        every_route_refuses(secure2fa_http::openapi_json(), &others, &own, &credentials, |method, url, body, cred| {
            let mut req = t.http.request(method.parse().unwrap(), format!("{}{url}", t.base));
            req = match cred {
                Credential::Session(c) => req.header("cookie", format!("__Host-s2fa_session={c}")),
                Credential::Token(tok) => req.bearer_auth(tok),
            };
            if let Some(b) = body {
                req = req.json(&b);
            }
            async move {
                let resp = req.send().await.unwrap();
                (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
            }
        })
        .await;
    assert!(calls >= 80, "only {calls} calls");
    // A's own project cannot be linked to B's channel, template or fallback.
    let (t, session) = (&t, &session);
    let call = |m: Method, path: String, body: Value| async move { t.call(m, &path, Some(session), Some(body)).await };
    let (_, mine) = (
        (),
        call(Method::POST, format!("{a}/channels"), json!({ "title": "A", "method": "email", "provider": "outbox" }))
            .await,
    );
    let tpl_a = json!({ "title": "A", "default_lang": "en", "versions": { "en": { "subject": "S", "body": "{{ OTP_CODE }}" } } });
    let tpl_a = call(Method::POST, format!("{a}/templates"), tpl_a).await;
    let project_a = json!({ "title": "A", "channel_id": mine.body["id"], "template_id": tpl_a.body["id"] });
    let project_a = call(Method::POST, format!("{a}/projects"), project_a).await;
    assert_eq!(project_a.status, StatusCode::CREATED, "{}", project_a.body);
    let pa = format!("{a}/projects/{}", project_a.body["id"].as_str().unwrap());
    for body in [
        json!({ "channel_id": others.channel_id }),
        json!({ "template_id": others.template_id }),
        json!({ "fallback_channel_id": others.channel_id }),
    ] {
        let r = call(Method::PATCH, pa.clone(), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
    }
    let foreign = json!({ "title": "X", "channel_id": others.channel_id, "template_id": others.template_id });
    assert_eq!(call(Method::POST, format!("{a}/projects"), foreign).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(dump(t.app.store.as_ref(), b_id, project).await, before, "B's records changed");
    // The records are there: the refusals were about ownership.
    assert_eq!(operator(Method::GET, format!("{b}/projects/{}", others.project_id), None).await.0, StatusCode::OK);
}
