//! Tenant isolation on DynamoDB (moto), through the management function's
//! router as its binary assembles it: the same table as the local server's
//! (`secure2fa_contract::isolation`), client A's API token and signed-in
//! session on client B's records, every client route of the OpenAPI document.

mod support;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use secure2fa_contract::isolation::{Credential, Others, body_for, dump, every_route_refuses};
use secure2fa_core::accounts::{TotpSecret, step_at};
use secure2fa_core::ids::{ClientId, ProjectId};
use secure2fa_core::manage::{NewProject, Principal};
use secure2fa_core::model::{ChannelMethod, ProjectSettings, ProviderKind, TemplateFormat, TemplateVersion};
use secure2fa_core::types::{Email, Lang};
use serde_json::{Value, json};
use support::AwsEnv;
use tower::ServiceExt;

async fn send(
    router: &Router,
    method: &str,
    url: &str,
    body: Option<Value>,
    headers: &[(&str, String)],
) -> (u16, Value, Option<String>) {
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.strip_prefix("__Host-s2fa_session="))
        .map(str::to_owned);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), cookie)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_another_clients_records_and_changes_nothing_on_dynamodb() {
    let env = AwsEnv::new().await;
    let (manage, accounts, token) =
        secure2fa_lambda::wiring::management(&env.clients, &env.api, &env.cfg).await.unwrap();
    let router = secure2fa_lambda::http::prepare(
        secure2fa_http::base_router()
            .merge(secure2fa_http::management_router(manage.clone(), accounts.clone(), token))
            .merge(secure2fa_http::account_router(accounts.clone())),
    );
    let op = Principal::Operator;

    // The first client the operator registers is the admin: not A, not B.
    let admin = manage.create_client(&op, &Email::parse("admin@acme.example").unwrap()).await.unwrap();
    assert!(admin.is_admin);
    // A: registered by the operator, given a password and an authenticator,
    // signed in through the router; then an API token of its own.
    let a = manage.create_client(&op, &Email::parse("a@acme.example").unwrap()).await.unwrap();
    let (password, totp) = accounts.provision_login(&a).await.unwrap();
    let login = json!({ "email": "a@acme.example", "password": *password });
    let (s, _, partial) = send(&router, "POST", "/v1/account/login", Some(login), &[]).await;
    assert_eq!(s, 200);
    let code = TotpSecret::from_base32(&totp).unwrap().code_at_step(step_at(accounts.clock.now()));
    let cookie = [("cookie", format!("__Host-s2fa_session={}", partial.unwrap()))];
    let (s, body, session) =
        send(&router, "POST", "/v1/account/login/second-factor", Some(json!({ "code": code })), &cookie).await;
    assert_eq!(s, 200, "{body}");
    let session = session.unwrap();
    let cookie = [("cookie", format!("__Host-s2fa_session={session}"))];
    let (s, tok, _) =
        send(&router, "POST", &format!("/v1/clients/{}/tokens", a.id), Some(json!({ "name": "a" })), &cookie).await;
    assert_eq!(s, 201, "{tok}");
    let api_token = tok["token"].as_str().unwrap().to_owned();

    // B: a channel, a template, a project and an API token.
    let b = manage.create_client(&op, &Email::parse("b@acme.example").unwrap()).await.unwrap();
    let channel =
        manage.create_channel(&b, "Mail", ChannelMethod::Email, ProviderKind::Outbox, &json!({})).await.unwrap();
    let en = Lang::parse("en").unwrap();
    let versions = [(en.clone(), TemplateVersion { subject: "S".into(), body: "{{ OTP_CODE }}".into() })].into();
    let template = manage.create_template(b.id, "T", en, TemplateFormat::Text, versions).await.unwrap();
    let new = NewProject {
        title: "B".into(),
        channel_id: channel.id,
        template_id: template.id,
        settings: ProjectSettings::default(),
        webhook_url: None,
        fallback: None,
    };
    let (project, _) = manage.create_project(b.id, new).await.unwrap();
    let (b_token, _) = manage.create_token(&op, b.id, "b").await.unwrap();
    let others = Others {
        client_id: b.id.to_string(),
        channel_id: channel.id.to_string(),
        template_id: template.id.to_string(),
        project_id: project.id.to_string(),
        token_id: b_token.id.to_string(),
    };
    assert!(body_for("POST", "/v1/clients/{client_id}/projects", &others).is_some());
    let (b_id, p_id): (ClientId, ProjectId) = (b.id, project.id);
    let before = dump(env.api.core.store.as_ref(), b_id, p_id).await;

    let credentials = [Credential::Session(&session), Credential::Token(&api_token)];
    let own = a.id.to_string();
    let calls =
        every_route_refuses(secure2fa_http::openapi_json(), &others, &own, &credentials, |method, url, body, cred| {
            let header = match cred {
                Credential::Session(c) => ("cookie", format!("__Host-s2fa_session={c}")),
                Credential::Token(t) => ("authorization", format!("Bearer {t}")),
            };
            let router = router.clone();
            async move {
                let (status, body, _) = send(&router, method, &url, body, &[header]).await;
                (status, body)
            }
        })
        .await;
    assert!(calls >= 80, "only {calls} calls");
    assert_eq!(dump(env.api.core.store.as_ref(), b_id, p_id).await, before, "B's records changed");
}
