//! The tenant isolation table, shared by the local server (SQLite) and the
//! Lambda router (DynamoDB): every route of the OpenAPI document that names
//! a client, called with client A's credentials on client B's records.

use std::future::Future;

use secure2fa_core::ids::{ClientId, ProjectId};
use secure2fa_core::model::LogFilter;
use secure2fa_core::ports::Store;
use serde_json::{Value, json};

/// Client B's records, by id.
pub struct Others {
    pub client_id: String,
    pub channel_id: String,
    pub template_id: String,
    pub project_id: String,
    pub token_id: String,
}

/// How a request of A's authenticates.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// `Cookie: __Host-s2fa_session=...` (a signed-in session).
    Session(&'a str),
    /// `Authorization: Bearer ...` (an API token).
    Token(&'a str),
}

impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Session(_) => "session",
            Self::Token(_) => "API token",
        })
    }
}

/// A valid body for each route that takes one, so that a refusal comes from
/// the ownership check and not from the body.
pub fn body_for(method: &str, path: &str, others: &Others) -> Option<Value> {
    let tail = path.rsplit('/').next().unwrap_or_default();
    match (method, tail) {
        ("POST", "channels") => Some(json!({ "title": "X", "method": "email", "provider": "outbox" })),
        ("PATCH", "{channel_id}") => Some(json!({ "title": "X" })),
        ("POST", "test") => Some(json!({ "to": "x@example.com" })),
        ("POST", "templates") => Some(json!({ "title": "X", "default_lang": "en",
            "versions": { "en": { "subject": "S", "body": "{{ OTP_CODE }}" } } })),
        ("PATCH", "{template_id}") => Some(json!({ "title": "X" })),
        ("PUT", "{lang}") => Some(json!({ "subject": "S", "body": "{{ OTP_CODE }}" })),
        ("POST", "projects") => {
            Some(json!({ "title": "X", "channel_id": others.channel_id, "template_id": others.template_id }))
        }
        ("PATCH", "{project_id}") => Some(json!({ "title": "X" })),
        ("POST", "tokens") => Some(json!({ "name": "x" })),
        ("POST", "rotate-secret-key") => Some(json!({ "overlap_seconds": 0 })),
        ("POST", "clients") => Some(json!({ "email": "intruder@example.com" })),
        _ => None,
    }
}

/// What a non-admin client gets on another client's route: 403 on the
/// admin's routes, 404 elsewhere; `None` for routes that name no client
/// (the OTP API, providers' callbacks, the caller's own account).
pub fn expected_refusal(path: &str) -> Option<u16> {
    if !(path.starts_with("/v1/clients") || path.starts_with("/v1/admin")) {
        return None;
    }
    let admin_only = path == "/v1/clients"
        || path.starts_with("/v1/admin")
        || path.ends_with("/disable")
        || path.ends_with("/enable");
    Some(if admin_only { 403 } else { 404 })
}

/// Calls every client route of `openapi` on B's records with each of A's
/// `credentials` through `call(method, url, body, credential)`, asserting
/// the refusal: first under B's client path, then under A's own
/// (`own_client`) with B's record ids (the record's owner is checked, not
/// only the path's). Returns how many calls were made.
pub async fn every_route_refuses<'a, F, Fut>(
    openapi: &str,
    others: &Others,
    own_client: &str,
    credentials: &[Credential<'a>],
    call: F,
) -> usize
where
    F: Fn(&'static str, String, Option<Value>, Credential<'a>) -> Fut,
    Fut: Future<Output = (u16, Value)>,
{
    let doc: Value = serde_json::from_str(openapi).expect("the OpenAPI document is JSON");
    let mut calls = 0;
    let record_ids = ["{channel_id}", "{template_id}", "{project_id}", "{token_id}"];
    let passes = [(others.client_id.as_str(), false), (own_client, true)];
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        let Some(expected) = expected_refusal(path) else { continue };
        for (client_in_path, records_only) in passes {
            if records_only && !record_ids.iter().any(|id| path.contains(id)) {
                continue;
            }
            calls += every_method(path, ops, expected, client_in_path, others, credentials, &call).await;
        }
    }
    calls
}

async fn every_method<'a, F, Fut>(
    path: &str,
    ops: &Value,
    expected: u16,
    client_in_path: &str,
    others: &Others,
    credentials: &[Credential<'a>],
    call: &F,
) -> usize
where
    F: Fn(&'static str, String, Option<Value>, Credential<'a>) -> Fut,
    Fut: Future<Output = (u16, Value)>,
{
    let mut calls = 0;
    {
        let url = path
            .replace("{client_id}", client_in_path)
            .replace("{channel_id}", &others.channel_id)
            .replace("{template_id}", &others.template_id)
            .replace("{project_id}", &others.project_id)
            .replace("{token_id}", &others.token_id)
            .replace("{lang}", "en")
            .replace("{queue}", "webhook");
        for method in ops.as_object().expect("operations").keys() {
            let method: &'static str = match method.as_str() {
                "get" => "GET",
                "post" => "POST",
                "put" => "PUT",
                "patch" => "PATCH",
                "delete" => "DELETE",
                _ => continue,
            };
            for credential in credentials {
                // Under A's own path an API token may not manage tokens at
                // all (403 whatever the id): that tells nothing of B's.
                let own_tokens = client_in_path != others.client_id
                    && path.contains("/tokens")
                    && matches!(credential, Credential::Token(_));
                let expected = if own_tokens { 403 } else { expected };
                let (status, body) = call(method, url.clone(), body_for(method, path, others), *credential).await;
                assert_eq!(status, expected, "{method} {url} with A's {credential:?}: {body}");
                calls += 1;
            }
        }
    }
    calls
}

/// B's records as the store holds them, serialized whole (sealed values as
/// their bytes), for a before/after comparison.
pub async fn dump(store: &dyn Store, client: ClientId, project: ProjectId) -> Value {
    let logs = store.list_logs(client, &LogFilter { limit: 500, ..Default::default() }).await.unwrap();
    json!({
        "client": store.client(client).await.unwrap(),
        "channels": store.list_channels(client).await.unwrap(),
        "templates": store.list_templates(client).await.unwrap(),
        "projects": store.list_projects(client).await.unwrap(),
        "tokens": store.list_tokens(client).await.unwrap(),
        "end_users": store.list_verifications(project, 100).await.unwrap(),
        "logs": logs.entries,
    })
}
